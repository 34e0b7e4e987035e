# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one safe writer: atomic, all-or-nothing, never through a symlink."""

from __future__ import annotations

import os
import stat

import pytest

from ansible_collections.fleetauth.ssh.plugins.module_utils import _atomic
from ansible_collections.fleetauth.ssh.plugins.module_utils._atomic import (
    AtomicWriteError,
    FileTransaction,
    SymlinkRefused,
    read_bytes,
    write_file,
)


def _leftovers(directory):
    return sorted(name for name in os.listdir(directory) if name.startswith(".fleetauth-"))


def test_write_creates_with_mode(tmp_path):
    target = tmp_path / "new.conf"
    result = write_file(str(target), b"PasswordAuthentication no\n", mode=0o600)
    assert result == {"path": str(target), "backup_file": None, "created": True, "removed": False}
    assert target.read_bytes() == b"PasswordAuthentication no\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert _leftovers(tmp_path) == []


def test_replace_keeps_owner_and_mode_and_makes_backup(tmp_path):
    target = tmp_path / "sshd_config"
    target.write_bytes(b"old\n")
    os.chmod(target, 0o640)
    os.chown(target, 1234, 2345)
    result = write_file(str(target), b"new\n", backup=True)
    st = target.stat()
    assert target.read_bytes() == b"new\n"
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o640, 1234, 2345)
    backup = result["backup_file"]
    with open(backup, "rb") as handle:
        assert handle.read() == b"old\n"
    bst = os.stat(backup)
    assert (stat.S_IMODE(bst.st_mode), bst.st_uid) == (0o640, 1234)
    assert result["created"] is False
    assert _leftovers(tmp_path) == []


def test_replace_is_a_new_inode_so_readers_see_old_or_new(tmp_path):
    target = tmp_path / "f"
    target.write_bytes(b"old")
    inode = target.stat().st_ino
    write_file(str(target), b"new")
    assert target.stat().st_ino != inode


def test_symlinked_target_is_refused_and_untouched(tmp_path):
    secret = tmp_path / "shadow"
    secret.write_bytes(b"root:x:\n")
    link = tmp_path / "authorized_keys"
    link.symlink_to(secret)
    with pytest.raises(SymlinkRefused):
        write_file(str(link), b"pwned\n")
    assert secret.read_bytes() == b"root:x:\n"
    assert os.path.islink(link)
    assert _leftovers(tmp_path) == []


def test_symlinked_directory_component_is_refused(tmp_path):
    real = tmp_path / "etc"
    real.mkdir()
    (real / "passwd").write_bytes(b"keep\n")
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / ".ssh").symlink_to(real)
    with pytest.raises(SymlinkRefused, match=r"\.ssh"):
        write_file(str(tmp_path / "home" / ".ssh" / "passwd"), b"pwned\n")
    with pytest.raises(SymlinkRefused):
        read_bytes(str(tmp_path / "home" / ".ssh" / "passwd"))
    assert (real / "passwd").read_bytes() == b"keep\n"


