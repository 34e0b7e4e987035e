# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The gathering layer of _diagnose on a real directory tree, with sshd and journalctl answered by a fake ``run``.

Key files, modes, the TOTP secret, the sshd configuration tree and the auth log
are real files under a temporary directory; sshd's own answers (``-V``, ``-T``)
come from canned text, so no sshd runs. Ownership tests need root (CI runs as root).
"""

from __future__ import annotations

import os
import pathlib
import shutil
import stat
import tempfile

import pytest

from ansible_collections.fleetauth.ssh.plugins.module_utils import _diagnose as d
from ansible_collections.fleetauth.ssh.plugins.module_utils._sshd_config import ConfigTree, context_matcher
from ansible_collections.fleetauth.ssh.plugins.module_utils._sshd_runtime import parse_effective

ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason="needs root (chown, reading as another user)")
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIICDHY2lS6BafOLNIztygWAJaYeMm1Ar3HWOCiB4qjNU mfa@fleetauth-lab"
OTHER = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK3X1CAfiIHtwc2N21HEKiwBwNHGR0dNqPv3FZs2w1l/ someone-else@example"
UID = 4301
SSHD_T = """pubkeyauthentication yes
passwordauthentication yes
kbdinteractiveauthentication yes
authenticationmethods publickey,keyboard-interactive
usepam yes
permitrootlogin prohibit-password
maxauthtries 6
strictmodes yes
authorizedkeysfile .ssh/authorized_keys .ssh/authorized_keys2
authorizedkeyscommand none
authorizedkeyscommanduser none
trustedusercakeys none
pubkeyacceptedalgorithms ssh-ed25519,ecdsa-sha2-nistp256,rsa-sha2-512,rsa-sha2-256
casignaturealgorithms ssh-ed25519,rsa-sha2-512
requiredrsasize 1024
"""


class FakeRun:
    """AnsibleModule.run_command's shape: answers sshd -V / -T and journalctl from text; records every call."""

    def __init__(self, sshd_t=SSHD_T, journal=None, journal_rc=0):
        self.sshd_t = sshd_t
        self.journal = journal or ""
        self.journal_rc = journal_rc
        self.calls = []

    def __call__(self, args, data=None):
        self.calls.append(list(args))
        if "-V" in args:
            return 0, "", "OpenSSH_9.2p1 Debian-2+deb12u10, OpenSSL 3.0.17 1 Jul 2025"
        if "-T" in args:
            return 0, self.sshd_t, ""
        if args[0].endswith("journalctl"):
            return self.journal_rc, self.journal, "" if self.journal_rc == 0 else "No journal files were found."
        raise AssertionError("unexpected command %r" % args)


@pytest.fixture
def home():
    """/home/mfa under a temporary root every user can search (as sshd needs), owned by a test uid, with KEY authorized."""
    top = tempfile.mkdtemp(prefix="fleetauth-dgn-")
    os.chmod(top, 0o755)
    base = pathlib.Path(top) / "home"
    base.mkdir()
    os.chmod(base, 0o755)
    user_home = base / "mfa"
    ssh = user_home / ".ssh"
    ssh.mkdir(parents=True)
    (ssh / "authorized_keys").write_text(KEY + "\n")
    os.chmod(user_home, 0o750)
    os.chmod(ssh, 0o700)
    os.chmod(ssh / "authorized_keys", 0o600)
    if ROOT:
        for path in (user_home, ssh, ssh / "authorized_keys"):
            os.chown(path, UID, UID)
    yield user_home
    shutil.rmtree(top)


def account(home_dir):
    return {"name": "mfa", "uid": UID if ROOT else os.getuid(), "gid": UID if ROOT else os.getgid(), "home": str(home_dir), "shell": "/bin/bash"}


def keys_for(home_dir, wanted=None, run=None):
    runtime = d._MemoRuntime(run or FakeRun(), sshd_path="/usr/sbin/sshd" if os.path.exists("/usr/sbin/sshd") else "/bin/sh")
    effective = parse_effective(SSHD_T)
    return d._keys(account(home_dir), runtime, {"user": "mfa", "host": "192.0.2.1", "addr": "192.0.2.1"}, None, wanted, effective)


