# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""pam_kbdint's planning, refusals and host probing (_pam_kbdint) on real Debian and RHEL-style files."""

from __future__ import annotations

import collections
import hashlib
import json
import os
import shutil

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.fleetauth.ssh.plugins.module_utils import _pam
from ansible_collections.fleetauth.ssh.plugins.module_utils import _pam_kbdint as k

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "pam")
SUITES = ("bullseye", "bookworm", "trixie")
INSTALLED = {"pam_google_authenticator.so", "pam_oath.so", "pam_unix.so", "pam_deny.so", "pam_permit.so", "pam_succeed_if.so", "pam_env.so"}
INSTALLED |= {"pam_faildelay.so", "pam_usertype.so", "pam_localuser.so", "pam_sss.so", "pam_sepermit.so", "pam_echo.so", "pam_nologin.so"}


def read(rel):
    with open(os.path.join(FIXTURES, rel), "rb") as handle:
        return handle.read().decode("utf-8", "surrogateescape")


def request(**params):
    params.setdefault("second_factor", "totp")
    return k.Request(params)


class FakeHost(k.Host):
    """The real Host logic (loader, accounts) over a fixture directory and synthetic accounts."""

    def __init__(self, directory, installed=None, users=(), groups=None, shadow=None, effective=None, version=(9, 2)):
        super().__init__(None)
        self.directory = directory
        self.installed = set(INSTALLED if installed is None else installed)
        self.users = list(users)
        self.groups = groups or {}
        self._shadow = shadow
        self.effective = effective if effective is not None else {"usepam": "yes", "permitrootlogin": "prohibit-password"}
        self.version = version

    @staticmethod
    def read_system(path):
        try:
            with open(path, "rb") as handle:
                return handle.read()
        except FileNotFoundError:
            return None

    def loader(self, service_dir):
        return super().loader(self.directory)

    def security_dir(self):
        return "/lib/x86_64-linux-gnu/security", "test"

    def module_exists(self, module):
        return _pam.module_basename(module) in self.installed

    def sshd(self, context=None):
        return self.version, self.effective, None

    def passwd(self):
        return self.users

    def group_members(self):
        by_gid = {gid: name for name, (gid, _members) in self.groups.items()}
        members = {}
        for name, (_gid, names) in self.groups.items():
            for member in names:
                members.setdefault(member, set()).add(name)
        return by_gid, members

    def shadow(self):
        return self._shadow


Pw = collections.namedtuple("Pw", "pw_name pw_passwd pw_uid pw_gid pw_gecos pw_dir pw_shell")


def plan_text(text, req, directory):
    host = FakeHost(os.path.join(FIXTURES, directory))
    wanted, baseline, the_plan, loader = k.compute(req, text, host)
    return wanted, baseline, the_plan, loader


def analyze(text, req, directory, accounts=None, installed=None):
    host = FakeHost(os.path.join(FIXTURES, directory), installed=installed)
    wanted, _baseline, the_plan, loader = k.compute(req, text, host)
    return wanted, k.analyze(the_plan.records, req, loader, req.path, host.module_exists, accounts)


# ---------------------------------------------------------------- planning on the real Debian files

BOOKWORM_AFTER = """# PAM configuration for the Secure Shell service

# Standard Un*x authentication.
@include common-auth
auth       required     pam_google_authenticator.so  # managed by fleetauth.ssh.pam_kbdint

# Disallow non-root logins when /etc/nologin exists.
"""


def test_bookworm_totp_after_password_exact_lines():
    original = read("bookworm/sshd")
    wanted, baseline, the_plan, _loader = plan_text(original, request(), "bookworm")
    assert baseline == original
    assert wanted.startswith(BOOKWORM_AFTER)
    assert wanted.replace("auth       required     pam_google_authenticator.so  # managed by fleetauth.ssh.pam_kbdint\n", "", 1) == original
    assert [r.text for r in the_plan.password_steps] == ["@include common-auth\n"]
    assert k.managed_lines(wanted) == [5]


CASES = [
    {},
    {"order": "before"},
    {"password_factor": "remove"},
    {"password_factor": "remove", "totp": {"nullok": True}},
    {"exempt": {"users": ["admin", "pwonly"], "groups": ["sudo"]}},
    {"order": "before", "exempt": {"groups": ["automation"]}, "totp": {"nullok": True, "secret": "/var/lib/ga/${USER}", "echo_verification_code": True}},
    {"password_factor": "remove", "exempt": {"groups": ["automation"]}},
    {"order": "before", "totp": {"forward_pass": True}},
    {"second_factor": "oath"},
    {"second_factor": "oath", "order": "before", "oath": {"usersfile": "/etc/users.oath", "window": 20, "digits": 6}},
    {"second_factor": "oath", "password_factor": "remove"},
    {"totp": {"authtok_prompt": "Your code [6 digits]: "}},
]


