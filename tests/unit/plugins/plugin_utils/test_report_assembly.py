# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The fleet report: assembly, summary, findings, and validation against docs/report.schema.json."""

from __future__ import annotations

import copy
import json

import jsonschema
import pytest
from report_samples import SCHEMA, default_policies, key_result, raw_host, sample_report

from ansible_collections.fleetauth.ssh.plugins.plugin_utils._report.common import ReportError
from ansible_collections.fleetauth.ssh.plugins.plugin_utils._report.host import build_host
from ansible_collections.fleetauth.ssh.plugins.plugin_utils._report.report import build_report


@pytest.fixture(scope="module")
def validator():
    with open(SCHEMA, encoding="utf-8") as handle:
        schema = json.load(handle)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def errors(validator, report):
    return ["%s: %s" % ("/".join(map(str, e.absolute_path)), e.message) for e in validator.iter_errors(report)]


POLICIES = [
    {"id": "pw-off", "title": "Password off", "severity": "high", "expression": "sshd.auth.password == `false`"},
    {"id": "tries", "title": "MaxAuthTries", "severity": "low", "expression": "sshd.auth.max_auth_tries <= `6`"},
    {
        "id": "keys",
        "title": "No weak keys",
        "severity": "critical",
        "applies_when": "authorized_keys.status == 'collected'",
        "expression": "length(authorized_keys.findings) == `0`",
    },
]


def test_hosts_sorted_naturally_and_missing_ones_reported():
    report = build_report(
        [build_host(raw_host("web-10")), build_host(raw_host("web-2"))],
        POLICIES,
        generated_at="2025-01-01T00:00:00Z",
        expected_hosts=["web-2", "web-10", "web-1"],
    )
    assert [h["name"] for h in report["hosts"]] == ["web-1", "web-2", "web-10"]
    missing = report["hosts"][0]
    assert missing["status"] == "missing"
    assert "no audit data for this host" in missing["error"]
    assert [r["status"] for r in missing["policies"]] == ["error"] * 3
    assert report["summary"]["hosts"] == {"ok": 2, "unreachable": 0, "failed": 0, "missing": 1, "compliant": 0, "noncompliant": 2, "unknown": 1, "total": 3}


def test_results_counts_compliance_and_findings():
    hosts = {
        "a": build_host(raw_host("a", keys=key_result())),
        "b": build_host({"name": "b", "status": "unreachable", "error": "timeout"}),
    }
    report = build_report(hosts, POLICIES, generated_at="2025-01-01T00:00:00Z")
    a, b = report["hosts"]
    assert [(r["id"], r["status"]) for r in a["policies"]] == [("pw-off", "fail"), ("tries", "pass"), ("keys", "fail")]
    assert a["counts"] == {"pass": 1, "fail": 2, "error": 0, "na": 0}
    assert a["compliance"] == "noncompliant"
    assert b["compliance"] == "unknown"
    assert b["policies"][0]["reason"] == "not evaluated: host unreachable: timeout"
    assert [(f["source"], f["kind"], f["severity"]) for f in a["findings"]] == [
        ("policy", "pw-off", "high"),
        ("policy", "keys", "critical"),
        ("authorized_keys", "weak", "high"),
        ("authorized_keys", "duplicate", "medium"),
    ]
    assert a["findings"][0]["message"] == "Password off: expression is false"
    assert report["policies"][0]["counts"] == {"pass": 0, "fail": 1, "error": 1, "na": 0}
    assert report["summary"]["results"] == {"pass": 1, "fail": 2, "error": 3, "na": 0}
    assert report["summary"]["findings"]["total"] == 4
    assert report["summary"]["findings"]["by_severity"] == {"critical": 1, "high": 2, "medium": 1, "low": 0, "info": 0}
    assert report["summary"]["findings"]["by_kind"][0] == {"source": "policy", "kind": "keys", "severity": "critical", "count": 1, "hosts": 1}


