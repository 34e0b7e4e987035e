# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The module body (_pam_kbdint.run) end to end on real files in a temporary directory.

Writes go through the real ChangeSet/FileTransaction; only what the host would
tell (module directory, accounts, sshd) comes from a fake. The last tests run
the real module as a subprocess against this machine's own PAM installation.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys

import pytest

from ansible_collections.fleetauth.ssh.plugins.module_utils import _pam_kbdint as k

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "pam")
INSTALLED = {"pam_google_authenticator.so", "pam_oath.so", "pam_unix.so", "pam_deny.so", "pam_permit.so", "pam_succeed_if.so"}
EFFECTIVE = {
    "usepam": "yes",
    "kbdinteractiveauthentication": "no",
    "authenticationmethods": "any",
    "permitrootlogin": "prohibit-password",
}


class Exit(Exception):
    pass


class Fail(Exception):
    pass


class FakeModule:
    def __init__(self, check_mode=False, diff=True, **params):
        self.params = {
            "path": "/etc/pam.d/sshd",
            "second_factor": "totp",
            "password_factor": "keep",
            "order": "after",
            "totp": {},
            "oath": {},
            "exempt": {},
            "module_path": None,
            "sshd_context": None,
            "sshd_path": None,
            "backup": False,
        }
        self.params.update(params)
        self.check_mode = check_mode
        self._diff = diff
        self.warnings = []

    def warn(self, message):
        self.warnings.append(message)

    def run_command(self, *args, **kwargs):  # pragma: no cover - the fake host never runs anything
        raise AssertionError("no command should run")

    def exit_json(self, **result):
        raise Exit(result)

    def fail_json(self, **result):
        raise Fail(result)


class Host(k.Host):
    def __init__(self, directory, installed=None, accounts=None, effective=None):
        super().__init__(None)
        self.directory = directory
        self.installed = set(INSTALLED if installed is None else installed)
        self._accounts = accounts if accounts is not None else [k.Account("mfa"), k.Account("admin", exempt=True)]
        self.effective = dict(EFFECTIVE if effective is None else effective)
        self.accounts_asked = 0

    @staticmethod
    def read_system(path):
        try:
            with open(path, "rb") as handle:
                return handle.read()
        except FileNotFoundError:
            return None

    def security_dir(self):
        return "/lib/x86_64-linux-gnu/security", "test"

    def module_exists(self, module):
        return os.path.basename(module) in self.installed

    def sshd(self, context=None):
        return (9, 2), self.effective, None

    def accounts(self, request, effective):
        self.accounts_asked += 1
        return list(self._accounts)


@pytest.fixture
def pamd(tmp_path):
    for name in ("sshd", "common-auth", "common-account", "common-session", "common-password"):
        shutil.copy(os.path.join(FIXTURES, "bookworm", name), tmp_path / name)
    return tmp_path


def sha(path):
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def call(pamd, host=None, **params):
    params.setdefault("path", str(pamd / "sshd"))
    module = FakeModule(**params)
    with pytest.raises((Exit, Fail)) as info:
        k.run(module, host or Host(str(pamd)))
    result = info.value.args[0]
    result["_failed"] = isinstance(info.value, Fail)
    result["_warnings"] = module.warnings
    return result


def test_check_mode_apply_idempotence_and_restore(pamd):
    path = pamd / "sshd"
    original = sha(path)
    checked = call(pamd, check_mode=True)
    assert not checked["_failed"] and checked["changed"]
    assert sha(path) == original  # check mode wrote nothing
    assert "pam_google_authenticator.so" in checked["diff"][0]["after"]
    assert checked["diff"][0]["before"] == path.read_text()
    applied = call(pamd)
    assert applied["changed"] and sha(path) != original
    assert applied["managed_lines"] == [5]
    assert applied["password_steps"] == ["line 4: @include common-auth"]
    assert applied["checked_users"] == ["admin", "mfa"]
    assert applied["sshd"]["satisfied"] is False
    assert applied["sshd"]["settings"]["KbdInteractiveAuthentication"] == "yes"
    assert applied["module"] == {"name": "pam_google_authenticator.so", "path": "/lib/x86_64-linux-gnu/security/pam_google_authenticator.so", "args": []}
    assert [os.path.basename(p) for p in os.listdir(pamd) if p.startswith(".")] == []  # no candidates left behind
    again = call(pamd)
    assert not again["changed"] and again["diff"] == []
    check_again = call(pamd, check_mode=True)
    assert not check_again["changed"]
    restored = call(pamd, second_factor="none")
    assert restored["changed"] and sha(path) == original
    assert restored["sshd"]["settings"] == {}
    assert not call(pamd, second_factor="none")["changed"]


def test_backup_keeps_the_original(pamd):
    before = (pamd / "sshd").read_bytes()
    result = call(pamd, backup=True)
    backup = result["backup_files"][str(pamd / "sshd")]
    with open(backup, "rb") as handle:
        assert handle.read() == before