@pytest.mark.parametrize("suite", SUITES)
@pytest.mark.parametrize("case", CASES, ids=lambda c: json.dumps(c, sort_keys=True))
def test_plan_is_idempotent_and_none_restores_the_original_bytes(suite, case):
    original = read(suite + "/sshd")
    req = request(**case)
    wanted, baseline, _plan, _loader = plan_text(original, req, suite)
    assert baseline == original
    assert wanted != original
    _pam.parse(wanted)  # the result is valid PAM syntax
    again, _b, _p, _l = plan_text(wanted, req, suite)
    assert again == wanted  # second run: no change
    restored, _b, _p, _l = plan_text(wanted, request(second_factor="none"), suite)
    assert hashlib.sha256(restored.encode()).hexdigest() == hashlib.sha256(original.encode()).hexdigest()


@pytest.mark.parametrize("suite", SUITES)
def test_switching_between_configurations_goes_through_the_original(suite):
    original = read(suite + "/sshd")
    text = original
    for case in CASES:
        text, baseline, _plan, _loader = plan_text(text, request(**case), suite)
        assert baseline == original
        fresh, _b, _p, _l = plan_text(original, request(**case), suite)
        assert text == fresh


def test_remove_disables_exactly_the_password_step_and_keeps_other_stacks():
    original = read("bookworm/sshd")
    req = request(password_factor="remove", exempt={"groups": ["automation"]})
    wanted, _baseline, the_plan, loader = plan_text(original, req, "bookworm")
    assert "# disabled by fleetauth.ssh.pam_kbdint: @include common-auth\n" in wanted
    assert "\n@include common-auth\n" not in wanted
    records = _pam.parse(wanted)
    for rtype in ("account", "session", "password"):
        after = [(h.module, h.args, h.actions, h.level) for h in _pam.resolve(records, rtype, loader, "x")]
        before = [(h.module, h.args, h.actions, h.level) for h in _pam.resolve(_pam.parse(original), rtype, loader, "x")]
        assert after == before and after
    auth = [h.name for h in _pam.resolve(records, "auth", loader, "x")]
    assert auth == ["pam_succeed_if.so", "pam_google_authenticator.so", "pam_permit.so"]
    assert [line.split("#")[0].split() for line in the_plan.added] == [
        ["auth", "[success=1", "default=ignore]", "pam_succeed_if.so", "quiet", "user", "ingroup", "automation"],
        ["auth", "required", "pam_google_authenticator.so"],
        ["auth", "required", "pam_permit.so"],
    ]


def test_exempt_users_and_groups_jump_over_the_second_factor_only():
    req = request(order="before", exempt={"users": ["b", "a"], "groups": ["g2", "g1"]})
    lines = k.factor_lines(req)
    fields = [_pam.parse(line)[0] for line in lines]
    assert [f.args for f in fields] == [["quiet", "user", "in", "a:b"], ["quiet", "user", "ingroup", "g1:g2"], []]
    assert [f.actions["success"] for f in fields[:2]] == [2, 1]
    assert all(f.actions["auth_err"] == "ignore" for f in fields[:2])


def test_rhel_substack_is_the_password_step():
    original = read("rhel9/sshd")
    wanted, _b, the_plan, _l = plan_text(original, request(), "rhel9")
    assert [r.text.strip() for r in the_plan.password_steps] == ["auth       substack     password-auth"]
    lines = wanted.splitlines()
    assert lines[1] == "auth       substack     password-auth"
    assert lines[2].startswith("auth       required     pam_google_authenticator.so")
    assert lines[3] == "auth       include      postlogin"
    removed, _b, _p, _l = plan_text(original, request(password_factor="remove"), "rhel9")
    assert removed.splitlines()[1] == "# disabled by fleetauth.ssh.pam_kbdint: auth       substack     password-auth"
    assert "account    include      password-auth" in removed and "session    include      password-auth" in removed


def test_rhel7_keeps_sepermit_and_reauthorize():
    original = read("rhel7/sshd")
    wanted, _b, _p, loader = plan_text(original, request(password_factor="remove"), "rhel7")
    auth = [h.name for h in _pam.resolve(_pam.parse(wanted), "auth", loader, "x")]
    assert auth == ["pam_sepermit.so", "pam_google_authenticator.so", "pam_reauthorize.so"]