@needs_root
def test_keys_healthy_and_sshd_asked_once(home):
    run = FakeRun()
    keys = keys_for(home, d.parse_wanted(public_key=KEY), run)
    assert [e["fingerprint"] for e in keys["entries"] if e["usable"]] == [d.parse_wanted(public_key=KEY)["fingerprint"]]
    assert keys["key_dir"] is True
    runtime = d._MemoRuntime(run, sshd_path="/usr/sbin/sshd")
    runtime.effective(context={"user": "mfa"})
    runtime.effective(context={"user": "mfa"})
    assert sum(1 for call in run.calls if "-T" in call) == 2  # one for the key audit, one for the repeated context


@needs_root
def test_keys_strict_modes(home):
    os.chmod(home / ".ssh", 0o777)
    keys = keys_for(home)
    kinds = {f["kind"] for f in keys["findings"]}
    assert "strict_modes" in kinds
    facts = d.Facts("mfa", account=account(home), effective=parse_effective(SSHD_T), keys=keys, shadow=None, version=(9, 2), groups=["mfa"])
    assert d.publickey_state(facts).findings[0]["id"] == "wrong_permissions"
    assert "chmod go-w %s" % (home / ".ssh") in d.publickey_state(facts).findings[0]["fix"]


@needs_root
def test_keys_split_and_elsewhere(home):
    (home / ".ssh" / "authorized_keys").write_text(KEY[:40] + "\n" + KEY[40:] + "\n")
    keys = keys_for(home, d.parse_wanted(public_key=KEY))
    assert any(f.get("reason") == "split_key" for f in keys["findings"])
    (home / ".ssh" / "authorized_keys").write_text(OTHER + "\n")
    (home / ".ssh" / "authorized_keys2").write_text(KEY + "\n")
    os.chown(home / ".ssh" / "authorized_keys2", UID, UID)
    narrow = SSHD_T.replace(".ssh/authorized_keys .ssh/authorized_keys2", ".ssh/authorized_keys")
    keys = keys_for(home, d.parse_wanted(public_key=KEY), FakeRun(sshd_t=narrow))
    assert keys["elsewhere"] == [str(home / ".ssh" / "authorized_keys2")]


def test_totp_secret_state(tmp_path):
    secret = tmp_path / ".google_authenticator"
    acct = {"name": "mfa", "uid": os.getuid(), "gid": os.getgid(), "home": str(tmp_path), "shell": "/bin/sh"}
    handler = _handler("auth required pam_google_authenticator.so")
    assert d._totp(handler, acct, "mfa")["state"] == "missing"
    secret.write_text("SECRET\n")
    os.chmod(secret, 0o644)
    assert d._totp(handler, acct, "mfa")["state"] == "unusable"
    os.chmod(secret, 0o400)
    assert d._totp(handler, acct, "mfa") == {"path": str(secret), "state": "ok", "reason": None}
    custom = _handler("auth required pam_google_authenticator.so secret=${HOME}/.ga/${USER}")
    assert d._totp(custom, acct, "mfa")["path"] == str(tmp_path / ".ga" / "mfa")


def _handler(line):
    from ansible_collections.fleetauth.ssh.plugins.module_utils import _pam

    return _pam.resolve(_pam.parse(line + "\n"), "auth", lambda name: None)[0]


def test_origins_and_match_blocks(tmp_path):
    main = tmp_path / "sshd_config"
    drop = tmp_path / "sshd_config.d"
    drop.mkdir()
    lines = ["Include %s/*.conf" % drop, "KbdInteractiveAuthentication no", "DenyUsers bob", "Match Group ops", "    DenyUsers mfa"]
    main.write_text("\n".join(lines + ["Match Address 10.0.0.0/8", "    MaxAuthTries 2", ""]))
    (drop / "05-seed.conf").write_text("PasswordAuthentication no\nMatch User mfa\n    AuthenticationMethods publickey,password\n")

    def read(path):
        try:
            with open(path, "rb") as handle:
                return handle.read()
        except FileNotFoundError:
            return None

    def listdir(path):
        return {name: os.path.isdir(os.path.join(path, name)) for name in os.listdir(path)} if os.path.isdir(path) else None

    tree = ConfigTree.load(str(main), read, listdir, sshdir=str(tmp_path))
    context = {"user": "mfa", "host": "192.0.2.1", "addr": "192.0.2.1"}
    matcher = context_matcher(context, groups=["mfa", "ops"])
    effective = {"passwordauthentication": "no", "kbdinteractiveauthentication": "no", "authenticationmethods": "publickey,password"}
    origins, lists = d._origins(tree, effective, matcher, (9, 2))
    assert origins["passwordauthentication"] == "%s/05-seed.conf line 1" % drop
    assert origins["authenticationmethods"] == "%s/05-seed.conf line 3 inside Match User mfa (line 2)" % drop
    assert origins["kbdinteractiveauthentication"] == "%s line 2" % main
    assert lists["denyusers"] == [("bob", "%s line 3" % main), ("mfa", "%s line 5 inside Match Group ops (line 4)" % main)]
    blocks = d._match_blocks(tree, matcher)
    assert [(b["criteria"], b["applies"], b["connection"]) for b in blocks] == [
        ("User mfa", True, False),
        ("Group ops", True, False),
        ("Address 10.0.0.0/8", False, True),
    ]
    overridden, _lists = d._origins(tree, dict(effective, passwordauthentication="yes"), matcher, (9, 2))
    assert "command line" in overridden["passwordauthentication"]