@pytest.mark.parametrize(
    "setup,params,message",
    [
        (None, {"module_path": "pam_not_installed.so"}, "pam_not_installed.so is not installed"),
        ("no-gauth", {}, "pam_google_authenticator.so is not installed"),
        ("no-succeed-if", {"exempt": {"groups": ["automation"]}}, "pam_succeed_if.so is not installed"),
        ("lockout", {}, "could no longer log in: pwonly (no /home/pwonly/.google_authenticator)"),
        (None, {"second_factor": "none", "password_factor": "remove"}, "would be empty"),
        ("unknown-syntax", {}, "unknown control 'mandatory'"),
        ("crlf", {}, "carriage return"),
        ("deny", {}, "would always fail"),
    ],
)
def test_refusals_leave_the_file_byte_identical(pamd, setup, params, message):
    host = Host(str(pamd))
    if setup == "no-gauth":
        host.installed.discard("pam_google_authenticator.so")
    elif setup == "no-succeed-if":
        host.installed.discard("pam_succeed_if.so")
    elif setup == "lockout":
        host._accounts.append(k.Account("pwonly", state="missing", reason="no /home/pwonly/.google_authenticator"))
    elif setup == "unknown-syntax":
        shutil.copy(os.path.join(FIXTURES, "hostile", "unknown-control"), pamd / "sshd")
    elif setup == "crlf":
        (pamd / "sshd").write_bytes((pamd / "sshd").read_bytes().replace(b"\n", b"\r\n"))
    elif setup == "deny":
        (pamd / "common-auth").write_text("auth requisite pam_deny.so\n")
    before = sha(pamd / "sshd")
    listing = sorted(os.listdir(pamd))
    for check_mode in (True, False):
        result = call(pamd, host, check_mode=check_mode, **params)
        assert result["_failed"], result
        assert message in result["msg"]
        assert result["changed"] is False
        assert sha(pamd / "sshd") == before
        assert sorted(os.listdir(pamd)) == listing


def test_missing_file_and_symlink_are_refused(pamd):
    missing = call(pamd, path=str(pamd / "absent"))
    assert missing["_failed"] and "does not exist" in missing["msg"]
    os.symlink("sshd", pamd / "linked")
    linked = call(pamd, path=str(pamd / "linked"))
    assert linked["_failed"] and "symbolic link" in linked["msg"]
    assert os.path.islink(pamd / "linked")


def test_a_broken_managed_line_can_still_be_removed(pamd):
    original = sha(pamd / "sshd")
    call(pamd)
    text = (pamd / "sshd").read_text().replace("auth       required     pam_google_authenticator.so", "auth  requird  pam_google_authenticator.so")
    (pamd / "sshd").write_text(text)
    assert call(pamd, second_factor="none")["changed"]
    assert sha(pamd / "sshd") == original


def test_lockout_is_only_checked_when_writing(pamd):
    host = Host(str(pamd))
    call(pamd, host)
    assert host.accounts_asked == 1
    host._accounts.append(k.Account("newcomer", state="missing", reason="no secret"))
    result = call(pamd, host)
    assert not result["_failed"] and not result["changed"] and host.accounts_asked == 1


def test_no_secret_in_results(pamd, tmp_path):
    secret = "JBSWY3DPEHPK3PXP"
    home = tmp_path / "home"
    home.mkdir()
    (home / ".google_authenticator").write_text(secret + '\n" TOTP_AUTH\n')
    (home / ".google_authenticator").chmod(0o400)
    host = Host(str(pamd))
    host.accounts = k.Host.accounts.__get__(host)
    host.passwd = lambda: [k.pwd.struct_passwd(("mfa", "x", os.getuid() or 4242, 4242, "", str(home), "/bin/bash"))]
    host.group_members = lambda: ({}, {})
    host.shadow = lambda: {"mfa": True}
    os.chown(home / ".google_authenticator", os.getuid() or 4242, -1)
    result = call(pamd, host)
    assert not result["_failed"], result
    assert result["checked_users"] == ["mfa"]
    assert secret not in json.dumps(result)


# ---------------------------------------------------------------- the real module on this machine


def run_module(args):
    collections = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "output", "collections"))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (collections, os.environ.get("PYTHONPATH")) if p))
    proc = subprocess.run(
        [sys.executable, "-m", "ansible_collections.fleetauth.ssh.plugins.modules.pam_kbdint", args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )
    return json.loads(proc.stdout)


@pytest.mark.skipif(os.geteuid() != 0, reason="reads root-owned PAM files like on a managed host")
def test_real_module_refuses_a_module_this_machine_does_not_have(pamd, tmp_path):
    before = sha(pamd / "sshd")
    args = tmp_path / "args.json"
    args.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": {"path": str(pamd / "sshd"), "second_factor": "totp", "module_path": "pam_fleetauth_missing.so"}}))
    result = run_module(str(args))
    assert result.get("failed"), result
    assert "pam_fleetauth_missing.so is not installed" in result["msg"]
    assert result["security_dir"] and os.path.isfile(os.path.join(result["security_dir"], "pam_unix.so"))
    assert sha(pamd / "sshd") == before
    assert "warnings" not in result


@pytest.mark.skipif(os.geteuid() != 0, reason="reads root-owned PAM files like on a managed host")
def test_real_module_none_on_an_untouched_file_changes_nothing(pamd, tmp_path):
    args = tmp_path / "args.json"
    args.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": {"path": str(pamd / "sshd"), "second_factor": "none", "_ansible_check_mode": True}}))
    result = run_module(str(args))
    assert not result.get("failed"), result
    assert result["changed"] is False
    assert result["auth_stack"][0].endswith("pam_unix.so nullok")