def test_file_without_trailing_newline_gets_its_bytes_back():
    original = "#%PAM-1.0\nauth required pam_unix.so"
    wanted, _b, _p, _l = plan_text(original, request(), "bookworm")
    assert wanted == "#%PAM-1.0\nauth required pam_unix.so\nauth       required     pam_google_authenticator.so  # managed by fleetauth.ssh.pam_kbdint"
    assert k.strip_managed(wanted)[0] == original
    again, _b, _p, _l = plan_text(wanted, request(), "bookworm")
    assert again == wanted


def test_empty_file_and_file_with_only_comments():
    for original in ("", "# nothing here\n"):
        wanted, _b, _p, _l = plan_text(original, request(order="before"), "bookworm")
        assert wanted.endswith("pam_google_authenticator.so  # managed by fleetauth.ssh.pam_kbdint\n")
        assert k.strip_managed(wanted)[0] == original


def test_unusual_file_keeps_every_byte():
    original = read("unusual/sshd")
    wanted, baseline, the_plan, _l = plan_text(original, request(password_factor="remove"), "unusual")
    assert baseline == original
    assert [r.lineno for r in the_plan.password_steps] == [2]
    assert k.strip_managed(wanted)[0] == original


# ---------------------------------------------------------------- what survives people editing the file


def managed_bookworm(**case):
    original = read("bookworm/sshd")
    wanted, _b, _p, _l = plan_text(original, request(**case), "bookworm")
    return original, wanted


@pytest.mark.parametrize(
    "edit",
    [
        lambda t: t.replace("auth       required     pam_google_authenticator.so nullok  #", "auth\trequired\tpam_google_authenticator.so nullok debug #"),
        lambda t: t.replace("  # managed by fleetauth.ssh.pam_kbdint", " #managed by fleetauth.ssh.pam_kbdint (do not edit)"),
        lambda t: t.replace("auth       required     pam_google_authenticator.so", "#auth required pam_google_authenticator.so"),
        lambda t: t.replace("auth       required     pam_google_authenticator.so", "auth requird pam_google_authenticator.so"),  # broken by hand
        lambda t: t.replace("auth       required     pam_google_authenticator.so nullok  #", "auth required \\\n  pam_google_authenticator.so nullok #"),
        lambda t: t.replace("# disabled by fleetauth", "   # disabled by fleetauth"),
    ],
)
def test_human_edits_of_managed_lines_still_strip_to_the_original(edit):
    original, wanted = managed_bookworm(password_factor="remove", totp={"nullok": True})
    edited = edit(wanted)
    assert edited != wanted
    assert k.strip_managed(edited)[0] == original
    restored, _b, _p, _l = plan_text(edited, request(second_factor="none"), "bookworm")
    assert restored == original


def test_a_moved_managed_line_is_put_back():
    original, wanted = managed_bookworm()
    line = "auth       required     pam_google_authenticator.so  # managed by fleetauth.ssh.pam_kbdint\n"
    moved = wanted.replace(line, "") + line
    again, _b, _p, _l = plan_text(moved, request(), "bookworm")
    assert again == wanted
    assert k.strip_managed(moved)[0] == original


def test_a_second_factor_line_without_the_marker_is_refused_not_duplicated():
    _original, wanted = managed_bookworm()
    unmarked = wanted.replace("  # managed by fleetauth.ssh.pam_kbdint", "")
    with pytest.raises(k.Refusal) as info:
        plan_text(unmarked, request(), "bookworm")
    assert "already has a second factor this module did not add" in str(info.value)
    assert "line 5" in str(info.value)
    # second_factor=none leaves a line it does not own alone
    restored, _b, _p, _l = plan_text(unmarked, request(second_factor="none"), "bookworm")
    assert restored == unmarked


def test_second_factor_in_an_included_file_is_found():
    text = "@include common-auth\n"
    host = FakeHost("/nonexistent")
    files = {"common-auth": "auth required pam_unix.so\nauth required pam_oath.so usersfile=/etc/users.oath\n"}
    host.loader = lambda _d: lambda name: (name, _pam.parse(files[name])) if name in files else None
    with pytest.raises(k.Refusal) as info:
        k.compute(request(), text, host)
    assert "common-auth line 2" in str(info.value)


