# -*- coding: utf-8 -*-
# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The fleet report: host documents + policy results + summary (shape: docs/report.schema.json)."""

from __future__ import annotations

import re
from collections.abc import Mapping

from .common import FORMAT_VERSION, HOST_STATUSES, REPORT_FORMAT, RESULT_STATUSES, SEVERITIES, ReportError, clip, plain, severity_rank, utc_now
from .host import keys_section
from .policies import count_results, evaluate_policies, normalize_policies

DEFAULT_TITLE = "SSH authentication audit"
# Keys the report adds to a host document; stripped before policies see it, so a
# policy cannot depend on another policy's result.
DERIVED_HOST_KEYS = ("policies", "counts", "compliance", "findings")


def natural_key(name):
    """Sort "web-2" before "web-10"."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def _missing_host(name, reason, status="missing"):
    return {
        "name": name,
        "status": status,
        "error": reason,
        "openssh": {"version": None, "major": None, "minor": None, "banner": None},
        "sshd": {"effective": None, "auth": None, "error": None, "notes": [], "contexts": [], "match_blocks": None},
        "pam": {"status": "not_collected", "source": "pam_file_scan"},
        "authorized_keys": keys_section(None, "host not audited"),
    }


def _host_list(hosts, expected):
    """Plain host documents keyed by name, from a list or a {name: document} mapping."""
    if isinstance(hosts, Mapping):
        items = []
        for name, value in hosts.items():
            if value is None:
                continue
            if not isinstance(value, Mapping):
                raise ReportError("fleet_report: host %s: expected a host document (from fleetauth.ssh.audit_host), got %s" % (name, type(value).__name__))
            items.append(dict(value, name=value.get("name") or name))
        hosts = items
    if not isinstance(hosts, (list, tuple)):
        raise ReportError("fleet_report expects a list of host documents (or a mapping of name to document), got %s" % type(hosts).__name__)
    by_name = {}
    for index, item in enumerate(hosts):
        if item is None:
            continue
        if not isinstance(item, Mapping) or not isinstance(item.get("name"), str) or not item.get("name"):
            raise ReportError("fleet_report: item %d is not a host document with a name (build them with fleetauth.ssh.audit_host)" % index)
        doc = {key: value for key, value in plain(item).items() if key not in DERIVED_HOST_KEYS}
        if doc.get("status") not in HOST_STATUSES:
            raise ReportError("fleet_report: host %s has status %r; expected one of %s" % (doc["name"], doc.get("status"), ", ".join(HOST_STATUSES)))
        # A partial document (e.g. only name, status and error) gets the empty sections a full one has.
        for key, value in _missing_host(doc["name"], None, doc["status"]).items():
            doc.setdefault(key, value)
        if doc["name"] in by_name:
            raise ReportError("fleet_report: host %s appears twice" % doc["name"])
        by_name[doc["name"]] = doc
    for expected_name in expected or ():
        name = str(expected_name)
        if name not in by_name:
            by_name[name] = _missing_host(name, "no audit data for this host in this run (it was not reached, or its play stopped before collecting)")
    return [by_name[name] for name in sorted(by_name, key=natural_key)]


def _findings(doc, results, policies_by_id):
    findings = []
    for result in results:
        if result["status"] != "fail":
            continue
        policy = policies_by_id[result["id"]]
        findings.append(
            {
                "source": "policy",
                "kind": policy["id"],
                "severity": policy["severity"],
                "message": clip("%s: %s" % (policy["title"], result["reason"]), 600),
            }
        )
    keys = doc.get("authorized_keys") or {}
    for finding in keys.get("findings") or []:
        entry = {"source": "authorized_keys"}
        entry.update(finding)
        entry.setdefault("message", "%s key finding" % finding.get("kind", "unknown"))
        findings.append(entry)
    return findings


def _compliance(counts):
    if counts["fail"]:
        return "noncompliant"
    if counts["error"]:
        return "unknown"
    return "compliant"


def build_report(hosts, policies, title=None, generated_at=None, policy_source=None, ansible_version=None, expected_hosts=None):
    """Assemble the fleet report; every host is evaluated against every policy."""
    normalized = normalize_policies(policies)
    by_id = {policy["id"]: policy for policy in normalized}
    documents = _host_list(hosts, expected_hosts)

    policy_counts = {policy["id"]: dict.fromkeys(RESULT_STATUSES, 0) for policy in normalized}
    host_counts = dict.fromkeys(HOST_STATUSES, 0)
    host_counts.update({"compliant": 0, "noncompliant": 0, "unknown": 0})
    result_totals = dict.fromkeys(RESULT_STATUSES, 0)
    kinds = {}
    by_severity = dict.fromkeys(SEVERITIES, 0)

    for doc in documents:
        not_evaluated = None
        if doc["status"] != "ok":
            not_evaluated = "host %s: %s" % (doc["status"], doc.get("error") or "no detail")
        results = evaluate_policies(doc, normalized, not_evaluated=not_evaluated)
        counts = count_results(results)
        doc["policies"] = results
        doc["counts"] = counts
        doc["compliance"] = _compliance(counts)
        doc["findings"] = _findings(doc, results, by_id)

        host_counts[doc["status"]] += 1
        host_counts[doc["compliance"]] += 1
        for result in results:
            policy_counts[result["id"]][result["status"]] += 1
            result_totals[result["status"]] += 1
        for finding in doc["findings"]:
            key = (finding["source"], finding["kind"])
            entry = kinds.setdefault(key, {"source": finding["source"], "kind": finding["kind"], "severity": finding["severity"], "count": 0, "hosts": 0})
            entry["count"] += 1
            if severity_rank(finding["severity"]) < severity_rank(entry["severity"]):
                entry["severity"] = finding["severity"]
            by_severity[finding["severity"]] = by_severity.get(finding["severity"], 0) + 1
        for key in {(f["source"], f["kind"]) for f in doc["findings"]}:
            kinds[key]["hosts"] += 1

    report_policies = []
    for policy in normalized:
        entry = dict(policy)
        entry["counts"] = policy_counts[policy["id"]]
        report_policies.append(entry)

    host_counts["total"] = len(documents)
    return {
        "format": REPORT_FORMAT,
        "format_version": FORMAT_VERSION,
        "title": clip(title or DEFAULT_TITLE, 200),
        "generated_at": generated_at or utc_now(),
        "generator": {"name": "fleetauth.ssh", "ansible_version": str(ansible_version) if ansible_version else None},
        "policy_source": clip(policy_source, 500) if policy_source else None,
        "summary": {
            "hosts": host_counts,
            "results": result_totals,
            "findings": {
                "total": sum(entry["count"] for entry in kinds.values()),
                "by_severity": by_severity,
                "by_kind": sorted(kinds.values(), key=lambda e: (-e["count"], severity_rank(e["severity"]), e["source"], e["kind"])),
            },
        },
        "policies": report_policies,
        "hosts": documents,
    }
