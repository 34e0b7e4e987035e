# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The pure diagnosis (_diagnose.diagnose) on hand-made facts: one cause at a time, ranking, the verdict line.

PAM stacks are the real Debian/RHEL fixture files, parsed and resolved by _pam;
the effective settings are what ``sshd -T -C`` prints on bookworm.
"""

from __future__ import annotations

import copy
import os

import pytest

from ansible_collections.fleetauth.ssh.plugins.module_utils import _diagnose as d
from ansible_collections.fleetauth.ssh.plugins.module_utils import _pam

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "pam")
KEY_FP = "SHA256:IuQbBh/1TF/LkoXAgWxexuxKZxIWUHyPocIzrl4jwlU"
OTHER_FP = "SHA256:" + "B" * 43
AK = "/home/mfa/.ssh/authorized_keys"
GA_LINE = "auth required pam_google_authenticator.so\n"
TODAY = 20000

EFFECTIVE = {
    "pubkeyauthentication": "yes",
    "passwordauthentication": "yes",
    "kbdinteractiveauthentication": "no",
    "authenticationmethods": "any",
    "usepam": "yes",
    "permitrootlogin": "prohibit-password",
    "permitemptypasswords": "no",
    "maxauthtries": "6",
    "strictmodes": "yes",
    "authorizedkeysfile": [".ssh/authorized_keys .ssh/authorized_keys2"],
    "authorizedkeyscommand": "none",
    "trustedusercakeys": "none",
    "pubkeyacceptedalgorithms": "ssh-ed25519,ecdsa-sha2-nistp256,rsa-sha2-512,rsa-sha2-256",
}
MFA = {"kbdinteractiveauthentication": "yes", "authenticationmethods": "publickey,keyboard-interactive"}


def fixture_dir(suite):
    return os.path.join(FIXTURES, suite)


def pam_stacks(suite="bookworm", service_text=None, missing=(), totp=None):
    """The sshd service of *suite* (or *service_text*) resolved like libpam, with installed-module and TOTP facts."""
    directory = fixture_dir(suite)
    if service_text is None:
        with open(os.path.join(directory, "sshd"), encoding="utf-8") as handle:
            service_text = handle.read()

    def loader(name):
        path = os.path.join(directory, os.path.basename(name))
        if not os.path.exists(path):
            return None
        with open(path, encoding="utf-8") as handle:
            return path, _pam.parse(handle.read(), source=path)

    records = _pam.parse(service_text, source="/etc/pam.d/sshd")
    out = {"path": "/etc/pam.d/sshd", "error": None, "exists": {}, "totp": {}}
    for stack in ("auth", "account", "session"):
        out[stack] = _pam.resolve(records, stack, loader, "/etc/pam.d/sshd")
        for handler in out[stack]:
            if handler.kind == "module":
                out["exists"][handler.module] = handler.name not in missing
    for index, handler in enumerate(out["auth"]):
        if handler.name == "pam_google_authenticator.so":
            out["totp"][index] = dict(totp or {"path": "/home/mfa/.google_authenticator", "state": "ok", "reason": None})
    return out


def with_ga(suite="bookworm", args=""):
    with open(os.path.join(fixture_dir(suite), "sshd"), encoding="utf-8") as handle:
        text = handle.read()
    line = GA_LINE if not args else GA_LINE.replace(".so", ".so " + args)
    return text.replace("@include common-auth\n", "@include common-auth\n" + line, 1)


def entry(fingerprint=KEY_FP, usable=True, path=AK, line=1, **extra):
    out = {"file": path, "line": line, "type": "ssh-ed25519", "bits": 256, "fingerprint": fingerprint, "comment": "mfa@laptop", "usable": usable}
    out.update(extra)
    return out


def facts(user="mfa", effective=None, keys=None, pam="default", shadow=None, wanted=None, **values):
    eff = dict(EFFECTIVE, **(effective or {}))
    values.setdefault("account", {"name": user, "uid": 1001, "gid": 1001, "home": "/home/%s" % user, "shell": "/bin/bash"})
    values.setdefault("groups", [user])
    values.setdefault("shell", {"path": "/bin/bash", "exists": True, "regular": True, "executable": True})
    values.setdefault("version", (9, 2))
    values.setdefault("today", TODAY)
    values.setdefault("context", d.connection_context(user))
    values.setdefault(
        "origins",
        {
            "kbdinteractiveauthentication": "/etc/ssh/sshd_config line 62",
            "usepam": "/etc/ssh/sshd_config line 86",
        },
    )
    if keys is None:
        keys = {
            "paths": [AK, AK + "2"],
            "files": [{"path": AK, "status": "ok", "mode": "0600", "owner_uid": 1001}],
            "entries": [entry()],
            "findings": [],
            "command": None,
            "strict_rule": "debian",
            "key_dir": True,
        }
    if pam == "default":
        pam = pam_stacks()
    return d.Facts(
        user,
        effective=eff,
        keys=keys,
        pam=pam,
        shadow=shadow if shadow is not None else {"state": "set", "lastchg": TODAY - 10, "max": 99999, "inactive": None, "expire": None},
        wanted=wanted,
        **values,
    )


def mfa_facts(**kw):
    kw.setdefault("pam", pam_stacks(service_text=with_ga()))
    kw["effective"] = dict(MFA, **(kw.get("effective") or {}))
    kw.setdefault("wanted", {"fingerprint": KEY_FP, "type": "ssh-ed25519", "given": "public_key"})
    return facts(**kw)


def strict_keys():
    return {
        "paths": [AK, AK + "2"],
        "files": [{"path": AK, "status": "ok", "mode": "0600", "owner_uid": 1001}],
        "entries": [entry(usable=False)],
        "findings": [
            {
                "severity": "high",
                "kind": "strict_modes",
                "user": "mfa",
                "file": AK,
                "line": None,
                "fingerprint": None,
                "message": "StrictModes: the directory /home/mfa/.ssh is group- and world-writable (mode 0777), so sshd ignores " + AK,
                "path": "/home/mfa/.ssh",
                "mode": "0777",
                "owner_uid": 1001,
            }
        ],
        "command": None,
        "strict_rule": "debian",
    }


def split_keys():
    message = "the ssh-ed25519 key %s is split over lines 1-2 (a paste broke it); sshd reads none of it" % KEY_FP
    finding = {"severity": "medium", "kind": "invalid", "reason": "split_key", "user": "mfa", "file": AK, "line": 1, "end_line": 2}
    finding.update({"fingerprint": KEY_FP, "message": message})
    return {
        "paths": [AK, AK + "2"],
        "files": [{"path": AK, "status": "ok"}],
        "entries": [],
        "findings": [finding, dict(finding, line=2)],
        "command": None,
        "strict_rule": "debian",
    }


# ------------------------------------------------------------------ the eight causes of the issue, and the control


SEEDED = [
    ("healthy", mfa_facts, None, "ok", "no problem found"),
    ("wrong permissions", lambda: mfa_facts(keys=strict_keys()), "wrong_permissions", "denied", "wrong permissions"),
    (
        "key missing",
        lambda: mfa_facts(keys=dict(strict_keys(), findings=[], entries=[entry(OTHER_FP)])),
        "key_missing",
        "denied",
        "key missing",
    ),
    ("key split", lambda: mfa_facts(keys=split_keys()), "key_split", "denied", "split"),
    (
        "password auth off",
        lambda: facts(
            effective={"authenticationmethods": "publickey,password", "passwordauthentication": "no"},
            origins={"passwordauthentication": "/etc/ssh/sshd_config.d/05-seed.conf line 1"},
            wanted={"fingerprint": KEY_FP, "type": "ssh-ed25519", "given": "public_key"},
        ),
        "password_auth_off",
        "denied",
        "PasswordAuthentication no",
    ),
    ("kbdint off", lambda: mfa_facts(effective={"kbdinteractiveauthentication": "no"}), "kbdint_off", "denied", "KbdInteractiveAuthentication no"),
    ("denyusers", lambda: mfa_facts(effective={"denyusers": ["root", "mfa"]}), "user_in_denyusers", "denied", "DenyUsers"),
    (
        "no totp secret",
        lambda: mfa_facts(pam=pam_stacks(service_text=with_ga(), totp={"path": "/home/mfa/.google_authenticator", "state": "missing", "reason": "no"})),
        "totp_secret_missing",
        "denied",
        "no TOTP secret",
    ),
    (
        "account locked",
        lambda: mfa_facts(shadow={"state": "locked", "lastchg": TODAY - 1, "max": None, "inactive": None, "expire": None}),
        "account_locked",
        "denied",
        "account locked",
    ),
]


@pytest.mark.parametrize(("name", "make", "cause", "status", "words"), SEEDED, ids=[s[0] for s in SEEDED])
def test_each_seeded_cause_is_named(name, make, cause, status, words):
    result = d.diagnose(make())
    assert result["cause"] == cause, (name, result["verdict"])
    assert result["status"] == status
    assert words in result["verdict"]
    if cause:
        first = result["findings"][0]
        assert first["id"] == cause and first["blocking"] and first["severity"] == "high"
        assert first["found"] and first["why"] and first["fix"]
        assert result["verdict"].startswith("login denied for mfa: ")
    else:
        assert result["verdict"] == "no problem found: mfa can log in with publickey,keyboard-interactive"
        assert not [f for f in result["findings"] if f["blocking"]]


@pytest.mark.parametrize("with_key", [True, False])
def test_causes_found_without_the_key_too(with_key):
    wanted = {"fingerprint": KEY_FP, "type": "ssh-ed25519", "given": "fingerprint"} if with_key else None
    assert d.diagnose(mfa_facts(keys=strict_keys(), wanted=wanted))["cause"] == "wrong_permissions"
    assert d.diagnose(mfa_facts(keys=split_keys(), wanted=wanted))["cause"] == "key_split"
    empty = dict(strict_keys(), findings=[], entries=[])
    assert d.diagnose(mfa_facts(keys=empty, wanted=wanted))["cause"] == "key_missing"


def test_fix_names_file_and_line_of_the_setting():
    result = d.diagnose(mfa_facts(effective={"kbdinteractiveauthentication": "no"}, origins={"kbdinteractiveauthentication": "/etc/ssh/x.conf line 3"}))
    first = result["findings"][0]
    assert first["where"] == "/etc/ssh/x.conf line 3"
    assert "KbdInteractiveAuthentication yes` at /etc/ssh/x.conf line 3" in first["fix"]
    assert "AuthenticationMethods publickey,keyboard-interactive requires it" in first["why"]


def test_compiled_in_default_gets_a_drop_in_fix():
    result = d.diagnose(facts(user="pwonly", keys=_no_keys(), effective={"passwordauthentication": "no"}, origins={}))
    assert result["cause"] == "password_auth_off"
    assert "00-local.conf" in result["findings"][0]["fix"]


def test_legacy_keyword_before_8_7():
    result = d.diagnose(
        mfa_facts(version=(8, 4), effective={"kbdinteractiveauthentication": "no", "challengeresponseauthentication": "no"}, origins={}),
    )
    assert result["cause"] == "kbdint_off"
    assert "ChallengeResponseAuthentication" in result["verdict"]
    enabled = d.diagnose(mfa_facts(version=(8, 4), effective={"kbdinteractiveauthentication": "no", "challengeresponseauthentication": "yes"}))
    assert enabled["status"] == "ok"


# ------------------------------------------------------------------ a password user on a stock host


def _no_keys():
    return {"paths": ["/home/pwonly/.ssh/authorized_keys"], "files": [], "entries": [], "findings": [], "command": None, "strict_rule": "debian"}


def test_password_user_on_stock_host_is_fine_and_key_absence_is_only_info():
    result = d.diagnose(facts(user="pwonly", keys=_no_keys()))
    assert result["status"] == "ok"
    assert result["verdict"] == "no problem found: pwonly can log in with password"
    assert all(not f["blocking"] and f["severity"] in ("info", "low") for f in result["findings"])


def test_password_off_names_password_first_and_kbdint_as_also_blocking():
    result = d.diagnose(facts(user="pwonly", keys=_no_keys(), effective={"passwordauthentication": "no"}))
    assert result["cause"] == "password_auth_off"
    assert "Also blocking: keyboard-interactive authentication is off (KbdInteractiveAuthentication no) (kbdint_off)" in result["verdict"]
    assert "[high, password_auth_off]" in result["verdict"]
    key = next(f for f in result["findings"] if f["id"] == "key_missing")
    assert not key["blocking"]


def test_kbdint_first_when_the_stack_asks_for_a_second_factor():
    result = d.diagnose(facts(user="pwonly", keys=_no_keys(), effective={"passwordauthentication": "no"}, pam=pam_stacks(service_text=with_ga())))
    assert result["cause"] == "kbdint_off"


def test_password_method_cannot_answer_totp():
    result = d.diagnose(facts(user="pwonly", keys=_no_keys(), pam=pam_stacks(service_text=with_ga())))
    assert result["status"] == "denied"
    ids = [f["id"] for f in result["findings"] if f["blocking"]]
    assert "totp_needs_kbdint" in ids


def test_removed_key_file_with_password_fallback_is_a_problem():
    keys = {"paths": [AK, AK + "2"], "files": [], "entries": [], "findings": [], "command": None, "strict_rule": "debian", "key_dir": True}
    result = d.diagnose(facts(keys=keys))
    assert result["status"] == "problem"
    assert result["cause"] == "key_missing"
    assert "(mfa can still log in with password.)" in result["verdict"]


def test_locked_password_user():
    locked = {"state": "locked", "lastchg": TODAY, "max": None, "inactive": None, "expire": None}
    result = d.diagnose(facts(user="pwonly", keys=_no_keys(), shadow=locked))
    assert result["cause"] == "account_locked"
    assert "usermod -U pwonly" in result["findings"][0]["fix"]


# ------------------------------------------------------------------ before any method


@pytest.mark.parametrize(
    ("effective", "groups", "cause"),
    [
        ({"allowusers": ["admin", "ops*"]}, ["mfa"], "user_not_in_allowusers"),
        ({"allowusers": ["mfa@10.0.0.0/8"]}, ["mfa"], "user_not_in_allowusers"),
        ({"allowusers": ["mfa@192.0.2.*"]}, ["mfa"], None),
        ({"denyusers": ["m?a"]}, ["mfa"], "user_in_denyusers"),
        ({"denyusers": ["mfa@10.*"]}, ["mfa"], None),
        ({"denygroups": ["wheel", "mf*"]}, ["mfa"], "group_in_denygroups"),
        ({"allowgroups": ["sudo"]}, ["mfa", "users"], "group_not_in_allowgroups"),
        ({"allowgroups": ["users"]}, ["mfa", "users"], None),
    ],
)
def test_allow_and_deny_lists(effective, groups, cause):
    assert d.diagnose(mfa_facts(effective=effective, groups=groups))["cause"] == cause


def test_deny_list_where_is_reported():
    result = d.diagnose(mfa_facts(effective={"denyusers": ["mfa"]}, lists={"denyusers": [("mfa", "/etc/ssh/sshd_config line 140")]}))
    assert result["findings"][0]["where"] == "/etc/ssh/sshd_config line 140"
    assert "at /etc/ssh/sshd_config line 140" in result["findings"][0]["fix"]


@pytest.mark.parametrize(
    ("shell", "cause"),
    [
        ({"path": "/bin/zsh", "exists": False, "regular": False, "executable": False}, "shell_missing"),
        ({"path": "/bin/sh", "exists": True, "regular": True, "executable": False}, "shell_not_executable"),
        ({"path": "/usr/sbin/nologin", "exists": True, "regular": True, "executable": True}, "no_login_shell"),
    ],
)
def test_shell(shell, cause):
    assert d.diagnose(mfa_facts(shell=shell))["cause"] == cause


def test_no_such_user():
    result = d.diagnose(facts(user="ghost", account=None, keys=None, pam=None))
    assert result["cause"] == "no_such_user" and result["status"] == "denied"


def test_expired_account_blocks_keys_too_with_pam():
    shadow = {"state": "set", "lastchg": TODAY - 10, "max": None, "inactive": None, "expire": TODAY - 1}
    result = d.diagnose(facts(shadow=shadow))
    assert result["cause"] == "account_expired"
    assert "chage -E -1 mfa" in result["findings"][0]["fix"]
    assert "Also blocking" not in result["verdict"]  # kbdint is off, but the key would do once the account is back


def test_expired_and_locked_without_pam():
    shadow = {"state": "set", "lastchg": TODAY - 10, "max": None, "inactive": None, "expire": TODAY}
    assert d.diagnose(facts(effective={"usepam": "no"}, shadow=shadow, pam=None))["cause"] == "account_expired"
    locked = {"state": "locked", "lastchg": TODAY - 10, "max": None, "inactive": None, "expire": None}
    result = d.diagnose(facts(effective={"usepam": "no"}, shadow=locked, pam=None))
    assert result["cause"] == "account_locked" and result["findings"][0]["methods"] == ["all"]


def test_locked_account_with_working_key_is_a_problem_not_silence():
    locked = {"state": "locked", "lastchg": TODAY, "max": None, "inactive": None, "expire": None}
    result = d.diagnose(facts(shadow=locked))
    assert result["status"] == "problem"
    assert result["cause"] == "account_locked"
    assert "can still log in with publickey" in result["verdict"]


def test_password_aging():
    inactive = {"state": "set", "lastchg": TODAY - 200, "max": 90, "inactive": 30, "expire": None}
    assert d.diagnose(facts(shadow=inactive))["cause"] == "password_expired_inactive"
    must_change = {"state": "set", "lastchg": 0, "max": None, "inactive": None, "expire": None}
    result = d.diagnose(facts(shadow=must_change))
    assert result["status"] == "ok"
    assert any(f["id"] == "password_must_change" for f in result["findings"])


def test_nologin_file_blocks_all_but_root():
    result = d.diagnose(facts(nologin=["/run/nologin"]))
    assert result["cause"] == "nologin_file"
    assert "rm /run/nologin" in result["findings"][0]["fix"]


def test_root_login_refused():
    root = {"name": "root", "uid": 0, "gid": 0, "home": "/root", "shell": "/bin/bash"}
    result = d.diagnose(facts(user="root", account=root, effective={"permitrootlogin": "no"}))
    assert result["cause"] == "root_login_refused"
    pw = d.diagnose(facts(user="root", account=root, keys={**_no_keys(), "paths": ["/root/.ssh/authorized_keys"]}))
    assert "root_password_refused" in [f["id"] for f in pw["findings"]]


# ------------------------------------------------------------------ PAM


def test_missing_module_in_auth_stack():
    result = d.diagnose(mfa_facts(pam=pam_stacks(service_text=with_ga(), missing=("pam_google_authenticator.so",))))
    assert result["cause"] == "pam_module_missing"
    assert "libpam-google-authenticator" in result["findings"][0]["fix"]


def test_missing_module_in_account_stack_blocks_keys():
    result = d.diagnose(facts(pam=pam_stacks(missing=("pam_nologin.so",))))
    assert result["cause"] == "pam_module_missing"
    assert result["findings"][0]["methods"] == ["all"]


def test_optional_missing_module_is_harmless_but_reported():
    result = d.diagnose(facts(pam=pam_stacks(missing=("pam_motd.so", "pam_mail.so"))))
    assert result["status"] == "ok"
    low = [f for f in result["findings"] if f["id"] == "pam_module_missing"]
    assert [f["severity"] for f in low] == ["low", "low"] and not any(f["blocking"] for f in low)
    assert "pam_motd.so" in low[0]["found"] and "pam_mail.so" in low[1]["found"]


def test_symlinked_key_file_is_reported():
    message = "the key file %s is a symbolic link -> /srv/keys/mfa: not followed (audit)" % AK
    keys = dict(strict_keys(), entries=[], files=[{"path": AK, "status": "symlink"}])
    keys["findings"] = [{"severity": "high", "kind": "symlink", "reason": "untrusted_link", "file": AK, "line": None, "message": message}]
    result = d.diagnose(mfa_facts(keys=keys))
    assert result["methods"]["publickey"]["usable"] is None
    assert any(f["id"] == "key_file_symlink" and f["severity"] == "medium" for f in result["findings"])


def test_nullok_lets_users_without_secret_in():
    pam = pam_stacks(service_text=with_ga(args="nullok"), totp={"path": "/home/mfa/.google_authenticator", "state": "missing", "reason": "no"})
    assert d.diagnose(mfa_facts(pam=pam))["status"] == "ok"


def test_unusable_secret():
    reason = "/home/mfa/.google_authenticator has mode 0644, more open than 0600 (pam_google_authenticator refuses it)"
    pam = pam_stacks(service_text=with_ga(), totp={"path": "/home/mfa/.google_authenticator", "state": "unusable", "reason": reason})
    result = d.diagnose(mfa_facts(pam=pam))
    assert result["cause"] == "totp_secret_unusable"
    assert "0644" in result["findings"][0]["found"]


@pytest.mark.parametrize(
    ("condition", "groups", "status"),
    [
        ("quiet user in mfa:ops", ["mfa"], "ok"),
        ("quiet user ingroup admins", ["mfa", "admins"], "ok"),
        ("quiet user ingroup admins", ["mfa"], "denied"),
        ("uid < 1000", ["mfa"], "denied"),
        ("uid >= 1000", ["mfa"], "ok"),
        ("user =~ m*", ["mfa"], "ok"),
    ],
)
def test_succeed_if_exemption_before_totp(condition, groups, status):
    text = with_ga().replace(GA_LINE, "auth [success=1 default=ignore] pam_succeed_if.so %s\n%s" % (condition, GA_LINE))
    pam = pam_stacks(service_text=text, totp={"path": "/home/mfa/.google_authenticator", "state": "missing", "reason": "no"})
    result = d.diagnose(mfa_facts(pam=pam, groups=groups))
    assert result["status"] == status, result["verdict"]


def test_unknown_succeed_if_condition_does_not_invent_a_cause():
    text = with_ga().replace(GA_LINE, "auth [success=1 default=ignore] pam_succeed_if.so use_uid user ingroup x\n" + GA_LINE)
    pam = pam_stacks(service_text=text, totp={"path": "/home/mfa/.google_authenticator", "state": "missing", "reason": "no"})
    assert d.diagnose(mfa_facts(pam=pam))["status"] == "ok"


@pytest.mark.parametrize("suite", ["bullseye", "bookworm", "trixie", "rhel9"])
def test_stock_stacks_of_every_suite_let_a_password_in(suite):
    result = d.diagnose(facts(user="pwonly", keys=_no_keys(), pam=pam_stacks(suite=suite), version=(8, 4) if suite == "bullseye" else (9, 2)))
    assert result["status"] == "ok", result["verdict"]


def test_pam_unreadable_is_a_note_not_a_cause():
    result = d.diagnose(mfa_facts(pam={"path": "/etc/pam.d/sshd", "error": "cannot read /etc/pam.d/sshd: nope"}))
    assert result["status"] == "ok"
    assert result["methods"]["keyboard-interactive"]["usable"] is None


def test_kbdint_without_pam():
    result = d.diagnose(mfa_facts(effective={"usepam": "no"}, pam=None))
    assert result["cause"] == "kbdint_without_pam"


# ------------------------------------------------------------------ keys


def test_key_type_refused():
    keys = dict(strict_keys(), findings=[], entries=[entry(usable=False, problems=["refused_by_server"], type="ssh-rsa")])
    keys["findings"] = [{"kind": "refused_by_server", "file": AK, "line": 1, "fingerprint": KEY_FP, "message": "sshd does not accept ssh-rsa keys"}]
    result = d.diagnose(mfa_facts(keys=keys))
    assert result["cause"] == "key_type_refused"
    assert "PubkeyAcceptedAlgorithms +ssh-rsa" in result["findings"][0]["fix"]


def test_key_expired():
    keys = dict(strict_keys(), findings=[], entries=[entry(usable=False, problems=["expired"])])
    assert d.diagnose(mfa_facts(keys=keys))["cause"] == "key_expired"


def test_key_from_option():
    keys = dict(strict_keys(), findings=[], entries=[entry(options=['from="10.0.0.0/8"'])])
    neutral = d.diagnose(mfa_facts(keys=keys))
    assert neutral["status"] == "ok"
    assert any("from" in note and "diagnose_from_addr" in note for note in neutral["notes"])
    outside = d.diagnose(mfa_facts(keys=keys, context=d.connection_context("mfa", "203.0.113.9")))
    assert outside["cause"] == "key_from_mismatch"
    inside = d.diagnose(mfa_facts(keys=keys, context=d.connection_context("mfa", "10.1.2.3")))
    assert inside["status"] == "ok"


def test_key_found_only_in_a_file_sshd_does_not_read():
    keys = dict(strict_keys(), findings=[], entries=[], paths=["/etc/ssh/keys/mfa"], elsewhere=[AK], templates=["/etc/ssh/keys/%u"])
    result = d.diagnose(mfa_facts(keys=keys))
    assert result["cause"] == "key_missing"
    assert "it is in %s, which sshd does not read" % AK in result["findings"][0]["found"]


def test_authorized_keys_command_makes_a_missing_key_unknown():
    keys = dict(strict_keys(), findings=[], entries=[], command="/usr/bin/sss_ssh_authorizedkeys")
    result = d.diagnose(mfa_facts(keys=keys))
    assert result["status"] == "ok"
    assert result["methods"]["publickey"]["usable"] is None
    assert any("AuthorizedKeysCommand /usr/bin/sss_ssh_authorizedkeys" in n and "not run" in n for n in result["notes"])


def test_unreadable_key_files_are_unknown_not_missing():
    keys = dict(strict_keys(), findings=[], entries=[], files=[{"path": AK, "status": "error"}])
    result = d.diagnose(mfa_facts(keys=keys, wanted=None))
    assert result["methods"]["publickey"]["usable"] is None
    assert result["cause"] is None


def test_pubkey_off():
    result = d.diagnose(mfa_facts(effective={"pubkeyauthentication": "no"}))
    assert result["cause"] == "pubkey_off"


def test_broken_key_with_password_fallback_is_a_problem():
    result = d.diagnose(facts(keys=strict_keys()))
    assert result["status"] == "problem"
    assert result["cause"] == "wrong_permissions"
    assert "(mfa can still log in with password.)" in result["verdict"]
    assert "Also blocking" not in result["verdict"]
    kbd = next(f for f in result["findings"] if f["id"] == "kbdint_off")
    assert not kbd["blocking"] and kbd["severity"] == "info" and "not needed" in kbd["why"]


def test_max_auth_tries_warning():
    keys = dict(strict_keys(), findings=[], entries=[entry(), entry(OTHER_FP, line=2), entry("SHA256:" + "C" * 43, line=3)])
    result = d.diagnose(mfa_facts(keys=keys, effective={"maxauthtries": "3"}, origins={"maxauthtries": "/etc/ssh/sshd_config line 9"}))
    assert result["status"] == "ok"
    warning = next(f for f in result["findings"] if f["id"] == "max_auth_tries")
    assert warning["severity"] == "low" and not warning["blocking"]
    assert "IdentitiesOnly" in warning["fix"]


def test_match_blocks_are_reported():
    blocks = [
        {"criteria": "User mfa", "where": "/etc/ssh/sshd_config.d/10.conf line 3", "applies": True, "connection": False},
        {"criteria": "Address 10.0.0.0/8", "where": "/etc/ssh/sshd_config line 120", "applies": False, "connection": True},
    ]
    notes = d.diagnose(mfa_facts(match_blocks=blocks))["notes"]
    assert any("Match User mfa" in n and "applies" in n for n in notes)
    assert any("Match Address 10.0.0.0/8" in n and "diagnose_from_addr" in n for n in notes)


# ------------------------------------------------------------------ logs


def test_log_lines_are_filtered_sanitised_and_capped():
    lines = [
        "2026-01-01T00:00:00+0000 h sshd[1]: Invalid user hunter2 from 1.2.3.4 port 5",
        "2026-01-01T00:00:01+0000 h sshd[2]: Authentication refused: bad ownership or modes for directory /home/mfa/.ssh",
        "2026-01-01T00:00:02+0000 h ansible-x[3]: Invoked with user=mfa",
        "2026-01-01T00:00:03+0000 h sshd[4]: Connection closed by authenticating user mfa 1.2.3.4 port 6 [preauth]\x1b[31m",
        '2026-01-01T00:00:04+0000 h sshd(pam_google_authenticator)[5]: Failed to read "/home/mfa/.google_authenticator" for "mfa"',
        "2026-01-01T00:00:05+0000 h sshd[6]: Accepted publickey for mfaX from 1.2.3.4",
        "2026-01-01T00:00:06+0000 h sshd[7]: pam_x: user=mfa password=letmein",
        "2026-01-01T00:00:07+0000 h sshd[8]: Failed password for mfa from 1.2.3.4 " + "x" * 400,
    ]
    out = d.filter_log_lines(lines, "mfa", 10)
    assert len(out) == 5
    assert not any("hunter2" in line or "Invoked" in line or "mfaX" in line for line in out)
    assert "\x1b" not in out[1]
    assert "letmein" not in out[3] and "password=***" in out[3]
    assert len(out[4]) == d.MAX_LOG_LINE
    assert d.filter_log_lines(lines, "mfa", 2) == out[-2:]
    assert d.log_hints(out) == ["wrong_permissions", "totp_secret_missing"]


def test_log_evidence_marks_the_finding():
    logs = {"source": "journalctl", "lines": ["x sshd[1]: Authentication refused: bad ownership or modes for directory /home/mfa/.ssh"]}
    result = d.diagnose(mfa_facts(keys=strict_keys(), logs=logs))
    assert result["findings"][0]["log_evidence"] is True
    assert result["logs"]["lines"] == logs["lines"]


def test_failures_after_the_last_success_are_pointed_out():
    lines = [
        "t sshd[1]: Accepted publickey for mfa from 1.2.3.4 port 1 ssh2",
        "t sshd[2]: Connection closed by authenticating user mfa 1.2.3.4 port 2 [preauth]",
    ]
    result = d.diagnose(facts(logs={"source": "journalctl", "lines": lines}))
    assert result["verdict"].startswith("no problem found: mfa can log in with publickey")
    assert "1 failed attempt(s)" in result["verdict"]
    assert result["findings"][0]["id"] == "recent_failures"
    assert KEY_FP in result["findings"][0]["fix"]
    clean = d.diagnose(facts(logs={"source": "journalctl", "lines": list(reversed(lines))}))
    assert "failed" not in clean["verdict"]


# ------------------------------------------------------------------ small parts


@pytest.mark.parametrize(
    ("field", "state"),
    [("$y$j9T$abc$def", "set"), ("!$y$j9T$abc", "locked"), ("!", "no_password"), ("!*", "no_password"), ("*", "no_password"), ("", "empty")],
)
def test_shadow_state(field, state):
    assert d.shadow_state(field) == state


def test_parse_shadow_keeps_no_hash():
    data = b"root:*:19000:0:99999:7:::\nmfa:!$y$j9T$secrethash:19500:0:90:7:14:20100:\n"
    entry_ = d.parse_shadow(data, "mfa")
    assert entry_ == {"state": "locked", "lastchg": 19500, "max": 90, "inactive": 14, "expire": 20100}
    assert "secrethash" not in repr(entry_)
    assert d.parse_shadow(data, "nobody") is None


@pytest.mark.parametrize(
    ("shadow", "expected"),
    [
        ({"expire": TODAY, "lastchg": TODAY - 1, "max": None, "inactive": None}, (True, None)),
        ({"expire": TODAY + 1, "lastchg": TODAY - 1, "max": None, "inactive": None}, (False, None)),
        ({"expire": None, "lastchg": 0, "max": None, "inactive": None}, (False, "must_change")),
        ({"expire": None, "lastchg": TODAY - 100, "max": 90, "inactive": None}, (False, "must_change")),
        ({"expire": None, "lastchg": TODAY - 100, "max": 90, "inactive": 5}, (False, "inactive")),
        ({"expire": -1, "lastchg": TODAY - 100, "max": 99999, "inactive": None}, (False, None)),
    ],
)
def test_aging(shadow, expected):
    assert d.aging(shadow, TODAY) == expected


def test_parse_wanted():
    line = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIICDHY2lS6BafOLNIztygWAJaYeMm1Ar3HWOCiB4qjNU mfa@fleetauth-lab"
    wanted = d.parse_wanted(public_key=line + "\n")
    assert wanted["type"] == "ssh-ed25519" and wanted["fingerprint"].startswith("SHA256:")
    assert d.parse_wanted(public_key='restrict,from="10.*" ' + line)["fingerprint"] == wanted["fingerprint"]
    assert d.parse_wanted(fingerprint=" %s " % wanted["fingerprint"])["fingerprint"] == wanted["fingerprint"]
    assert d.parse_wanted() is None
    for bad in ({"public_key": line[:40] + "\n" + line[40:]}, {"public_key": "hello"}, {"fingerprint": "MD5:aa:bb"}, {"public_key": line, "fingerprint": "x"}):
        with pytest.raises(d.DiagnoseError):
            d.parse_wanted(**bad)


def test_connection_context():
    neutral = d.connection_context("mfa")
    assert neutral == {"user": "mfa", "host": d.NEUTRAL_ADDR, "addr": d.NEUTRAL_ADDR, "neutral": True}
    real = d.connection_context("mfa", "10.1.2.3", "laptop.example", "10.0.0.1", 2222)
    assert real == {"user": "mfa", "host": "laptop.example", "addr": "10.1.2.3", "laddr": "10.0.0.1", "lport": 2222, "neutral": False}


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("mfa", True),
        ("m*", True),
        ("mfa@10.0.0.0/8", True),
        ("mfa@10.*", True),
        ("mfa@laptop.example", True),
        ("mfa@*.example,!laptop.example", False),
        ("mfa@192.168.0.0/16", False),
        ("other@10.1.2.3", False),
    ],
)
def test_match_user_pattern(pattern, expected):
    assert d.match_user_pattern("mfa", "laptop.example", "10.1.2.3", pattern) is expected


def test_diagnose_does_not_mutate_its_facts():
    made = mfa_facts(keys=strict_keys())
    before = copy.deepcopy(made.keys)
    d.diagnose(made)
    d.diagnose(made)
    assert made.keys == before