@given(st.text(alphabet=st.sampled_from(list("auth required pam_x.so #\\\n\t[]@include managed by fleetauth.ssh.pam_kbdint disabled:")), max_size=200))
@settings(max_examples=300, deadline=None)
def test_strip_managed_never_changes_a_file_without_the_marker(text):
    if k.MARK in text:
        stripped = k.strip_managed(text)[0]
        assert k.MARK not in stripped or "disabled" in text
    else:
        assert k.strip_managed(text) == (text, 0, 0)


# ---------------------------------------------------------------- refusals


@pytest.mark.parametrize("suite", SUITES)
def test_remove_password_without_second_factor_is_refused_as_empty(suite):
    with pytest.raises(k.Refusal) as info:
        analyze(read(suite + "/sshd"), request(second_factor="none", password_factor="remove"), suite)
    assert "would be empty after removing the password step" in str(info.value)


def test_rhel7_remove_without_second_factor_would_need_no_credential():
    with pytest.raises(k.Refusal) as info:
        analyze(read("rhel7/sshd"), request(second_factor="none", password_factor="remove"), "rhel7")
    assert "without checking any credential" in str(info.value)


def test_only_pam_deny_always_fails():
    with pytest.raises(k.Refusal) as info:
        analyze("auth requisite pam_deny.so\n", request(), "bookworm")
    assert "would always fail" in str(info.value)


def test_a_missing_module_in_the_stack_is_named():
    with pytest.raises(k.Refusal) as info:
        analyze("@include common-auth\n", request(), "bookworm", installed=INSTALLED - {"pam_unix.so"})
    assert "would always fail" in str(info.value) and "pam_unix.so" in str(info.value)


def test_include_style_rhel_after_is_a_bypass_but_before_is_fine():
    with pytest.raises(k.Refusal) as info:
        analyze(read("include-style/sshd"), request(), "include-style")
    assert "could be skipped" in str(info.value) and "order=before" in str(info.value)
    _wanted, info = analyze(read("include-style/sshd"), request(order="before"), "include-style")
    assert info["auth_stack"][0].endswith("pam_google_authenticator.so  # managed by fleetauth.ssh.pam_kbdint")


def test_include_with_other_types_cannot_be_removed():
    text = "@include common-both\n"
    host = FakeHost("/nonexistent")
    files = {"common-both": "auth required pam_unix.so\naccount required pam_unix.so\n"}
    host.loader = lambda _d: lambda name: (name, _pam.parse(files[name])) if name in files else None
    with pytest.raises(k.Refusal) as info:
        k.compute(request(password_factor="remove"), text, host)
    assert "also brings account lines" in str(info.value)


@pytest.mark.parametrize(
    "text,reason",
    [
        (read("bookworm/sshd").replace("\n", "\r\n"), "carriage return"),
        (read("hostile/unknown-control"), "unknown control 'mandatory'"),
        (read("hostile/continuation-at-eof"), "continuation at the end of the file"),
        (read("hostile/binary"), "NUL byte"),
        ("@include common-auth\nsession weird pam_x.so\n", "unknown control 'weird'"),
    ],
)
def test_unknown_syntax_anywhere_is_refused(text, reason):
    with pytest.raises(k.Refusal) as info:
        plan_text(text, request(), "bookworm")
    assert reason in str(info.value) and "Nothing was written" in str(info.value)


def test_unknown_syntax_in_an_included_file_is_refused(tmp_path):
    (tmp_path / "common-auth").write_text("auth [success=1 default=ignore] pam_unix.so\nauth sometimes pam_deny.so\n")
    with pytest.raises(k.Refusal) as info:
        k.compute(request(), "@include common-auth\n", FakeHost(str(tmp_path)))
    assert "included PAM file" in str(info.value) and "common-auth line 2: unknown control 'sometimes'" in str(info.value)


# ---------------------------------------------------------------- lock-out analysis


def accounts(*specs):
    return [k.Account(name, exempt=exempt, state=state, reason=reason) for name, exempt, state, reason in specs]


@pytest.mark.parametrize("suite", SUITES)
@pytest.mark.parametrize(
    "case,locked",
    [
        ({}, ["pwonly"]),
        ({"totp": {"nullok": True}}, ["bad"]),
        ({"password_factor": "remove"}, ["pwonly"]),
        ({"password_factor": "remove", "totp": {"nullok": True}}, ["bad"]),
        ({"exempt": {"users": ["pwonly"]}}, None),
    ],
)
def test_lockout(suite, case, locked):
    people = [("mfa", False, "ok", None), ("admin", True, "ok", None), ("pwonly", False, "missing", "no /home/pwonly/.google_authenticator")]
    if locked == ["bad"]:
        people.append(("bad", False, "unusable", "/home/bad/.google_authenticator has mode 0644"))
    if case.get("exempt"):
        people[2] = ("pwonly", True, "missing", None)
    req = request(**case)
    if locked:
        with pytest.raises(k.Refusal) as info:
            analyze(read(suite + "/sshd"), req, suite, accounts(*people))
        message = str(info.value)
        for name in locked:
            assert name in message
        assert "mfa" not in message.split("log in:")[1]
        assert "Nothing was written" in message
    else:
        _wanted, info = analyze(read(suite + "/sshd"), req, suite, accounts(*people))
        assert info["checked_users"] == ["admin", "mfa", "pwonly"]
        assert info["exempt_users"] == ["admin", "pwonly"]