def test_read_refuses_fifo_and_size(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(AtomicWriteError, match="not a regular file"):
        read_bytes(str(fifo))
    big = tmp_path / "big"
    big.write_bytes(b"x" * 100)
    with pytest.raises(AtomicWriteError, match="over the limit"):
        read_bytes(str(big), max_bytes=10)
    assert read_bytes(str(tmp_path / "missing")) is None
    assert read_bytes(str(tmp_path / "no" / "such" / "dir")) is None


def test_transaction_all_or_nothing(tmp_path, monkeypatch):
    first = tmp_path / "a.conf"
    second = tmp_path / "b.conf"
    first.write_bytes(b"A\n")
    second.write_bytes(b"B\n")
    before = {p: (p.read_bytes(), p.stat().st_ino) for p in (first, second)}
    tx = FileTransaction()
    tx.stage(str(first), b"A2\n")
    tx.stage(str(second), b"B2\n")
    real_rename = os.rename
    calls = []

    def failing_rename(src, dst, **kwargs):
        calls.append(dst)
        if dst == "b.conf":
            raise OSError(28, "No space left on device", dst)
        return real_rename(src, dst, **kwargs)

    monkeypatch.setattr(_atomic.os, "rename", failing_rename)
    with pytest.raises(AtomicWriteError, match="left as it was"):
        tx.commit()
    monkeypatch.setattr(_atomic.os, "rename", real_rename)
    assert "a.conf" in calls
    for path, (data, inode) in before.items():
        assert path.read_bytes() == data
        assert path.stat().st_ino == inode
    assert _leftovers(tmp_path) == []


def test_transaction_rolls_back_new_file(tmp_path, monkeypatch):
    existing = tmp_path / "z.conf"
    existing.write_bytes(b"Z\n")
    tx = FileTransaction()
    tx.stage(str(tmp_path / "00-new.conf"), b"N\n")
    tx.stage(str(existing), b"Z2\n")

    def selinux_fails(_orig, _cand):
        raise AtomicWriteError("selinux says no")

    tx._selinux = selinux_fails  # pylint: disable=protected-access
    with pytest.raises(AtomicWriteError, match="selinux says no"):
        tx.commit()
    assert not (tmp_path / "00-new.conf").exists()
    assert existing.read_bytes() == b"Z\n"
    assert _leftovers(tmp_path) == []


def test_candidate_names_never_match_conf_glob(tmp_path):
    name = _atomic._unique_name("00-fleetauth.conf", "new")  # pylint: disable=protected-access
    assert name.startswith(".")
    assert not name.endswith(".conf")


def test_stage_rejects_relative_and_duplicate(tmp_path):
    tx = FileTransaction()
    with pytest.raises(AtomicWriteError):
        tx.stage("relative/path", b"x")
    tx.stage(str(tmp_path / "x"), b"1")
    with pytest.raises(AtomicWriteError):
        tx.stage(str(tmp_path / "x"), b"2")
    with pytest.raises(TypeError):
        tx.stage(str(tmp_path / "y"), "text")


def test_backup_name_format():
    name = _atomic.backup_name("/etc/ssh/sshd_config", now=0)
    assert name.startswith("/etc/ssh/sshd_config.%d." % os.getpid())
    assert name.endswith("~")


def test_remove_in_transaction_and_rollback(tmp_path, monkeypatch):
    gone = tmp_path / "99-extra.conf"
    gone.write_bytes(b"X\n")
    keep = tmp_path / "a.conf"
    keep.write_bytes(b"A\n")
    link = tmp_path / "dangling.conf"
    link.symlink_to(tmp_path / "nowhere")
    tx = FileTransaction()
    tx.remove(str(gone))
    tx.remove(str(link))
    tx.remove(str(tmp_path / "never-there.conf"))
    tx.remove(str(tmp_path / "no" / "dir" / "x.conf"))
    tx.stage(str(keep), b"A2\n")
    results = tx.commit()
    assert not gone.exists()
    assert not os.path.lexists(link)
    assert keep.read_bytes() == b"A2\n"
    assert [r["removed"] for r in results] == [True, True, False, False, False]
    assert _leftovers(tmp_path) == []

    # a failure after the removal puts the removed file back, same inode
    again = tmp_path / "b.conf"
    again.write_bytes(b"B\n")
    inode = again.stat().st_ino
    tx = FileTransaction()
    tx.remove(str(again))
    tx.stage(str(keep), b"A3\n")
    real_rename = os.rename

    def failing_rename(src, dst, **kwargs):
        if dst == "a.conf":
            raise OSError(5, "Input/output error", dst)
        return real_rename(src, dst, **kwargs)

    monkeypatch.setattr(_atomic.os, "rename", failing_rename)
    with pytest.raises(AtomicWriteError):
        tx.commit()
    monkeypatch.setattr(_atomic.os, "rename", real_rename)
    assert again.read_bytes() == b"B\n"
    assert again.stat().st_ino == inode
    assert keep.read_bytes() == b"A2\n"
    assert _leftovers(tmp_path) == []


def test_remove_refuses_directory(tmp_path):
    (tmp_path / "d").mkdir()
    tx = FileTransaction()
    tx.remove(str(tmp_path / "d"))
    with pytest.raises(AtomicWriteError, match="is a directory"):
        tx.commit()
    assert (tmp_path / "d").is_dir()