def test_policies_cannot_see_other_policies_results():
    first = build_report([build_host(raw_host("a"))], POLICIES, generated_at="2025-01-01T00:00:00Z")
    # Feed the finished host document back in: the derived keys are dropped and recomputed.
    peek = [{"id": "peek", "title": "t", "severity": "info", "expression": "policies == null && findings == null && counts == null"}]
    again = build_report(first["hosts"], peek, generated_at="2025-01-01T00:00:00Z")
    assert again["hosts"][0]["policies"][0]["status"] == "pass"


def test_bad_host_input_is_refused_with_the_reason():
    with pytest.raises(ReportError, match="host a appears twice"):
        build_report([{"name": "a", "status": "ok"}, {"name": "a", "status": "ok"}], POLICIES)
    with pytest.raises(ReportError, match="item 0 is not a host document with a name"):
        build_report([{"status": "ok"}], POLICIES)
    with pytest.raises(ReportError, match="has status 'weird'"):
        build_report([{"name": "a", "status": "weird"}], POLICIES)
    with pytest.raises(ReportError, match="expects a list of host documents"):
        build_report("a", POLICIES)


def test_a_partial_host_document_gets_every_section(validator):
    report = build_report([{"name": "a", "status": "unreachable", "error": "x"}], POLICIES, generated_at="2025-01-01T00:00:00Z")
    assert errors(validator, report) == []


def test_the_sample_fleet_validates_and_survives_json(validator):
    report = sample_report(hostile=True)
    assert errors(validator, report) == []
    assert json.loads(json.dumps(report)) == report
    statuses = {h["name"]: h["status"] for h in report["hosts"]}
    assert statuses["db-1"] == "unreachable" and statuses["web-2"] == "ok" and statuses["<script>alert(1)</script>"] == "failed"


def test_a_report_without_policies_or_hosts_validates(validator):
    assert errors(validator, build_report([], [], generated_at="2025-01-01T00:00:00Z")) == []


def test_report_with_default_policies_and_a_broken_policy_validates(validator):
    policies = default_policies()["policies"] + [{"id": "broken", "title": "t", "severity": "low", "expression": "a =="}]
    report = build_report([build_host(raw_host("a"))], policies, generated_at="2025-01-01T00:00:00Z")
    assert errors(validator, report) == []
    assert report["policies"][-1]["error"].startswith("policy 'broken': invalid JMESPath")
    assert report["hosts"][0]["compliance"] == "noncompliant"


@pytest.mark.parametrize(
    "path,value,message",
    [
        (("hosts", 0, "status"), "down", "'down' is not one of"),
        (("hosts", 0, "policies", 0, "status"), "passed", "'passed' is not one of"),
        (("policies", 0, "severity"), "urgent", "'urgent' is not one of"),
        (("hosts", 0, "sshd", "effective", "PasswordAuthentication"), "yes", "does not match"),
        (("hosts", 0, "authorized_keys", "reason"), None, "None is not of type 'string'"),
        (("format_version",), 2, "1 was expected"),
        (("hosts", 0, "surprise"), 1, "Additional properties are not allowed"),
    ],
)
def test_schema_rejects_malformed_reports(validator, path, value, message):
    report = copy.deepcopy(build_report([build_host(raw_host("a"))], POLICIES, generated_at="2025-01-01T00:00:00Z"))
    target = report
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    found = errors(validator, report)
    assert found, "the schema accepted %s=%r" % ("/".join(map(str, path)), value)
    assert any(message in e for e in found), found


def test_key_findings_keep_only_the_documented_fields():
    result = key_result()
    result["findings"][0]["blob"] = "AAAAB3NzaC1yc2EAAAADAQABAAABAQ"
    result["findings"][0]["raw_line"] = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ admin"
    report = build_report([build_host(raw_host("a", keys=result))], POLICIES, generated_at="2025-01-01T00:00:00Z")
    assert "AAAAB3NzaC1yc2E" not in json.dumps(report["hosts"][0]["authorized_keys"]["findings"])
    assert "AAAAB3NzaC1yc2E" not in json.dumps(report["hosts"][0]["findings"])