def test_oath_users_without_an_entry_are_locked_out():
    people = accounts(("alice", False, "ok", None), ("bob", False, "missing", "no entry in /etc/users.oath"))
    with pytest.raises(k.Refusal) as info:
        analyze(read("bookworm/sshd"), request(second_factor="oath"), "bookworm", people)
    assert "bob (no entry in /etc/users.oath)" in str(info.value) and "alice" not in str(info.value)


def test_nullok_users_are_reported():
    people = accounts(("alice", False, "ok", None), ("bob", False, "missing", "no file"))
    _wanted, info = analyze(read("bookworm/sshd"), request(totp={"nullok": True}), "bookworm", people)
    assert info["users_without_second_factor"] == ["bob"]


# ---------------------------------------------------------------- options


@pytest.mark.parametrize(
    "params,message",
    [
        ({"totp": {"forward_pass": True}}, "needs order=before"),
        ({"totp": {"forward_pass": True}, "order": "before", "password_factor": "remove"}, "use one or the other"),
        ({"totp": {"secret": "relative/path"}}, "totp.secret must be an absolute path"),
        ({"totp": {"authtok_prompt": "code # here"}}, "cannot contain '#'"),
        ({"exempt": {"users": ["a b"]}}, "not a valid name"),
        ({"exempt": {"groups": ["a:b"]}}, "not a valid name"),
        ({"second_factor": "oath", "oath": {"usersfile": "users.oath"}}, "oath.usersfile must be an absolute path"),
        ({"second_factor": "oath", "oath": {"digits": 5}}, "oath.digits must be 6, 7 or 8"),
        ({"module_path": "pam thing.so"}, "cannot contain blanks"),
        ({"module_path": "google"}, "must name a PAM module file"),
        ({"path": "etc/pam.d/sshd"}, "path must be absolute"),
    ],
)
def test_invalid_options(params, message):
    with pytest.raises(k.Refusal) as info:
        request(**params)
    assert message in str(info.value)


def test_second_factor_none_ignores_factor_options():
    req = request(second_factor="none", exempt={"users": ["a"]}, totp={"nullok": True})
    assert not req.exempt and req.args == [] and k.factor_lines(req) == []


def test_module_args_and_bracket_quoting():
    req = request(totp={"nullok": True, "secret": "/var/lib/ga/${USER}", "echo_verification_code": True, "authtok_prompt": "Code: "})
    assert req.args == ["nullok", "secret=/var/lib/ga/${USER}", "echo_verification_code", "authtok_prompt=Code: "]
    line = k.factor_lines(req)[0]
    assert "[authtok_prompt=Code: ]" in line
    assert _pam.parse(line)[0].args == req.args
    oath = request(second_factor="oath", oath={"window": 20, "digits": 8})
    assert oath.args == ["usersfile=/etc/users.oath", "window=20", "digits=8"]


# ---------------------------------------------------------------- sshd requirements


EFFECTIVE_STOCK = {"usepam": "yes", "kbdinteractiveauthentication": "no", "challengeresponseauthentication": "no", "authenticationmethods": "any"}


