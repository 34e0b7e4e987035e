# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""JMESPath policies: validation, evaluation semantics, and the shipped default policy file."""

from __future__ import annotations

import re

import pytest
from report_samples import command, default_policies, fixture, hardened_sshd_t, key_result, raw_host

from ansible_collections.fleetauth.ssh.plugins.plugin_utils._report.common import ReportError
from ansible_collections.fleetauth.ssh.plugins.plugin_utils._report.host import build_host
from ansible_collections.fleetauth.ssh.plugins.plugin_utils._report.policies import evaluate_policies, evaluate_policy, normalize_policies


def policy(expression, **extra):
    data = {"id": extra.pop("id", "p1"), "title": "a policy", "severity": "medium", "expression": expression}
    data.update(extra)
    return data


def one(document, expression, **extra):
    return evaluate_policies(document, [policy(expression, **extra)])[0]


DOC = {"sshd": {"effective": {"passwordauthentication": "no", "maxauthtries": "6"}, "auth": {"password": False, "max_auth_tries": 6}}, "names": ["a", "b"]}


# ---------------------------------------------------------------- validation


def test_normalize_fills_optional_keys_and_keeps_order():
    result = normalize_policies({"version": 1, "policies": [policy("`true`", id="b"), policy("`false`", id="a", if_null="na", evidence="names")]})
    assert [p["id"] for p in result] == ["b", "a"]
    assert result[0] == {
        "id": "b",
        "title": "a policy",
        "severity": "medium",
        "expression": "`true`",
        "applies_when": None,
        "evidence": None,
        "if_null": "fail",
        "description": None,
        "remediation": None,
        "error": None,
    }
    assert result[1]["if_null"] == "na"
    assert result[1]["evidence"] == "names"


def test_normalize_lists_every_structural_problem_at_once():
    bad = [
        {"id": "ok-1", "title": "t", "severity": "high", "expression": "`true`"},
        {"id": "Bad Id", "title": "t", "severity": "hgh", "expression": "`true`", "expresion": "typo"},
        {"title": "no id", "severity": "low"},
        {"id": "ok-1", "title": "dup", "severity": "low", "expression": "`true`", "if_null": "maybe"},
        "not a mapping",
        {"id": "num", "title": "t", "severity": "low", "expression": 5},
    ]
    with pytest.raises(ReportError) as caught:
        normalize_policies(bad)
    message = str(caught.value)
    assert "policy file has 8 problem(s)" in message
    assert "policies[1] (id 'Bad Id'): unknown key(s) expresion" in message
    assert "policies[1] (id 'Bad Id'): id must match" in message
    assert "severity 'hgh' is not one of critical, high, medium, low, info" in message
    assert "policies[2]: missing id, expression" in message
    assert "policies[3] (id 'ok-1'): duplicate id, already used by policies[0]" in message
    assert "if_null 'maybe' is not one of fail, na, error" in message
    assert "policies[4]: expected a mapping" in message
    assert "policies[5] (id 'num'): expression must be a string, got int" in message


@pytest.mark.parametrize(
    "data,expected",
    [
        ({"rules": []}, "unknown top-level key(s) rules"),
        ({"version": 1}, "no 'policies' list found"),
        ("password-auth-off", "expected a list of policies, got str"),
    ],
)
def test_policy_file_shape_errors(data, expected):
    with pytest.raises(ReportError, match=re.escape(expected)):
        normalize_policies(data)


@pytest.mark.parametrize(
    "expression,expected",
    [
        ("sshd.effective.passwordauthentication ==", "incomplete expression at column 41"),
        ("sshd.effective}", "Unexpected token: } at column 15"),
        ("'unterminated", "Unclosed ' delimiter at column 1"),
        ("nosuch(sshd)", "unknown function nosuch() (JMESPath has: abs, avg"),
        ("length(sshd, names)", "length() takes 1 argument(s), got 2"),
        ("`true` && not_null()", "not_null() takes at least 1 argument(s), got 0"),
    ],
)
def test_malformed_jmespath_is_an_error_result_naming_the_policy(expression, expected):
    policies = normalize_policies([policy(expression, id="broken"), policy("`true`", id="fine")])
    assert policies[0]["error"].startswith("policy 'broken': invalid JMESPath in expression `%s`: " % expression)
    assert expected in policies[0]["error"]
    results = evaluate_policies(DOC, policies)
    assert results[0] == {"id": "broken", "status": "error", "reason": policies[0]["error"]}
    # One bad expression does not hide the others.
    assert results[1]["status"] == "pass"


