# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Snapshots: take, restore byte-identical, remove newcomers, never follow links."""

from __future__ import annotations

import hashlib
import os
import stat

import pytest

from ansible_collections.fleetauth.ssh.plugins.module_utils import _snapshot as snap


def _tree(tmp_path):
    etc = tmp_path / "etc" / "ssh"
    (etc / "sshd_config.d").mkdir(parents=True)
    (etc / "sshd_config").write_bytes(b"Include /etc/ssh/sshd_config.d/*.conf\r\nUsePAM yes\n")
    (etc / "sshd_config.d" / "50-cloud-init.conf").write_bytes(b"PasswordAuthentication yes\n")
    os.chmod(etc / "sshd_config.d" / "50-cloud-init.conf", 0o600)
    pam = tmp_path / "etc" / "pam.d"
    pam.mkdir()
    (pam / "sshd").write_bytes(b"@include common-auth\n")
    return [str(etc / "sshd_config"), str(etc / "sshd_config.d"), str(pam / "sshd"), str(tmp_path / "etc" / "absent.conf")]


def _digest(paths):
    out = {}
    for root in paths:
        targets = [os.path.join(root, n) for n in sorted(os.listdir(root))] if os.path.isdir(root) else [root]
        for path in targets:
            if os.path.lexists(path):
                st = os.lstat(path)
                data = b"" if stat.S_ISLNK(st.st_mode) else open(path, "rb").read()  # noqa: SIM115
                out[path] = (hashlib.sha256(data).hexdigest(), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)
    return out


def test_round_trip_restores_bytes_modes_and_removes_newcomers(tmp_path):
    paths = _tree(tmp_path)
    store = str(tmp_path / "store")
    before = _digest(paths)
    result = snap.run_snapshot({"store": store, "name": "t", "state": "present", "paths": paths})
    assert result["changed"] is False
    assert stat.S_IMODE(os.stat(store).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(result["snapshot"]).st_mode) == 0o600

    # break things: edit, chmod, add a drop-in, delete the PAM file, create the absent path
    (tmp_path / "etc/ssh/sshd_config").write_bytes(b"AuthenticationMethods publickey,keyboard-interactive\n")
    os.chmod(tmp_path / "etc/ssh/sshd_config.d/50-cloud-init.conf", 0o666)
    (tmp_path / "etc/ssh/sshd_config.d/00-fleetauth.conf").write_bytes(b"PasswordAuthentication no\n")
    (tmp_path / "etc/pam.d/sshd").unlink()
    (tmp_path / "etc/absent.conf").write_bytes(b"x")

    check = snap.run_snapshot({"store": store, "name": "t", "state": "restored"}, check_mode=True)
    assert check["changed"] is True
    assert (tmp_path / "etc/ssh/sshd_config.d/00-fleetauth.conf").exists()

    result = snap.run_snapshot({"store": store, "name": "t", "state": "restored"})
    assert result["changed"] is True
    assert set(result["restored"]) == {
        str(tmp_path / "etc/ssh/sshd_config"),
        str(tmp_path / "etc/ssh/sshd_config.d/50-cloud-init.conf"),
        str(tmp_path / "etc/ssh/sshd_config.d/00-fleetauth.conf"),
        str(tmp_path / "etc/pam.d/sshd"),
        str(tmp_path / "etc/absent.conf"),
    }
    assert _digest(paths) == before
    again = snap.run_snapshot({"store": store, "name": "t", "state": "restored"})
    assert again == {"changed": False, "snapshot": result["snapshot"], "restored": [], "taken": result["taken"]}

    snap.run_snapshot({"store": store, "name": "t", "state": "absent"})
    assert not os.path.exists(result["snapshot"])
    with pytest.raises(snap.SnapshotError, match="no snapshot named"):
        snap.run_snapshot({"store": store, "name": "t", "state": "restored"})
    assert snap.run_snapshot({"store": store, "name": "t", "state": "restored", "missing_ok": True})["restored"] == []


def test_symlinks_recorded_not_followed(tmp_path):
    paths = _tree(tmp_path)
    secret = tmp_path / "shadow"
    secret.write_bytes(b"root:hash\n")
    (tmp_path / "etc/ssh/sshd_config.d/10-link.conf").symlink_to(secret)
    document = snap.take(paths)
    entry = document["paths"][paths[1]]["files"]["10-link.conf"]
    assert entry == {"type": "symlink"}
    assert b"root:hash" not in snap.encode(document)
    # a symlink planted later in a snapshotted directory is removed, its target untouched
    (tmp_path / "etc/ssh/sshd_config.d/20-evil.conf").symlink_to(secret)
    restored = snap.restore(document)
    assert restored == [str(tmp_path / "etc/ssh/sshd_config.d/20-evil.conf")]
    assert secret.read_bytes() == b"root:hash\n"
    assert os.path.islink(tmp_path / "etc/ssh/sshd_config.d/10-link.conf")


def test_snapshot_refuses_symlinked_file(tmp_path):
    target = tmp_path / "real"
    target.write_bytes(b"x")
    (tmp_path / "sshd_config").symlink_to(target)
    with pytest.raises(snap.SnapshotError, match="symbolic link"):
        snap.take([str(tmp_path / "sshd_config")])


def test_restore_refuses_when_file_became_directory(tmp_path):
    paths = _tree(tmp_path)
    document = snap.take(paths)
    (tmp_path / "etc/pam.d/sshd").unlink()
    (tmp_path / "etc/pam.d/sshd").mkdir()
    with pytest.raises(snap.SnapshotError, match="now a dir"):
        snap.restore(document)


@pytest.mark.parametrize("data", [b"", b"{", b'{"format": 99, "paths": {}}', b"\xff\xfe"])
def test_decode_rejects_garbage(data):
    with pytest.raises(snap.SnapshotError):
        snap.decode(data)


@pytest.mark.parametrize("name", ["", "../x", ".hidden", "a/b"])
def test_bad_names(name):
    with pytest.raises(snap.SnapshotError, match="invalid snapshot name"):
        snap.store_path("/x", name)