@pytest.mark.parametrize(
    "version,effective,case,unmet",
    [
        ((9, 2), EFFECTIVE_STOCK, {}, ["KbdInteractiveAuthentication yes", "AuthenticationMethods publickey,keyboard-interactive"]),
        ((8, 4), EFFECTIVE_STOCK, {}, ["ChallengeResponseAuthentication yes", "ChallengeResponseAuthentication yes (sshd says kbd", "AuthenticationMethods"]),
        (
            (8, 4),
            dict(
                EFFECTIVE_STOCK,
                challengeresponseauthentication="yes",
                kbdinteractiveauthentication="yes",
                authenticationmethods="publickey,keyboard-interactive",
            ),
            {},
            [],
        ),
        ((10, 0), dict(EFFECTIVE_STOCK, kbdinteractiveauthentication="yes", authenticationmethods="publickey,keyboard-interactive:pam"), {}, []),
        ((9, 2), dict(EFFECTIVE_STOCK, kbdinteractiveauthentication="yes", authenticationmethods="keyboard-interactive"), {}, []),
        (
            (9, 2),
            dict(EFFECTIVE_STOCK, kbdinteractiveauthentication="yes", authenticationmethods="keyboard-interactive"),
            {"password_factor": "remove"},
            ["code alone"],
        ),
        (
            (9, 2),
            dict(EFFECTIVE_STOCK, kbdinteractiveauthentication="yes", authenticationmethods="publickey publickey,keyboard-interactive"),
            {},
            ["skips keyboard-interactive"],
        ),
        (
            (9, 2),
            dict(EFFECTIVE_STOCK, usepam="no", kbdinteractiveauthentication="yes", authenticationmethods="publickey,keyboard-interactive"),
            {},
            ["UsePAM yes"],
        ),
    ],
)
def test_sshd_requirements(version, effective, case, unmet):
    report = k.sshd_requirements(request(**case), version, effective)
    assert report["satisfied"] is (not unmet)
    assert len(report["unmet"]) == len(unmet)
    for got, want in zip(report["unmet"], unmet):
        assert want in got
    keyword = "KbdInteractiveAuthentication" if version >= (8, 7) else "ChallengeResponseAuthentication"
    assert report["settings"] == {"UsePAM": "yes", keyword: "yes", "AuthenticationMethods": "publickey,keyboard-interactive"}
    assert report["sshd_auth_methods"] == {"use_pam": True, "kbdint": "enabled", "authentication_methods": [["publickey", "keyboard-interactive"]]}


@pytest.mark.parametrize(
    "case,prompts",
    [
        ({}, ["Password: ", "Verification code: "]),
        ({"order": "before"}, ["Verification code: ", "Password: "]),
        ({"password_factor": "remove"}, ["Verification code: "]),
        ({"order": "before", "totp": {"forward_pass": True}}, ["Password & verification code: "]),
        ({"second_factor": "oath"}, ["Password: ", "One-time password (OATH) for `USER': "]),
    ],
)
def test_prompts(case, prompts):
    assert k.sshd_requirements(request(**case), (9, 2), EFFECTIVE_STOCK)["prompts"] == prompts


def test_sshd_unavailable_and_second_factor_none():
    report = k.sshd_requirements(request(), None, None, "sshd not found")
    assert report["satisfied"] is None and report["error"] == "sshd not found"
    assert k.sshd_requirements(request(second_factor="none"), (9, 2), EFFECTIVE_STOCK) == {
        "version": "9.2",
        "settings": {},
        "sshd_auth_methods": {},
        "unmet": [],
        "satisfied": True,
    }


# ---------------------------------------------------------------- probing the host (real files, no fakes)


def test_secret_state_checks_like_pam_google_authenticator(tmp_path):
    uid = os.getuid()
    good = tmp_path / "good"
    good.write_text("SECRET\n")
    good.chmod(0o400)
    assert k.secret_state(str(good), uid) == ("ok", None)
    loose = tmp_path / "loose"
    loose.write_text("SECRET\n")
    loose.chmod(0o644)
    assert k.secret_state(str(loose), uid)[0] == "unusable" and "0644" in k.secret_state(str(loose), uid)[1]
    assert k.secret_state(str(good), uid + 1)[0] == "unusable"
    empty = tmp_path / "empty"
    empty.write_text("")
    empty.chmod(0o600)
    assert k.secret_state(str(empty), uid)[0] == "unusable"
    link = tmp_path / "link"
    link.symlink_to(good)
    state, reason = k.secret_state(str(link), uid)
    assert state == "unusable" and "symbolic link" in reason
    assert k.secret_state(str(tmp_path / "absent"), uid) == ("missing", "no %s" % (tmp_path / "absent"))
    directory = tmp_path / "dir"
    directory.mkdir()
    assert k.secret_state(str(directory), uid)[0] == "unusable"
    assert k.secret_state(str(good / "below-a-file"), uid)[0] == "missing"


@pytest.mark.parametrize(
    "spec,path",
    [
        ("~/.google_authenticator", "/home/u/.google_authenticator"),
        ("${HOME}/.ga", "/home/u/.ga"),
        ("/var/lib/ga/${USER}", "/var/lib/ga/u"),
        ("/var/lib/ga/~/x", "/var/lib/ga//home/u/x"),
        ("/x~y", "/x~y"),
    ],
)
def test_expand_secret_path(spec, path):
    assert k.expand_secret_path(spec, "u", "/home/u") == path