def test_read_logs_journal_then_file(tmp_path, monkeypatch):
    journal = "t h sshd[1]: Failed password for mfa from 1.2.3.4 port 2 ssh2\nt h sudo[2]: mfa : TTY=pts/0\n"
    run = FakeRun(journal=journal)
    out = d.read_logs(run, "mfa", "-1h", 5)
    assert out["lines"] == ["t h sshd[1]: Failed password for mfa from 1.2.3.4 port 2 ssh2"]
    call = run.calls[-1]
    assert "--since" in call and "-1h" in call and "SYSLOG_IDENTIFIER=sshd" in call and "_SYSTEMD_UNIT=ssh.service" in call
    log = tmp_path / "auth.log"
    log.write_text("Jan  1 00:00:00 h sshd[9]: Accepted publickey for mfa from 1.2.3.4 port 5 ssh2\nJan  1 00:00:01 h CRON[3]: mfa\n")
    monkeypatch.setattr(d, "AUTH_LOGS", (str(tmp_path / "missing.log"), str(log)))
    out = d.read_logs(FakeRun(journal_rc=1), "mfa", "-1h", 5)
    assert out["source"] == str(log)
    assert out["lines"] == ["Jan  1 00:00:00 h sshd[9]: Accepted publickey for mfa from 1.2.3.4 port 5 ssh2"]
    monkeypatch.setattr(d, "AUTH_LOGS", (str(tmp_path / "missing.log"),))
    out = d.read_logs(FakeRun(journal_rc=1), "mfa", "-1h", 5)
    assert out["lines"] == [] and out["error"]


class FakeModule:
    def __init__(self, params, run):
        self.params = dict({"pam_file": "/nonexistent/pam.d/sshd", "log_since": "-24h", "log_lines": 10}, **params)
        self.run_command = run
        self.check_mode = True
        self.result = None

    def exit_json(self, **result):
        self.result = result
        raise SystemExit(0)

    def fail_json(self, **result):
        self.result = dict(result, failed=True)
        raise SystemExit(1)


@needs_root
def test_run_module_end_to_end_changes_nothing(home, monkeypatch):
    monkeypatch.setattr(d, "_account", lambda user: account(home) if user == "mfa" else None)
    monkeypatch.setattr(d, "user_groups", lambda user: ["mfa"])
    before = {p: os.lstat(p) for p in (home, home / ".ssh", home / ".ssh" / "authorized_keys")}
    module = FakeModule({"user": "mfa", "public_key": KEY, "sshd_path": "/usr/sbin/sshd" if os.path.exists("/usr/sbin/sshd") else "/bin/sh"}, FakeRun())
    with pytest.raises(SystemExit):
        d.run_module(module)
    result = module.result
    assert result["changed"] is False
    assert result["key"]["fingerprint"] == d.parse_wanted(public_key=KEY)["fingerprint"]
    assert result["effective"]["authenticationmethods"] == "publickey,keyboard-interactive"
    assert result["methods"]["publickey"]["usable"] is True
    assert any("does not exist" in note for note in result["notes"])  # the PAM file of this fake host
    for path, st in before.items():
        after = os.lstat(path)
        assert (stat.S_IMODE(after.st_mode), after.st_uid, after.st_mtime_ns) == (stat.S_IMODE(st.st_mode), st.st_uid, st.st_mtime_ns)


def test_run_module_refuses_a_bad_key():
    module = FakeModule({"user": "mfa", "public_key": "not a key"}, FakeRun())
    with pytest.raises(SystemExit):
        d.run_module(module)
    assert module.result["failed"] and "not a public key" in module.result["msg"] and module.result["changed"] is False
