# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Host documents from real lab output: sshd -T, sshd -V, contexts, Match lines, PAM files, key audit results."""

from __future__ import annotations

import base64

import pytest
from report_samples import command, fixture, hardened_sshd_t, key_result, raw_host

from ansible_collections.fleetauth.ssh.plugins.module_utils._sshd_runtime import parse_effective
from ansible_collections.fleetauth.ssh.plugins.plugin_utils._report.common import ReportError
from ansible_collections.fleetauth.ssh.plugins.plugin_utils._report.host import (
    auth_summary,
    build_host,
    keys_section,
    match_blocks,
    normalize_contexts,
    openssh_section,
    pam_section,
    sshd_section,
)

# ---------------------------------------------------------------- sshd -T


def test_auth_summary_of_stock_bookworm():
    assert auth_summary(parse_effective(fixture("sshd_T_bookworm.txt"))) == {
        "pubkey": True,
        "password": True,
        "kbdint": False,
        "kbdint_keyword": "kbdinteractiveauthentication",
        "usepam": True,
        "permit_root_login": "prohibit-password",  # bookworm prints without-password
        "permit_empty_passwords": False,
        "max_auth_tries": 6,
        "authentication_methods": [],
        "multi_factor": False,
    }


def test_before_87_challengeresponse_decides_keyboard_interactive():
    effective = parse_effective(fixture("sshd_T_bullseye.txt"))
    assert "challengeresponseauthentication" in effective
    effective["kbdinteractiveauthentication"] = "yes"  # the default; ChallengeResponseAuthentication no still switches it off
    summary = auth_summary(effective)
    assert summary["kbdint_keyword"] == "challengeresponseauthentication"
    assert summary["kbdint"] is False


@pytest.mark.parametrize(
    "methods,alternatives,multi",
    [
        ("any", [], False),
        ("publickey", [["publickey"]], False),
        ("publickey,keyboard-interactive:pam", [["publickey", "keyboard-interactive:pam"]], True),
        ("publickey,publickey", [["publickey", "publickey"]], False),
        ("publickey,password publickey,keyboard-interactive", [["publickey", "password"], ["publickey", "keyboard-interactive"]], True),
        ("publickey,password publickey", [["publickey", "password"], ["publickey"]], False),
    ],
)
def test_authentication_methods(methods, alternatives, multi):
    summary = auth_summary({"authenticationmethods": methods})
    assert summary["authentication_methods"] == alternatives
    assert summary["multi_factor"] is multi


def test_auth_summary_of_nothing_is_none():
    assert auth_summary(None) is None
    assert auth_summary({}) is None


def test_sshd_failure_is_quoted_and_makes_the_host_failed():
    raw = raw_host("h")
    raw["sshd_T"] = command("", rc=255, stderr="sshd: no hostkeys available -- exiting.")
    document = build_host(raw)
    assert document["status"] == "failed"
    assert document["error"] == "`sshd -T` failed: sshd: no hostkeys available -- exiting."
    assert document["sshd"]["effective"] is None and document["sshd"]["auth"] is None


def test_pre_81_fallback_is_used_and_noted():
    section = sshd_section(
        command("", rc=255, stderr="'Match' in configuration but 'user' not in connection test specification."),
        command(fixture("sshd_T_bullseye.txt")),
    )
    assert section["error"] is None
    assert section["effective"]["port"] == ["22"]
    assert "OpenSSH before 8.1" in section["notes"][0]
    assert "'Match' in configuration" in section["notes"][0]


def test_skipped_fallback_keeps_the_first_error():
    section = sshd_section(command("", rc=1, stderr="bad"), {"skipped": True, "changed": False})
    assert section["error"] == "`sshd -T` failed: bad"


def test_contexts_from_a_loop_result_with_overrides():
    ops = {"name": "ops", "criteria": {"user": "ops"}, "spec": "user=ops"}
    bad = {"name": "bad", "criteria": {"addr": "nonsense"}, "spec": "addr=nonsense"}
    loop = [
        dict(command(hardened_sshd_t()), item=ops),
        dict(command("", rc=255, stderr="Invalid test mode specification addr=nonsense"), item=bad),
    ]
    section = sshd_section(command(fixture("sshd_T_bookworm.txt")), contexts=loop)
    first, second = section["contexts"]
    assert first["name"] == "ops" and first["spec"] == "user=ops" and first["error"] is None
    assert first["overrides"] == {
        "authenticationmethods": "publickey,keyboard-interactive",
        "kbdinteractiveauthentication": "yes",
        "maxauthtries": "3",
        "passwordauthentication": "no",
        "requiredrsasize": "3072",
    }
    assert first["auth"]["multi_factor"] is True
    assert second["effective"] is None
    assert second["error"] == "`sshd -T -C addr=nonsense` failed: Invalid test mode specification addr=nonsense"


# ---------------------------------------------------------------- sshd -V