def test_usersfile_names_keep_only_names():
    data = b"# comment\nHOTP/T30/6 alice - 3132333435363738393031323334353637383930\n\nHOTP bob 1234 00 1 2020-01-01T00:00:00L\nbroken\n"
    assert k.usersfile_names(data) == {"alice", "bob"}


@pytest.mark.parametrize(
    "name,groups,effective,allowed",
    [
        ("alice", {"alice"}, {}, True),
        ("alice", {"alice"}, {"denyusers": ["alice"]}, False),
        ("alice", {"alice"}, {"denyusers": ["al*"]}, False),
        ("alice", {"alice"}, {"denyusers": ["alice@10.0.0.1"]}, True),  # only from one host
        ("alice", {"alice"}, {"allowusers": ["bob"]}, False),
        ("alice", {"alice"}, {"allowusers": ["bob", "alice@10.0.0.0/8"]}, True),
        ("alice", {"alice"}, {"allowusers": ["a?ice"]}, True),
        ("alice", {"alice", "sudo"}, {"denygroups": ["sudo"]}, False),
        ("alice", {"alice"}, {"allowgroups": ["sshusers"]}, False),
        ("alice", {"alice", "sshusers"}, {"allowgroups": ["ssh*"]}, True),
        ("alice", {"alice"}, {"allowusers": "alice bob"}, True),
    ],
)
def test_sshd_allows(name, groups, effective, allowed):
    assert k.sshd_allows(name, groups, effective) is allowed


def test_security_dir_from_libpam_bytes():
    data = b"\x00garbage\x00%s%s\x00/lib/x86_64-linux-gnu/security/\x00/etc/pam.d\x00"
    assert k.security_dir_from_libpam(data) == ["/lib/x86_64-linux-gnu/security/"]


@pytest.mark.skipif(not any(os.path.exists(os.path.join(d, "libpam.so.0")) for d in k.library_dirs()), reason="no libpam on this machine")
def test_real_host_security_dir_and_module_check():
    host = k.Host()
    directory, how = host.security_dir()
    assert os.path.isfile(os.path.join(directory, "pam_unix.so")), how
    assert host.module_exists("pam_unix.so")
    assert not host.module_exists("pam_fleetauth_not_installed.so")
    assert host.module_exists(os.path.join(directory, "pam_permit.so"))
    assert host.module_exists("pam_google_authenticator.so") == os.path.isfile(os.path.join(directory, "pam_google_authenticator.so"))


def test_host_accounts_with_real_secret_files(tmp_path):
    uid = 4242 if os.geteuid() == 0 else os.getuid()  # uid 0 would be root, which sshd treats apart
    homes = {}
    for name in ("mfa", "nosecret", "loose", "locked", "keyonly", "nologin", "exempted"):
        homes[name] = tmp_path / name
        homes[name].mkdir()
    (homes["mfa"] / ".google_authenticator").write_text("S\n")
    (homes["mfa"] / ".google_authenticator").chmod(0o400)
    (homes["loose"] / ".google_authenticator").write_text("S\n")
    (homes["loose"] / ".google_authenticator").chmod(0o644)
    for name in ("mfa", "loose"):
        os.chown(homes[name] / ".google_authenticator", uid, -1)
    (homes["keyonly"] / ".ssh").mkdir()
    (homes["keyonly"] / ".ssh" / "authorized_keys").write_text("ssh-ed25519 AAAA\n")
    users = [
        Pw("root", "x", 0, 0, "", str(tmp_path), "/bin/bash"),
        Pw("mfa", "x", uid, 1001, "", str(homes["mfa"]), "/bin/bash"),
        Pw("nosecret", "x", uid, 1002, "", str(homes["nosecret"]), ""),
        Pw("loose", "x", uid, 1003, "", str(homes["loose"]), "/bin/zsh"),
        Pw("locked", "x", uid, 1004, "", str(homes["locked"]), "/bin/bash"),
        Pw("keyonly", "x", uid, 1005, "", str(homes["keyonly"]), "/bin/bash"),
        Pw("nologin", "x", uid, 1006, "", str(homes["nologin"]), "/usr/sbin/nologin"),
        Pw("exempted", "x", uid, 1007, "", str(homes["exempted"]), "/bin/bash"),
    ]
    shadow = {"root": True, "mfa": True, "nosecret": True, "loose": True, "locked": False, "keyonly": False, "nologin": True, "exempted": True}
    host = FakeHost("/nonexistent", users=users, groups={"automation": (2000, ["exempted"])}, shadow=shadow)
    got = {a.name: (a.exempt, a.state) for a in host.accounts(request(exempt={"groups": ["automation"]}), host.effective)}
    assert got == {
        "mfa": (False, "ok"),
        "nosecret": (False, "missing"),
        "loose": (False, "unusable"),
        "keyonly": (False, "missing"),
        "exempted": (True, "ok"),
    }
    with_root = dict(host.effective, permitrootlogin="yes")
    assert "root" in {a.name for a in host.accounts(request(), with_root)}
    assert "mfa" not in {a.name for a in host.accounts(request(), dict(host.effective, denyusers=["m*"]))}
    assert {a.name for a in host.accounts(request(), dict(host.effective, allowgroups=["automation"]))} == {"exempted"}


