# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The filters as playbooks use them: loaded by ansible-playbook from the collection, fed Ansible's own data types."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.fleetauth.ssh.plugins.filter import policy as policy_filters

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))
COLLECTIONS = os.path.join(REPO, "tests", "output", "collections")
FIXTURES = os.path.join(REPO, "tests", "unit", "fixtures", "report")
PLAYBOOK_BIN = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")


def test_filter_module_exposes_the_documented_filters():
    filters = policy_filters.FilterModule().filters()
    assert sorted(filters) == ["audit_contexts", "audit_host", "audit_policies", "evaluate_policies", "fleet_report", "report_html"]
    for name in filters:
        assert os.path.isfile(os.path.join(REPO, "plugins", "filter", name + ".yml")), "no documentation for %s" % name


@pytest.mark.parametrize(
    "call,message",
    [
        (
            lambda: policy_filters.audit_policies([{"id": "x"}]),
            "fleetauth.ssh.audit_policies: policy file has 1 problem(s):\n- policies[0] (id 'x'): missing title, severity, expression",
        ),
        (lambda: policy_filters.audit_contexts([{"user": "a b"}]), "fleetauth.ssh.audit_contexts: audit_contexts has 1 problem(s)"),
        (lambda: policy_filters.audit_host({}), "fleetauth.ssh.audit_host: audit_host: 'name' (the inventory hostname) is required"),
        (
            lambda: policy_filters.fleet_report([{"name": "a", "status": "ok"}], "nope"),
            "fleetauth.ssh.fleet_report: policy file: expected a list of policies, got str",
        ),
        (lambda: policy_filters.evaluate_policies({}, [{"id": "a", "title": "t", "severity": "bad", "expression": "`true`"}]), "severity 'bad' is not one of"),
    ],
)
def test_input_errors_become_filter_errors_naming_the_filter(call, message):
    with pytest.raises(AnsibleFilterError) as caught:
        call()
    assert message in str(caught.value)


def run_playbook(tmp_path, body):
    playbook = tmp_path / "play.yml"
    playbook.write_text(textwrap.dedent(body), encoding="utf-8")
    env = dict(
        os.environ,
        ANSIBLE_COLLECTIONS_PATH=COLLECTIONS,
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        ANSIBLE_LOCALHOST_WARNING="0",
        ANSIBLE_INVENTORY_UNPARSED_WARNING="0",
    )
    return subprocess.run(
        [PLAYBOOK_BIN, "-i", "localhost,", "-c", "local", "-e", "fixtures=%s" % FIXTURES, str(playbook)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
        cwd=str(tmp_path),
    )


@pytest.mark.skipif(not os.path.exists(PLAYBOOK_BIN), reason="ansible-playbook is not next to this Python")
def test_filters_in_a_real_playbook(tmp_path):
    result = run_playbook(
        tmp_path,
        """
        - hosts: localhost
          gather_facts: false
          vars:
            bs: "{{ '%c' | format(92) }}"
            policies:
              - {id: pw-off, title: Password off, severity: high, expression: "sshd.auth.password == `false`", evidence: sshd.effective.passwordauthentication}
              - {id: broken, title: Broken, severity: low, expression: "sshd.auth.password =="}
              - {id: ops-mfa, title: MFA for ops, severity: high, applies_when: "sshd.contexts", expression: "sshd.contexts[0].auth.multi_factor"}
            contexts: "{{ [{'name': 'ops', 'user': 'ops', 'addr': '10.0.0.5'}] | fleetauth.ssh.audit_contexts }}"
            raw:
              name: "{{ inventory_hostname }}"
              sshd_T: {rc: 0, stdout: "{{ lookup('ansible.builtin.file', fixtures ~ '/sshd_T_bookworm.txt') }}", stderr: ""}
              sshd_version: {rc: 0, stdout: "", stderr: "OpenSSH_9.2, OpenSSL 3.0.20"}
              pam_text: "{{ lookup('ansible.builtin.file', fixtures ~ '/pam_sshd_totp_nullok') }}"
              contexts: "{{ [contexts[0] | combine({'result': ops_result})] }}"
            ops_result: {rc: 0, stdout: "passwordauthentication no\\nauthenticationmethods publickey,password", stderr: ""}
            others: [{name: "<script>x</script>", status: unreachable, error: refused}]
          tasks:
            - name: Build, evaluate, assemble, render
              ansible.builtin.set_fact:
                doc: "{{ raw | fleetauth.ssh.audit_host }}"
                checked: "{{ policies | fleetauth.ssh.audit_policies }}"
            - ansible.builtin.set_fact:
                results: "{{ doc | fleetauth.ssh.evaluate_policies(policies) }}"
                report: "{{ ([doc] + others) | fleetauth.ssh.fleet_report(checked, title='T', expected_hosts=['localhost', 'ghost']) }}"
            - ansible.builtin.set_fact:
                html: "{{ report | fleetauth.ssh.report_html }}"
            - ansible.builtin.assert:
                that:
                  - doc.openssh.version == '9.2'
                  - doc.pam.second_factors == ['pam_google_authenticator']
                  - doc.sshd.contexts[0].spec == 'user=ops,addr=10.0.0.5'
                  - doc.sshd.contexts[0].overrides.passwordauthentication == 'no'
                  - results | map(attribute='status') | list == ['fail', 'error', 'pass']
                  - results[0].reason is ansible.builtin.match('expression is false; found. .yes.$')
                  - "'incomplete expression' in results[1].reason"
                  - report.hosts | map(attribute='name') | list == ['<script>x</script>', 'ghost', 'localhost']
                  - report.hosts[1].status == 'missing'
                  - report.summary.hosts.total == 3
                  - report.title == 'T'
                  - "'<script>x</script>' not in html"
                  - "'u003cscriptu003exu003c/scriptu003e' in html | replace(bs, '')"
                  - (report | to_json | from_json) == report
        """,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "All assertions passed" in result.stdout


@pytest.mark.skipif(not os.path.exists(PLAYBOOK_BIN), reason="ansible-playbook is not next to this Python")
def test_a_bad_policy_file_stops_the_play_with_every_problem(tmp_path):
    result = run_playbook(
        tmp_path,
        """
        - hosts: localhost
          gather_facts: false
          tasks:
            - ansible.builtin.set_fact:
                checked: "{{ [{'id': 'A', 'title': 't', 'severity': 'urgent', 'expression': '`true`'}, {'id': 'b'}] | fleetauth.ssh.audit_policies }}"
        """,
    )
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "fleetauth.ssh.audit_policies: policy file has 3 problem(s)" in output
    assert "policies[0] (id 'A'): severity 'urgent' is not one of critical, high, medium, low, info" in output
    assert "policies[1] (id 'b'): missing title, severity, expression" in output
