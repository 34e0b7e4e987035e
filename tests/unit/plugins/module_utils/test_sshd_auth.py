# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""sshd_auth_methods: request validation, the lockout guard, and the orchestration on real files.

The orchestration tests run on a real directory tree (tmp_path) through the
real _atomic reader and writer; sshd is replaced by a fake that evaluates the
candidate files it is pointed at with the pure model (so Include rewriting,
check mode, rollback and the guard are exercised on real files). Real sshd
behaviour is covered by the recorded fixtures and the molecule scenario.
"""

from __future__ import annotations

import hashlib
import os

import pytest

from ansible_collections.fleetauth.ssh.plugins.module_utils import _sshd_auth as auth
from ansible_collections.fleetauth.ssh.plugins.module_utils import _sshd_config as sc
from ansible_collections.fleetauth.ssh.plugins.module_utils._sshd_runtime import SshdError
from ansible_collections.fleetauth.ssh.plugins.modules import sshd_auth_methods as module_file

# ---------------------------------------------------------------- request


@pytest.mark.parametrize(
    "params,message",
    [
        ({"authentication_methods": [["publickey", "pass word"]]}, "single sshd_config word"),
        ({"authentication_methods": ["publickey,,password"]}, "empty method"),
        ({"authentication_methods": ["any", "publickey"]}, "must appear alone"),
        ({"authentication_methods": []}, "empty"),
        ({"authentication_methods": 5}, "give 'any'"),
        ({"allow_users": ["ok", "bad#user"]}, "single sshd_config word"),
        ({"allow_users": ["evil\nPasswordAuthentication yes"]}, "single sshd_config word"),
        ({"pubkey_accepted_algorithms": ["ssh-ed25519", "x y"]}, "single sshd_config word"),
        ({"max_auth_tries": 0}, "at least 1"),
        ({"login_grace_time": "2 minutes"}, "not an sshd time"),
        ({"permit_root_login": "True"}, "quote yes and no"),
        ({"match": [{"criteria": "User x\nPasswordAuthentication yes", "settings": {"password": "enabled"}}]}, "control characters"),
        ({"match": [{"criteria": "User x # c", "settings": {"password": "enabled"}}]}, "may not contain"),
        ({"match": [{"criteria": "  ", "settings": {"password": "enabled"}}]}, "empty"),
        ({"match": [{"criteria": "User x", "settings": {}}]}, "sets nothing"),
        ({"match": [{"criteria": "User x", "settings": {"use_pam": True}}]}, "global-only"),
        ({"match": [{"criteria": "User x", "settings": {"nope": 1}}]}, "unknown option"),
        ({"match": [{"criteria": "User x", "settings": {"password": "enabled"}}, {"criteria": "user  x", "settings": {"pubkey": "enabled"}}]}, "repeats"),
    ],
)
def test_bad_requests_are_refused_clearly(params, message):
    with pytest.raises(auth.AuthError, match=message):
        auth.build_request(params, (9, 2))


def test_required_rsa_size_is_version_gated():
    with pytest.raises(auth.AuthError, match=r"from OpenSSH 9\.1; this host runs 8\.4"):
        auth.build_request({"required_rsa_size": 2048}, (8, 4))
    assert auth.build_request({"required_rsa_size": 2048}, (9, 1)).settings[0].line() == "RequiredRSASize 2048"


@pytest.mark.parametrize(
    "version,in_match,lines",
    [
        ((8, 4), False, ["ChallengeResponseAuthentication yes", "KbdInteractiveAuthentication yes"]),
        ((8, 4), True, ["KbdInteractiveAuthentication yes"]),
        ((8, 7), False, ["KbdInteractiveAuthentication yes"]),
        ((10, 0), True, ["KbdInteractiveAuthentication yes"]),
    ],
)
def test_kbdint_keyword_by_version(version, in_match, lines):
    spec = next(s for s in auth.OPTIONS if s.name == "kbdint")
    assert [s.line() for s in auth.settings_for(spec, "enabled", version, in_match)] == lines


@pytest.mark.parametrize(
    "version,line", [((8, 4), "PubkeyAcceptedKeyTypes ssh-ed25519,rsa-sha2-512"), ((8, 5), "PubkeyAcceptedAlgorithms ssh-ed25519,rsa-sha2-512")]
)
def test_pubkey_algorithms_keyword_by_version(version, line):
    assert auth.build_request({"pubkey_accepted_algorithms": ["ssh-ed25519", "rsa-sha2-512"]}, version).settings[0].line() == line


@pytest.mark.parametrize(
    "value,chains",
    [
        ("any", ["any"]),
        ([["publickey", "keyboard-interactive:pam"]], ["publickey,keyboard-interactive:pam"]),
        (["publickey,password", ["publickey", "keyboard-interactive"]], ["publickey,password", "publickey,keyboard-interactive"]),
        ("publickey,password publickey", ["publickey,password", "publickey"]),
    ],
)
def test_authentication_methods_forms(value, chains):
    assert auth.parse_auth_methods(value) == chains


@pytest.mark.parametrize("text,seconds", [("120", 120), ("2m", 120), ("1h30m", 5400), ("1m30", 90), ("0", 0), ("1x", None), ("", None), ("-5", None)])
def test_parse_time(text, seconds):
    assert auth.parse_time(text) == seconds


def test_permit_root_login_alias_compares_equal():
    setting = auth.build_request({"permit_root_login": "without-password"}, (9, 2)).settings[0]
    assert setting.line() == "PermitRootLogin prohibit-password"
    assert setting.equal(["without-password"]) and setting.equal(["Prohibit-Password"]) and not setting.equal(["yes"])


@pytest.mark.parametrize(
    "criteria,context",
    [
        ("User deploy", {"user": "deploy"}),
        ("User deploy Address 10.0.0.0/8", {"user": "deploy", "addr": "10.0.0.1"}),
        ("Address 192.0.2.7", {"addr": "192.0.2.7"}),
        ("Address 192.0.2.7/32", {"addr": "192.0.2.7"}),
        ("LocalPort 2222", {"lport": "2222"}),
        ("Group wheel", None),
        ("User dep*", None),
        ("User a,b", None),
        ("User !x", None),
        ("all", None),
    ],
)
def test_context_for_match_blocks(criteria, context):
    assert auth.context_for(criteria) == context


# ---------------------------------------------------------------- lockout guard

OPEN = {
    "pubkeyauthentication": "yes",
    "passwordauthentication": "no",
    "kbdinteractiveauthentication": "no",
    "hostbasedauthentication": "no",
    "authenticationmethods": "any",
    "usepam": "yes",
    "permitrootlogin": "prohibit-password",
}


def problems(changes, **kwargs):
    effective = dict(OPEN, **changes)
    return [key for key, _message in auth.lockout_problems(effective, "globally", "global", **kwargs)]


@pytest.mark.parametrize(
    "changes,kwargs,expected",
    [
        ({}, {}, []),
        ({"pubkeyauthentication": "no"}, {}, ["global:none"]),
        ({"authenticationmethods": "publickey,keyboard-interactive"}, {}, ["global:method:publickey,keyboard-interactive:keyboard-interactive"]),
        ({"authenticationmethods": "publickey,keyboard-interactive:pam", "kbdinteractiveauthentication": "yes"}, {}, []),
        ({"authenticationmethods": "publickey password"}, {}, ["global:method:password:password"]),
        ({"kbdinteractiveauthentication": "yes", "usepam": "no"}, {}, ["global:kbdint-without-pam"]),
        (
            {"authenticationmethods": "publickey,keyboard-interactive", "usepam": "no"},
            {},
            ["global:method:publickey,keyboard-interactive:keyboard-interactive", "global:kbdint-without-pam"],
        ),
        ({"permitrootlogin": "no"}, {"login_user": "root"}, ["global:root"]),
        ({"permitrootlogin": "forced-commands-only"}, {"login_user": "root"}, ["global:root"]),
        ({"permitrootlogin": "no"}, {"login_user": "admin"}, []),
        ({"allowusers": ["deploy", "ad*"]}, {"login_user": "admin"}, []),
        ({"allowusers": ["deploy"]}, {"login_user": "admin"}, ["global:allowusers"]),
        ({"allowusers": ["admin@10.0.0.0/8"]}, {"login_user": "admin"}, []),
        ({"denyusers": ["admin"]}, {"login_user": "admin"}, ["global:denyusers"]),
        ({"denyusers": ["admin@192.0.2.1"]}, {"login_user": "admin"}, []),
        ({"allowgroups": ["wheel"]}, {"login_user": "admin", "login_groups": ["admin", "sudo"]}, ["global:allowgroups"]),
        ({"denygroups": ["sudo"]}, {"login_user": "admin", "login_groups": ["admin", "sudo"]}, ["global:denygroups"]),
    ],
)
def test_lockout_problems(changes, kwargs, expected):
    assert problems(changes, **kwargs) == expected


def test_guard_looks_inside_match_blocks():
    fs_main = b"Match User deploy\n    AuthenticationMethods publickey,password\n"
    cfile_tree = sc.ConfigTree("/m")
    cfile = sc.ConfigFile("/m", fs_main)
    cfile_tree.files["/m"] = cfile
    cfile_tree._walk(cfile, (), 0, lambda p: None, lambda p: None)  # pylint: disable=protected-access
    overlays = auth.block_overlays(cfile_tree, dict(OPEN), (9, 2))
    assert [(label.split(" (")[0], key) for label, key, _m in overlays] == [("Match User deploy", "match:user deploy")]
    assert [k for k, _m in auth.lockout_problems(overlays[0][2], "x", "match")] == ["match:method:publickey,password:password"]


def test_mismatches_compare_like_sshd_prints():
    request = auth.build_request({"permit_root_login": "without-password", "login_grace_time": "2m", "allow_users": ["b", "a"], "password": "disabled"}, (9, 2))
    effective = {"permitrootlogin": "without-password", "logingracetime": "120", "allowusers": ["a", "b", "a"], "passwordauthentication": "no"}
    assert auth.mismatches(request.settings, effective) == []
    effective["passwordauthentication"] = "yes"
    assert [(s.key, found) for s, found in auth.mismatches(request.settings, effective)] == [("passwordauthentication", "yes")]


def test_map_paths_and_crlf():
    assert auth.map_paths(
        "/tmp/x/001-a.conf line 3: bad\r\n/tmp/x/000-sshd_config: terminating",
        {"/tmp/x/001-a.conf": "/etc/ssh/a.conf", "/tmp/x/000-sshd_config": "/etc/ssh/sshd_config"},
    ) == ("/etc/ssh/a.conf line 3: bad\n/etc/ssh/sshd_config: terminating")


def test_command_line_overrides():
    texts = [
        ("/etc/default/ssh", 'SSHD_OPTS="-p 2222 -o PasswordAuthentication=yes -oUsePAM=no"\n# SSHD_OPTS="-o PubkeyAuthentication=no"\n'),
        ("/etc/sysconfig/sshd", "OPTIONS='-o \"ListenAddress 10.0.0.1\"'\n"),
    ]
    names = {"passwordauthentication", "usepam", "pubkeyauthentication"}
    assert auth.command_line_overrides(texts, names) == [("/etc/default/ssh", "PasswordAuthentication"), ("/etc/default/ssh", "UsePAM")]


def test_detect_login_user_prefers_sudo_user():
    assert auth.detect_login_user({"SUDO_USER": "admin"}) == ("admin", "SUDO_USER")


# ---------------------------------------------------------------- orchestration on real files


class FakeModule:
    def __init__(self, params, check_mode=False, diff=True):
        self.params = params
        self.check_mode = check_mode
        self._diff = diff
        self.warnings = []

    def warn(self, text):
        self.warnings.append(text)

    def selinux_enabled(self):
        return False


class ModelSshd:
    """Stands in for sshd: evaluates the files it is pointed at with the model; can be told to reject."""

    def __init__(self, sshdir, version=(9, 2), reject=None, lie=None):
        self.sshdir = sshdir
        self._version = version
        self.reject = reject  # callable(tree) -> message with the file's path, or None
        self.lie = lie or {}
        self.notes = []
        self.calls = []

    def version(self):
        return self._version

    def kbdint_keyword(self):
        return "KbdInteractiveAuthentication" if self._version >= (8, 7) else "ChallengeResponseAuthentication"

    def _tree(self, path):
        return sc.ConfigTree.load(path, auth.read_config, auth.list_dir, sshdir=self.sshdir, legacy=self._version < (8, 7))

    def test(self, config_path=None):
        self.calls.append(("test", config_path))
        tree = self._tree(config_path)
        message = self.reject(tree) if self.reject else None
        if message:
            raise SshdError("sshd rejected the configuration: %s" % message, sshd_message=message, rc=255)

    def effective(self, config_path=None, context=None):
        self.calls.append(("effective", config_path, context))
        tree = self._tree(config_path)
        out = auth.model_effective(tree, self._version, sc.context_matcher(context) if context else None)
        out.update(self.lie)
        return out


def reject_bogus(tree):
    for occ in tree.find(["authenticationmethods"]):
        if any("bogus" in arg for arg in occ.args):
            return 'Unknown authentication method "bogus" in list\n%s line %d: invalid authentication method list.' % (occ.path, occ.lineno)
    return None


def params(**kwargs):
    out = {name: spec.get("default") for name, spec in module_file.argument_spec().items()}
    out.update(kwargs)
    return out


def snapshot(root):
    out = {}
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            with open(path, "rb") as handle:
                out[path] = (hashlib.sha1(handle.read()).hexdigest(), st.st_ino, st.st_mode)
    return out


@pytest.fixture
def host(tmp_path):
    """A Debian-like /etc/ssh under tmp_path with a cloud-init drop-in."""
    etc = tmp_path / "etc" / "ssh"
    (etc / "sshd_config.d").mkdir(parents=True)
    (etc / "sshd_config").write_bytes(
        b"Include sshd_config.d/*.conf\nKbdInteractiveAuthentication no\nUsePAM yes\nSubsystem sftp /usr/lib/openssh/sftp-server\n"
    )
    (etc / "sshd_config.d" / "50-cloud-init.conf").write_bytes(b"PasswordAuthentication yes\n")
    return etc


def run(etc, module_params, check_mode=False, runtime=None, login=("admin", "test", ["admin", "sudo"])):
    module = FakeModule(params(config_path=str(etc / "sshd_config"), **module_params), check_mode=check_mode)
    runtime = runtime or ModelSshd(str(etc))
    result = auth.SshdAuthMethods(module, runtime=runtime, login=login, sshdir=str(etc)).run()
    return result, module, runtime


def test_check_mode_reports_and_writes_nothing(host):
    before = snapshot(host.parent.parent)
    result, _module, runtime = run(host, {"password": "disabled"}, check_mode=True)
    assert result["changed"] and result["reload_required"]
    assert result["files"] == [str(host / "sshd_config.d" / "00-fleetauth.conf"), str(host / "sshd_config.d" / "50-cloud-init.conf")]
    assert result["effective"]["before"]["passwordauthentication"] == "yes"
    assert result["effective"]["after"]["passwordauthentication"] == "no"
    assert snapshot(host.parent.parent) == before
    candidate = next(call[1] for call in runtime.calls if call[0] == "test")
    assert not candidate.startswith(str(host)) and not os.path.exists(candidate)
    assert next(d["before_header"] for d in result["diff"]).endswith("(absent)")


def test_apply_then_no_change(host):
    result, _m, _r = run(host, {"password": "disabled"})
    assert result["changed"]
    assert (host / "sshd_config.d" / "00-fleetauth.conf").read_bytes().endswith(b"PasswordAuthentication no\n")
    assert (host / "sshd_config.d" / "50-cloud-init.conf").read_bytes() == b"# fleetauth.ssh conflict: PasswordAuthentication yes\n"
    assert oct((host / "sshd_config.d" / "00-fleetauth.conf").stat().st_mode & 0o777) == "0o644"
    before = snapshot(host.parent.parent)
    again, _m, runtime = run(host, {"password": "disabled"})
    assert not again["changed"] and not again["reload_required"] and again["files"] == []
    assert again["effective"]["before"] == again["effective"]["after"]
    assert [c[0] for c in runtime.calls] == ["effective"]  # a no-change run asks sshd once
    assert snapshot(host.parent.parent) == before


@pytest.mark.parametrize(
    "module_params,runtime_kwargs,message",
    [
        (
            {"authentication_methods": [["publickey", "bogus"]]},
            {"reject": reject_bogus},
            r"sshd said:\nUnknown authentication method \"bogus\" in list\n.*/etc/ssh/sshd_config.d/00-fleetauth.conf line 4",
        ),
        ({"pubkey": "disabled", "password": "disabled", "kbdint": "disabled"}, {}, "lockout guard.*all be disabled"),
        ({"authentication_methods": [["publickey", "keyboard-interactive"]]}, {}, "lockout guard.*requires keyboard-interactive"),
        ({"kbdint": "enabled", "use_pam": False}, {}, "lockout guard.*UsePAM would be no"),
        (
            {"match": [{"criteria": "User deploy", "settings": {"authentication_methods": "publickey,password"}}], "password": "disabled"},
            {},
            "Match User deploy.*requires password",
        ),
        ({"allow_users": ["deploy"]}, {}, "AllowUsers deploy would not let the login user admin in"),
        ({"password": "disabled"}, {"lie": {"passwordauthentication": "yes"}}, "after the change sshd -T would report passwordauthentication yes"),
        ({"password": "disabled", "conflicts": "fail"}, {}, r"conflicts=fail:\n  .*50-cloud-init.conf line 1: PasswordAuthentication yes"),
    ],
)
def test_refusals_leave_every_file_byte_identical(host, module_params, runtime_kwargs, message):
    before = snapshot(host.parent.parent)
    with pytest.raises(auth.AuthError, match=message):
        run(host, module_params, runtime=ModelSshd(str(host), **runtime_kwargs))
    assert snapshot(host.parent.parent) == before


def test_root_login_guard_and_force(host):
    with pytest.raises(auth.AuthError, match="PermitRootLogin would be no while this play logs in as root"):
        run(host, {"permit_root_login": "no"}, login=("root", "test", ["root"]))
    result, module, _r = run(host, {"permit_root_login": "no", "force": True}, login=("root", "test", ["root"]))
    assert result["changed"] and any("force=true overrides the lockout guard" in w for w in module.warnings)
    result, _m, _r = run(host, {"permit_root_login": "no"})
    assert not result["changed"]


def test_existing_problem_is_a_warning_not_a_refusal(host):
    (host / "sshd_config").write_bytes(b"Include sshd_config.d/*.conf\nAllowUsers deploy\nUsePAM yes\n")
    result, module, _r = run(host, {"password": "disabled"})
    assert result["changed"]
    assert any(w.startswith("already the case before this change") and "AllowUsers deploy" in w for w in module.warnings)


def test_match_block_checked_with_context(host):
    blocks = [{"criteria": "User deploy", "settings": {"authentication_methods": [["publickey"]]}}]
    result, _m, runtime = run(host, {"kbdint": "enabled", "authentication_methods": [["publickey", "keyboard-interactive"]], "match": blocks})
    assert result["changed"]
    contexts = [call[2] for call in runtime.calls if call[0] == "effective" and call[2]]
    assert {"user": "deploy"} in contexts and {"user": "admin"} in contexts


def test_file_changed_meanwhile_is_not_overwritten(host):
    module = FakeModule(params(config_path=str(host / "sshd_config"), password="disabled"))
    runner = auth.SshdAuthMethods(module, runtime=ModelSshd(str(host)), login=("admin", "t", []), sshdir=str(host))
    original = runner._recheck  # pylint: disable=protected-access

    def meddle(plan):
        (host / "sshd_config.d" / "50-cloud-init.conf").write_bytes(b"PasswordAuthentication yes\n# someone else\n")
        original(plan)

    runner._recheck = meddle  # pylint: disable=protected-access
    with pytest.raises(auth.AuthError, match="changed while the module was working"):
        runner.run()
    assert not (host / "sshd_config.d" / "00-fleetauth.conf").exists()


def test_symlinked_drop_in_is_refused(host):
    os.symlink("/etc/passwd", str(host / "sshd_config.d" / "70-link.conf"))
    before = snapshot(host.parent.parent)
    with pytest.raises(auth.AtomicWriteError, match=r"70-link\.conf: it is a symbolic link\. sshd would follow it.*replace the link"):
        run(host, {"password": "disabled"})
    assert snapshot(host.parent.parent) == before


def test_add_include_creates_directory_only_when_applying(tmp_path):
    etc = tmp_path / "etc" / "ssh"
    etc.mkdir(parents=True)
    (etc / "sshd_config").write_bytes(b"PasswordAuthentication yes\nUsePAM yes\n")
    result, _m, _r = run(etc, {"pubkey": "enabled", "add_include": True}, check_mode=True)
    assert result["changed"] and not (etc / "sshd_config.d").exists()
    result, _m, _r = run(etc, {"pubkey": "enabled", "add_include": True})
    assert (etc / "sshd_config").read_bytes().startswith(b"Include %s/sshd_config.d/*.conf\n" % str(etc).encode())
    assert (etc / "sshd_config.d" / "00-fleetauth.conf").read_bytes().endswith(b"PubkeyAuthentication yes\n")
    assert not run(etc, {"pubkey": "enabled", "add_include": True})[0]["changed"]


def test_add_include_edits_a_drop_in_that_exists_but_is_not_read_yet(tmp_path):
    etc = tmp_path / "etc" / "ssh"
    (etc / "sshd_config.d").mkdir(parents=True)
    (etc / "sshd_config").write_bytes(b"PasswordAuthentication yes\nUsePAM yes\n")
    (etc / "sshd_config.d" / "00-fleetauth.conf").write_bytes(b"# left from before\nPasswordAuthentication yes\nMaxAuthTries 3\n")
    result, _m, _r = run(etc, {"password": "disabled", "add_include": True})
    assert result["changed"]
    assert (etc / "sshd_config.d" / "00-fleetauth.conf").read_bytes() == b"# left from before\nPasswordAuthentication no\nMaxAuthTries 3\n"
    main = b"Include %s/sshd_config.d/*.conf\n# fleetauth.ssh conflict: PasswordAuthentication yes\nUsePAM yes\n" % str(etc).encode()
    assert (etc / "sshd_config").read_bytes() == main
    assert not run(etc, {"password": "disabled", "add_include": True})[0]["changed"]


def test_validate_false_skips_sshd_but_keeps_the_guard(host):
    runtime = ModelSshd(str(host))
    result, module, _r = run(host, {"kbdint": "enabled", "validate": False}, runtime=runtime)
    assert result["changed"] and result["effective"]["after"] is None
    assert not [c for c in runtime.calls if c[0] == "test"]
    assert any("validate=false" in w for w in module.warnings)
    with pytest.raises(auth.AuthError, match="lockout guard"):
        run(host, {"pubkey": "disabled", "kbdint": "disabled", "password": "disabled", "validate": False})


def test_backup(host):
    result, _m, _r = run(host, {"password": "disabled", "backup": True})
    backups = result["backup_files"]
    assert list(backups) == [str(host / "sshd_config.d" / "50-cloud-init.conf")]
    with open(backups[str(host / "sshd_config.d" / "50-cloud-init.conf")], "rb") as handle:
        assert handle.read() == b"PasswordAuthentication yes\n"