def test_malformed_applies_when_and_evidence_are_reported_too():
    result = normalize_policies([policy("`true`", applies_when="a ==", evidence="b[")])[0]
    assert "invalid JMESPath in applies_when `a ==`" in result["error"]
    assert "invalid JMESPath in evidence `b[`" in result["error"]


# ---------------------------------------------------------------- evaluation


def test_true_passes_false_fails():
    assert one(DOC, "sshd.auth.password == `false`")["status"] == "pass"
    assert one(DOC, "sshd.auth.max_auth_tries <= `4`")["status"] == "fail"


def test_evidence_is_quoted_in_the_reason():
    result = one(DOC, "sshd.auth.max_auth_tries <= `4`", evidence="sshd.auth.max_auth_tries")
    assert result == {"id": "p1", "status": "fail", "reason": "expression is false; found: 6", "evidence": "6"}


def test_evidence_failure_does_not_change_the_verdict():
    result = one(DOC, "sshd.auth.password == `false`", evidence="length(sshd.auth.password)")
    assert result["status"] == "pass"
    assert "evidence unavailable: evidence `length(sshd.auth.password)` failed: In function length(), invalid type for value: False" in result["reason"]


@pytest.mark.parametrize("if_null,status", [(None, "fail"), ("fail", "fail"), ("na", "na"), ("error", "error")])
def test_null_follows_if_null(if_null, status):
    extra = {"if_null": if_null} if if_null else {}
    result = one(DOC, "sshd.effective.requiredrsasize", **extra)
    assert result["status"] == status
    assert "expression gave null (a field it reads is missing or has the wrong type)" in result["reason"]


@pytest.mark.parametrize(
    "expression,described",
    [
        ("sshd.effective.passwordauthentication", 'a string "no"'),
        ("names", 'an array ["a", "b"]'),
        ("sshd.auth", 'an object {"max_auth_tries": 6, "password": false}'),
        ("sshd.auth.max_auth_tries", "a number 6"),
    ],
)
def test_non_boolean_result_is_an_error_not_a_pass(expression, described):
    # "no" is truthy in JMESPath: treating it as a pass would wave a bare path through.
    result = one(DOC, expression)
    assert result["status"] == "error"
    assert "expression must give true or false, but gave %s" % described in result["reason"]


@pytest.mark.parametrize(
    "expression,message",
    [
        ("length(sshd.nothing) > `0`", "In function length(), invalid type for value: None"),
        ("sshd.effective.maxauthtries < `4`", "TypeError"),
        ("abs(names) == `1`", "In function abs()"),
    ],
)
def test_evaluation_errors_never_raise(expression, message):
    result = one(DOC, expression, id="runtime")
    assert result["status"] == "error"
    assert result["reason"].startswith("policy 'runtime': expression `%s` failed: " % expression)
    assert message in result["reason"]


def test_applies_when_false_gives_na_and_skips_the_expression():
    result = one(DOC, "length(missing) > `0`", applies_when="sshd.contexts")
    assert result == {"id": "p1", "status": "na", "reason": "does not apply: applies_when `sshd.contexts` gave null"}
    assert one(DOC, "`true`", applies_when="names")["status"] == "pass"
    assert one(DOC, "`true`", applies_when="sshd.auth.password")["status"] == "na"


def test_applies_when_error_is_an_error():
    result = one(DOC, "`true`", applies_when="length(`5`)")
    assert result["status"] == "error"
    assert "applies_when `length(`5`)` failed" in result["reason"]


def test_not_evaluated_marks_every_policy_error():
    results = evaluate_policies({}, [policy("`true`", id="a"), policy("`false`", id="b")], not_evaluated="host unreachable: timeout")
    assert results == [
        {"id": "a", "status": "error", "reason": "not evaluated: host unreachable: timeout"},
        {"id": "b", "status": "error", "reason": "not evaluated: host unreachable: timeout"},
    ]


class Tagged(str):
    """Stands in for Ansible's own str subclasses (unsafe or tagged text)."""


def test_ansible_string_subclasses_work_with_jmespath_functions():
    document = {"sshd": {"effective": {"authenticationmethods": Tagged("publickey,keyboard-interactive")}}, "users": (Tagged("a"),)}
    assert one(document, "contains(sshd.effective.authenticationmethods, 'keyboard-interactive') && length(users) == `1`")["status"] == "pass"


def test_report_policies_can_be_fed_back_in():
    normalized = normalize_policies([policy("`true`")])
    normalized[0]["counts"] = {"pass": 1, "fail": 0, "error": 0, "na": 0}
    assert normalize_policies(normalized)[0]["id"] == "p1"


