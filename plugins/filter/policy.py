# -*- coding: utf-8 -*-
# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fleet audit report filters: JMESPath compliance policies, host documents, the report and its HTML page.

Documentation for each filter lives next to this file (``<filter>.yml``);
the logic lives in ``plugins/plugin_utils/_report``.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.fleetauth.ssh.plugins.plugin_utils._report.common import ReportError
from ansible_collections.fleetauth.ssh.plugins.plugin_utils._report.host import build_host, normalize_contexts
from ansible_collections.fleetauth.ssh.plugins.plugin_utils._report.policies import evaluate_policies as _evaluate
from ansible_collections.fleetauth.ssh.plugins.plugin_utils._report.policies import normalize_policies
from ansible_collections.fleetauth.ssh.plugins.plugin_utils._report.render import render_html
from ansible_collections.fleetauth.ssh.plugins.plugin_utils._report.report import build_report


def _wrap(name, func, *args, **kwargs):
    try:
        return func(*args, **kwargs)
    except ReportError as exc:
        raise AnsibleFilterError("fleetauth.ssh.%s: %s" % (name, exc)) from None


def audit_policies(data):
    """Validated, normalised policy list from a loaded policy file."""
    return _wrap("audit_policies", normalize_policies, data)


def audit_contexts(contexts):
    """Validated connection contexts with their ``sshd -T -C`` spec."""
    return _wrap("audit_contexts", normalize_contexts, contexts)


def audit_host(raw):
    """One host's audit document from what the audit play collected."""
    return _wrap("audit_host", build_host, raw)


def evaluate_policies(document, policies):
    """Policy results (pass/fail/error/na with a reason) for one host document."""
    return _wrap("evaluate_policies", _evaluate, document, policies)


def fleet_report(hosts, policies, title=None, generated_at=None, policy_source=None, ansible_version=None, expected_hosts=None):
    """The fleet report (see docs/report.schema.json)."""
    return _wrap(
        "fleet_report",
        build_report,
        hosts,
        policies,
        title=title,
        generated_at=generated_at,
        policy_source=policy_source,
        ansible_version=ansible_version,
        expected_hosts=expected_hosts,
    )


def report_html(report):
    """The report as one self-contained HTML page."""
    return _wrap("report_html", render_html, report)


class FilterModule:
    """fleetauth.ssh audit report filters."""

    def filters(self):
        return {
            "audit_policies": audit_policies,
            "audit_contexts": audit_contexts,
            "audit_host": audit_host,
            "evaluate_policies": evaluate_policies,
            "fleet_report": fleet_report,
            "report_html": report_html,
        }