def test_host_accounts_oath_usersfile(tmp_path):
    usersfile = tmp_path / "users.oath"
    usersfile.write_text("HOTP/T30/6 alice - 00\n")
    users = [Pw("alice", "x", 1, 1, "", "/home/alice", "/bin/sh"), Pw("bob", "x", 2, 2, "", "/home/bob", "/bin/sh")]
    host = FakeHost("/nonexistent", users=users, shadow={"alice": True, "bob": True})
    got = {a.name: (a.state, a.reason) for a in host.accounts(request(second_factor="oath", oath={"usersfile": str(usersfile)}), host.effective)}
    assert got == {"alice": ("ok", None), "bob": ("missing", "no entry in %s" % usersfile)}
    missing = {a.name: a.state for a in host.accounts(request(second_factor="oath", oath={"usersfile": str(tmp_path / "none")}), host.effective)}
    assert missing == {"alice": "missing", "bob": "missing"}


def test_real_loader_follows_includes_and_reports_unknown_syntax(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("the loader only reads root-owned files")
    shutil.copy(os.path.join(FIXTURES, "bookworm", "common-auth"), tmp_path / "common-auth")
    os.symlink("common-auth", tmp_path / "linked-auth")
    (tmp_path / "broken").write_text("auth sometimes pam_unix.so\n")
    load = k.Host().loader(str(tmp_path))
    path, records = load("linked-auth")
    assert path == str(tmp_path / "linked-auth") and len([r for r in records if r.kind == "rule"]) == 3
    assert load("absent") is None
    with pytest.raises(k.Refusal) as info:
        load("broken")
    assert "unknown control 'sometimes'" in str(info.value)
    (tmp_path / "writable").write_text("auth required pam_unix.so\n")
    (tmp_path / "writable").chmod(0o666)
    with pytest.raises(k.Refusal) as info:
        load("writable")
    assert "writable by others" in str(info.value)


PIECES = [
    "#%PAM-1.0\n",
    "# a comment\n",
    "\n",
    "   \t\n",
    "@include common-auth\n",
    "@include common-account\n",
    "auth required pam_env.so\n",
    "auth [success=1 default=ignore] pam_unix.so nullok\n",
    "auth requisite pam_deny.so\n",
    "auth\tsubstack\tpassword-auth\n",
    "auth include postlogin\n",
    "-auth optional pam_reauthorize.so prepare\n",
    "account required pam_nologin.so\n",
    "session optional pam_motd.so motd=/run/motd.dynamic # [1]\n",
    "session required \\\n    pam_limits.so\n",
    "password include common-password\n",
    "auth optional pam_echo.so [a b \\] c]\n",
]


@given(st.lists(st.sampled_from(PIECES), max_size=12), st.booleans(), st.sampled_from(CASES[:8] + [{"second_factor": "none"}]))
@settings(max_examples=300, deadline=None)
def test_any_file_plans_idempotently_and_strips_back_to_its_bytes(pieces, chop_newline, case):
    original = "".join(pieces)
    if chop_newline and original.endswith("\n"):
        original = original[:-1]
    if original.rstrip(" \t").endswith("\\"):  # a continuation at the end: refused elsewhere
        return
    req = request(**case)
    host = FakeHost("/nonexistent")
    try:
        wanted, baseline, _plan, _loader = k.compute(req, original, host)
    except k.Refusal as exc:
        assert "which does not exist" in str(exc) and req.removes_password
        return
    assert baseline == original
    assert k.strip_managed(wanted)[0] == original
    assert k.compute(req, wanted, host)[0] == wanted
    assert k.compute(request(second_factor="none"), wanted, host)[0] == original