@pytest.mark.parametrize(
    "text,expected",
    [
        ("OpenSSH_9.2, OpenSSL 3.0.20 7 Apr 2026", ("9.2", 9, 2)),
        ("unknown option -- V\nOpenSSH_8.4p1 Debian-5+deb11u3, OpenSSL 1.1.1w  11 Sep 2023\nusage: sshd [-46DdeiqTt]", ("8.4p1", 8, 4)),
        ("OpenSSH_10.0p2 Debian-7+deb13u4, OpenSSL 3.5.7", ("10.0p2", 10, 0)),
        ("sshd: command not found", (None, None, None)),
    ],
)
def test_openssh_version(text, expected):
    section = openssh_section(command(stderr=text, rc=0 if "9.2" in text else 1))
    assert (section["version"], section["major"], section["minor"]) == expected


# ---------------------------------------------------------------- Match lines


def test_match_lines_from_grep():
    scan = command(
        "/etc/ssh/sshd_config:120:Match Group ops Address 10.0.0.0/8\n"
        "/etc/ssh/sshd_config.d/50-x.conf:3:  match user deploy\n"
        "/etc/ssh/sshd_config.d/50-x.conf.dpkg-old:3:Match all\n"
        "garbage without numbers\n"
    )
    section = match_blocks(scan)
    assert section["status"] == "collected"
    assert section["blocks"] == [
        {"file": "/etc/ssh/sshd_config", "line": 120, "criteria": "Group ops Address 10.0.0.0/8"},
        {"file": "/etc/ssh/sshd_config.d/50-x.conf", "line": 3, "criteria": "user deploy"},
    ]


def test_match_scan_states():
    assert match_blocks(command("", rc=1))["status"] == "collected"
    assert match_blocks(None)["status"] == "not_collected"
    failed = match_blocks(command("", rc=2, stderr="grep: /etc/ssh: Permission denied"))
    assert failed["status"] == "error" and "Permission denied" in failed["error"]


# ---------------------------------------------------------------- PAM


def test_pam_stock_bookworm():
    section = pam_section(fixture("pam_sshd_bookworm"))
    assert section == {
        "status": "collected",
        "source": "pam_file_scan",
        "file": "/etc/pam.d/sshd",
        "auth": [{"include": "common-auth", "via": "@include"}],
        "auth_modules": [],
        "includes": ["common-auth", "common-account", "common-session", "common-password"],
        "includes_common_auth": True,
        "password_stack": "common-auth",
        "second_factors": [],
        "second_factor_nullok": False,
    }


def test_pam_totp_with_nullok_and_no_secret_path_in_the_report():
    section = pam_section(fixture("pam_sshd_totp_nullok"))
    assert section["second_factors"] == ["pam_google_authenticator"]
    assert section["second_factor_nullok"] is True
    assert section["auth"][1] == {"module": "pam_google_authenticator", "control": "required", "optional_module": False, "nullok": True}
    assert "/var/lib/ga" not in repr(section)  # module arguments are not copied


def test_pam_totp_only_with_bracket_control_and_full_path():
    section = pam_section(fixture("pam_sshd_totp_only"))
    assert section["includes_common_auth"] is False  # the commented-out line does not count
    assert section["password_stack"] is None
    assert section["auth"] == [
        {"module": "pam_google_authenticator", "control": "[success=done new_authtok_reqd=done default=die]", "optional_module": False, "nullok": False}
    ]


def test_pam_rhel_style_substack_optional_module_and_continuation():
    section = pam_section(fixture("pam_sshd_rhel"))
    assert section["password_stack"] == "password-auth"
    assert section["includes_common_auth"] is False
    assert section["auth_modules"] == ["pam_oath"]
    assert section["second_factors"] == ["pam_oath"]
    assert section["auth"][2] == {"module": "pam_oath", "control": "optional", "optional_module": True, "nullok": False}
    assert "usersfile" not in repr(section)


@pytest.mark.parametrize("text", ["", "\x00\x01\xff garbage", "auth", "auth [unclosed pam_x.so", "@include", "auth required\\", "#" * 10000])
def test_pam_hostile_input_never_raises(text):
    section = pam_section(text)
    assert section["status"] == "collected"


def test_pam_missing_and_unreadable():
    assert pam_section(None)["status"] == "missing"
    assert "does not exist" in pam_section(None)["error"]
    assert pam_section("x", error="Permission denied")["status"] == "error"


def test_pam_from_slurp_results():
    encoded = base64.b64encode(fixture("pam_sshd_totp_nullok").encode()).decode()
    assert build_host(dict(raw_host("h"), pam_slurp={"content": encoded, "encoding": "base64"}))["pam"]["second_factors"] == ["pam_google_authenticator"]
    missing = build_host(dict(raw_host("h"), pam_slurp={"failed": False, "msg": "file not found: /etc/pam.d/sshd"}))
    assert missing["pam"]["status"] == "missing"
    denied = build_host(dict(raw_host("h"), pam_slurp={"msg": "unable to slurp file: Permission denied"}))
    assert denied["pam"] == {"status": "error", "source": "pam_file_scan", "file": "/etc/pam.d/sshd", "error": "unable to slurp file: Permission denied"}
    binary = build_host(dict(raw_host("h"), pam_slurp={"content": base64.b64encode(b"\xff\xfe\x00\nauth required pam_oath.so\n").decode()}))
    assert binary["pam"]["second_factors"] == ["pam_oath"]


