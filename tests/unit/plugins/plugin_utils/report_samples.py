# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Sample audit data for the report tests: real sshd -T / PAM files from the lab, plus hostile strings."""

from __future__ import annotations

import os

import yaml

from ansible_collections.fleetauth.ssh.plugins.plugin_utils._report.host import build_host
from ansible_collections.fleetauth.ssh.plugins.plugin_utils._report.report import build_report

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", "..", ".."))
FIXTURES = os.path.join(REPO, "tests", "unit", "fixtures", "report")
SCHEMA = os.path.join(REPO, "docs", "report.schema.json")
DEFAULT_POLICIES = os.path.join(REPO, "playbooks", "policies", "default.yml")

HOSTILE = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(2)>",
    "</script><script>alert(3)</script>",
    '"><svg onload=alert(4)>',
    "<!--",
    "\u2028\u2029 line separators & ampersands",
]


def fixture(name):
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as handle:
        return handle.read()


def default_policies():
    with open(DEFAULT_POLICIES, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def command(stdout="", rc=0, stderr=""):
    return {"rc": rc, "stdout": stdout, "stderr": stderr, "changed": False}


def hardened_sshd_t(base="sshd_T_bookworm.txt"):
    """The bookworm dump with the default policies' recommendations applied."""
    replace = {
        "passwordauthentication": "no",
        "maxauthtries": "3",
        "requiredrsasize": "3072",
        "kbdinteractiveauthentication": "yes",
        "authenticationmethods": "publickey,keyboard-interactive",
    }
    lines = []
    for line in fixture(base).splitlines():
        keyword = line.split(" ", 1)[0]
        lines.append("%s %s" % (keyword, replace[keyword]) if keyword in replace else line)
    return "\n".join(lines) + "\n"


def raw_host(name, sshd_t=None, pam=None, contexts=None, keys=None, version="OpenSSH_9.2, OpenSSL 3.0.20 7 Apr 2026", match_scan=""):
    raw = {
        "name": name,
        "sshd_version": command(stderr=version),
        "sshd_T": command(sshd_t if sshd_t is not None else fixture("sshd_T_bookworm.txt")),
        "match_scan": command(match_scan, rc=0 if match_scan else 1),
        "pam_text": pam if pam is not None else fixture("pam_sshd_bookworm"),
        "contexts": contexts or [],
    }
    if keys is not None:
        raw["authorized_keys"] = keys
    return raw


def key_result(comment="<script>alert(5)</script>"):
    """A result shaped like fleetauth.ssh.authorized_key_audit's RETURN (issue 4; users keyed by account)."""
    return {
        "changed": False,
        "summary": {"accounts": 3, "keys": 2, "findings": 2, "by_severity": {"high": 1, "medium": 1}, "by_kind": {"weak": 1, "duplicate": 1}},
        "users": {
            "admin": {
                "uid": 1000,
                "home": "/home/admin",
                "files": [{"path": "/home/admin/.ssh/authorized_keys", "status": "ok", "mode": "0600", "owner_uid": 1000, "lines": 1, "keys": 1}],
                "keys": [
                    {"file": "/home/admin/.ssh/authorized_keys", "line": 3, "type": "ssh-rsa", "bits": 2048, "fingerprint": "SHA256:abc", "comment": comment}
                ],
            },
            "ops": {"keys": ["SHA256:def"]},
        },
        "findings": [
            {
                "severity": "high",
                "kind": "weak",
                "user": "admin",
                "file": "/home/admin/.ssh/authorized_keys",
                "line": 3,
                "fingerprint": "SHA256:abc",
                "message": "RSA key of 2048 bits < 3072 (%s)" % comment,
            },
            {"severity": "medium", "kind": "duplicate", "user": "ops", "file": "/home/ops/.ssh/authorized_keys", "line": "7", "fingerprint": "SHA256:def"},
        ],
    }


def sample_report(hostile=True):
    """A report with ok, hardened, unreachable and failed hosts, contexts, keys, and (optionally) hostile strings everywhere."""
    ops_sshd = hardened_sshd_t()
    hosts = [
        build_host(raw_host("web-10")),
        build_host(raw_host("web-2", sshd_t=hardened_sshd_t(), pam=fixture("pam_sshd_totp_nullok"), keys=key_result())),
        build_host(
            raw_host(
                "bastion-1",
                sshd_t=fixture("sshd_T_bullseye.txt"),
                version="unknown option -- V\nOpenSSH_8.4p1 Debian-5+deb11u3, OpenSSL 1.1.1w  11 Sep 2023\nusage: sshd [-46DdeiqTt]",
                contexts=[{"name": "ops", "criteria": {"user": "ops"}, "spec": "user=ops", "result": command(ops_sshd)}],
                match_scan="/etc/ssh/sshd_config:120:Match Group ops\n",
            )
        ),
        build_host({"name": "db-1", "status": "unreachable", "error": "Failed to connect to the host via ssh: Connection refused"}),
    ]
    policies = default_policies()
    if hostile:
        for index, text in enumerate(HOSTILE):
            hosts.append(build_host({"name": text, "status": "failed", "error": "sudo said: " + text}))
            hosts.append(
                build_host(
                    raw_host("evil-%d" % index, keys=key_result(comment=text), match_scan="/etc/ssh/sshd_config:1:Match User %s\n" % text.replace(" ", "_"))
                )
            )
        policies = dict(policies)
        policies["policies"] = list(policies["policies"]) + [
            {
                "id": "hostile-title",
                "title": HOSTILE[0],
                "severity": "info",
                "expression": "name != '%s'" % "x",
                "description": HOSTILE[1],
                "remediation": HOSTILE[2],
            }
        ]
    return build_report(
        hosts, policies, title="Audit " + (HOSTILE[2] if hostile else "lab"), generated_at="2025-06-01T12:00:00Z", policy_source="policies/default.yml"
    )