def test_evaluate_policy_is_total_even_for_odd_documents():
    policy_ = normalize_policies([policy("a.b.c == `1`")])[0]
    for document in (None, [], "text", {"a": None}, {"a": {"b": [1, 2]}}):
        assert evaluate_policy(policy_, document)["status"] in ("fail", "error")


# ---------------------------------------------------------------- the shipped policy file


def statuses(document):
    return {r["id"]: r["status"] for r in evaluate_policies(document, default_policies())}


def test_default_policy_file_is_valid_and_documented():
    policies = normalize_policies(default_policies())
    assert len(policies) >= 8
    assert all(p["error"] is None for p in policies)
    assert all(p["remediation"] for p in policies)
    ids = {p["id"] for p in policies}
    for wanted in ("password-auth-off", "no-weak-authorized-keys", "mfa-required-for-ops", "root-login-not-password", "no-empty-passwords", "max-auth-tries"):
        assert wanted in ids


def test_default_policies_on_stock_debian_bookworm():
    result = statuses(build_host(raw_host("h")))
    assert result == {
        "password-auth-off": "fail",
        "password-auth-off-in-contexts": "na",
        "no-empty-passwords": "pass",
        "root-login-not-password": "pass",
        "max-auth-tries": "fail",
        "mfa-required-for-ops": "na",
        "kbdint-has-second-factor": "na",
        "totp-without-nullok": "na",
        "sshd-refuses-small-rsa": "fail",
        "no-weak-authorized-keys": "na",
    }


def test_default_policies_on_stock_bullseye_without_requiredrsasize():
    document = build_host(raw_host("h", sshd_t=fixture("sshd_T_bullseye.txt")))
    results = {r["id"]: r for r in evaluate_policies(document, default_policies())}
    assert results["sshd-refuses-small-rsa"]["status"] == "fail"
    assert "expression gave null" in results["sshd-refuses-small-rsa"]["reason"]
    assert results["root-login-not-password"]["status"] == "pass"  # without-password is normalised


def test_default_policies_on_a_hardened_host_with_contexts_and_keys():
    contexts = [
        {"name": "ops", "criteria": {"user": "ops"}, "spec": "user=ops", "result": command(hardened_sshd_t())},
        {"name": "deploy", "criteria": {"user": "deploy"}, "spec": "user=deploy", "result": command(fixture("sshd_T_bookworm.txt"))},
    ]
    document = build_host(raw_host("h", sshd_t=hardened_sshd_t(), pam=fixture("pam_sshd_totp_nullok"), contexts=contexts, keys=key_result()))
    result = statuses(document)
    assert result["password-auth-off"] == "pass"
    assert result["password-auth-off-in-contexts"] == "fail"  # the deploy context still allows passwords
    assert result["mfa-required-for-ops"] == "pass"
    assert result["kbdint-has-second-factor"] == "pass"
    assert result["totp-without-nullok"] == "fail"
    assert result["sshd-refuses-small-rsa"] == "pass"
    assert result["max-auth-tries"] == "pass"
    assert result["no-weak-authorized-keys"] == "fail"


def test_mfa_for_ops_fails_when_the_ops_context_is_single_factor():
    contexts = [{"name": "ops", "criteria": {"user": "ops"}, "spec": "user=ops", "result": command(fixture("sshd_T_bookworm.txt"))}]
    assert statuses(build_host(raw_host("h", contexts=contexts)))["mfa-required-for-ops"] == "fail"


def test_a_context_sshd_could_not_evaluate_fails_the_context_policy():
    contexts = [{"name": "bad", "criteria": {"addr": "x"}, "spec": "addr=x", "result": command("", rc=255, stderr="Invalid test mode specification addr=x")}]
    document = build_host(raw_host("h", sshd_t=hardened_sshd_t(), contexts=contexts))
    assert statuses(document)["password-auth-off-in-contexts"] == "fail"


def test_second_factor_policy_applies_through_a_match_context():
    # Globally "any", but the ops context requires keyboard-interactive: the PAM stack must then hold a second factor.
    contexts = [{"name": "ops", "criteria": {"user": "ops"}, "spec": "user=ops", "result": command(hardened_sshd_t())}]
    assert statuses(build_host(raw_host("h", contexts=contexts)))["kbdint-has-second-factor"] == "fail"
    assert statuses(build_host(raw_host("h", contexts=contexts, pam=fixture("pam_sshd_totp_only"))))["kbdint-has-second-factor"] == "pass"
    assert statuses(build_host(raw_host("h")))["kbdint-has-second-factor"] == "na"