def test_a_ready_made_pam_section_wins():
    section = {"status": "collected", "source": "module", "required_sshd": {"usepam": "yes"}, "satisfied": True}
    assert build_host(dict(raw_host("h"), pam=section))["pam"] == section


# ---------------------------------------------------------------- authorized keys


def test_keys_not_collected_by_default():
    section = build_host(raw_host("h"))["authorized_keys"]
    assert section["status"] == "not_collected"
    assert "audit_keys: true" in section["reason"]
    assert section["findings"] == [] and section["users"] == []


def test_keys_from_a_module_result():
    section = keys_section(key_result())
    assert section["status"] == "collected" and section["reason"] is None
    assert section["findings"][1] == {
        "severity": "medium",
        "kind": "duplicate",
        "user": "ops",
        "file": "/home/ops/.ssh/authorized_keys",
        "line": 7,
        "fingerprint": "SHA256:def",
    }
    assert section["summary"]["by_kind"] == {"weak": 1, "duplicate": 1}
    assert section["summary"]["accounts"] == 3  # the module's own counts are kept
    assert [u["user"] for u in section["users"]] == ["admin", "ops"]
    assert section["users"][0]["keys"][0]["fingerprint"] == "SHA256:abc"
    assert section["users"][1] == {"user": "ops", "keys": ["SHA256:def"]}


def test_key_findings_keep_the_modules_extra_fields():
    raw = {
        "severity": "medium",
        "kind": "invalid",
        "reason": "split_key",
        "user": "a",
        "file": "/f",
        "line": 3,
        "end_line": "4",
        "owner_uid": "x",
        "blob": "AAAA",
    }
    assert keys_section({"findings": [raw]})["findings"] == [
        {"severity": "medium", "kind": "invalid", "reason": "split_key", "user": "a", "file": "/f", "line": 3, "end_line": 4}
    ]


def test_key_findings_are_normalised():
    section = keys_section({"findings": [{"severity": "catastrophic", "line": "x"}, "not a mapping"]})
    assert section["findings"] == [{"severity": "medium", "kind": "unknown"}]
    assert section["summary"] == {"by_severity": {"medium": 1}, "by_kind": {"unknown": 1}}


def test_keys_module_failure_and_skip():
    assert keys_section({"failed": True, "msg": "sshd -T failed"}) == {
        "status": "error",
        "reason": "sshd -T failed",
        "summary": {"by_severity": {}, "by_kind": {}},
        "users": [],
        "findings": [],
    }
    assert keys_section({"skipped": True})["status"] == "not_collected"
    assert keys_section(None, "module not wired")["reason"] == "module not wired"


# ---------------------------------------------------------------- contexts


def test_contexts_are_validated_and_get_a_spec():
    assert normalize_contexts([{"name": "ops", "user": "ops", "addr": "10.0.0.5"}, {"user": "deploy", "lport": 2222}]) == [
        {"name": "ops", "criteria": {"user": "ops", "addr": "10.0.0.5"}, "spec": "user=ops,addr=10.0.0.5"},
        {"name": "user=deploy,lport=2222", "criteria": {"user": "deploy", "lport": "2222"}, "spec": "user=deploy,lport=2222"},
    ]
    assert normalize_contexts(None) == []


def test_context_problems_are_listed():
    with pytest.raises(ReportError) as caught:
        normalize_contexts([{"user": "a,b"}, {"group": "ops"}, {}, {"name": "x", "user": "a"}, {"name": "x", "user": "b"}, "ops", {"name": "<b>", "user": "c"}])
    message = str(caught.value)
    assert "audit_contexts has 6 problem(s)" in message
    assert "audit_contexts[0]: user='a,b' must be one word without commas or spaces" in message
    assert "audit_contexts[1]: unknown key(s) group" in message
    assert "audit_contexts[2]: give at least one of user, host, addr" in message
    assert "audit_contexts[4]: name 'x' is used twice" in message
    assert "audit_contexts[5]: expected a mapping" in message
    assert "audit_contexts[6]: name '<b>' must be 1-64 characters" in message
    with pytest.raises(ReportError, match="must be a list"):
        normalize_contexts({"user": "ops"})


# ---------------------------------------------------------------- the host


def test_build_host_requires_a_name_and_a_known_status():
    with pytest.raises(ReportError, match="'name'"):
        build_host({"sshd_T": "x"})
    with pytest.raises(ReportError, match="status 'down' is not one of ok, unreachable, failed, missing"):
        build_host({"name": "h", "status": "down"})
    with pytest.raises(ReportError, match="expects a mapping"):
        build_host(["h"])


def test_unreachable_host_document():
    document = build_host({"name": "db-1", "status": "unreachable", "error": "Connection refused"})
    assert document["status"] == "unreachable" and document["error"] == "Connection refused"
    assert document["openssh"]["version"] is None
    assert document["pam"]["status"] == "not_collected"


def test_long_errors_are_clipped():
    document = build_host({"name": "h", "status": "failed", "error": "x" * 50000})
    assert len(document["error"]) <= 2000
    assert document["error"].endswith("chars cut]")
