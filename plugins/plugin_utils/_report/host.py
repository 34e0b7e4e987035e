# -*- coding: utf-8 -*-
# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One host's audit document, built on the controller from what playbooks/audit.yml read.

The document is what policies (JMESPath) see and what the report shows::

    name, status (ok|unreachable|failed|missing), error
    openssh:          {version, major, minor, banner}
    sshd:             {effective, auth, notes, contexts[], match_blocks}
    pam:              {status, source, ...}            (file scan today; pam_kbdint's report later)
    authorized_keys:  {status, reason, summary, users, findings}

Every section can be replaced independently: a module that reports one of
them better (pam_kbdint, authorized_key_audit) hands its result to
:func:`build_host` instead of the raw text.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping

from ansible_collections.fleetauth.ssh.plugins.module_utils._sshd_runtime import parse_effective, parse_version

from .common import HOST_STATUSES, SEVERITIES, ReportError, clip, plain

CONTEXT_FIELDS = ("user", "host", "addr", "laddr", "lport", "rdomain")
CONTEXT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.:@/-]{0,63}$")
_SPEC_VALUE = re.compile(r"^[^,\s]{1,255}$")

SECOND_FACTOR_MODULES = ("pam_google_authenticator", "pam_oath")
PASSWORD_STACKS = ("common-auth", "password-auth", "system-auth")

KEY_FINDING_FIELDS = ("severity", "kind", "reason", "user", "file", "line", "end_line", "fingerprint", "message", "path", "mode", "owner_uid")
_KEY_FINDING_INTS = ("line", "end_line", "owner_uid")


# ---------------------------------------------------------------- contexts


def normalize_contexts(contexts):
    """Validate user-supplied connection contexts (``audit_contexts``).

    Each item: ``{name: optional label, user:, host:, addr:, laddr:, lport:, rdomain:}``
    with at least one criterion. Returns ``[{name, criteria, spec}]`` where
    *spec* is the ``sshd -T -C`` argument. Raises :class:`ReportError` listing
    every problem.
    """
    if contexts is None:
        return []
    if not isinstance(contexts, (list, tuple)):
        raise ReportError("audit_contexts must be a list of mappings such as {name: ops, user: ops, addr: 10.0.0.5}, got %s" % type(contexts).__name__)
    problems = []
    result = []
    names = set()
    for index, item in enumerate(contexts):
        label = "audit_contexts[%d]" % index
        if not isinstance(item, Mapping):
            problems.append("%s: expected a mapping with some of %s, got %s" % (label, ", ".join(CONTEXT_FIELDS), type(item).__name__))
            continue
        raw = plain(item)
        unknown = sorted(set(raw) - set(CONTEXT_FIELDS) - {"name"})
        if unknown:
            problems.append("%s: unknown key(s) %s (allowed: name, %s)" % (label, ", ".join(unknown), ", ".join(CONTEXT_FIELDS)))
        criteria = {}
        invalid = False
        for field in CONTEXT_FIELDS:
            value = raw.get(field)
            if value is None or value == "":
                continue
            value = str(value)
            if not _SPEC_VALUE.match(value):
                problems.append("%s: %s=%r must be one word without commas or spaces (sshd -T -C syntax)" % (label, field, value))
                invalid = True
                continue
            criteria[field] = value
        if not criteria and not unknown and not invalid:
            problems.append("%s: give at least one of %s" % (label, ", ".join(CONTEXT_FIELDS)))
        spec = ",".join("%s=%s" % (field, criteria[field]) for field in CONTEXT_FIELDS if field in criteria)
        name = str(raw.get("name") or spec)
        if raw.get("name") and not CONTEXT_NAME.match(name):
            problems.append("%s: name %r must be 1-64 characters: letters, digits, space, _ . : @ / -" % (label, name))
        if name and name in names:
            problems.append("%s: name %r is used twice; give each context its own name" % (label, name))
        names.add(name)
        result.append({"name": name, "criteria": criteria, "spec": spec})
    if problems:
        raise ReportError("audit_contexts has %d problem(s):\n- %s" % (len(problems), "\n- ".join(problems)))
    return result


# ---------------------------------------------------------------- sshd


def _command(result):
    """(rc, stdout, stderr) from a registered command result or a plain string."""
    if result is None:
        return None
    if isinstance(result, str):
        return 0, result, ""
    if not isinstance(result, Mapping):
        raise ReportError("expected a command result (rc, stdout, stderr) or text, got %s" % type(result).__name__)
    if result.get("skipped"):
        return None
    rc = result.get("rc")
    if rc is None:
        rc = 1 if result.get("failed") else 0
    err = str(result.get("stderr") or "")
    if rc and not err:
        err = str(result.get("msg") or "")
    return int(rc), str(result.get("stdout") or ""), err


def _message(rc, out, err):
    text = "\n".join(part.strip() for part in (err, out) if part and part.strip())
    return clip(text or "exit code %d" % rc, 600)


def _yes(effective, keyword):
    value = effective.get(keyword)
    if value is None:
        return None
    return str(value).lower() == "yes"


def _int(effective, keyword):
    try:
        return int(str(effective.get(keyword)))
    except (TypeError, ValueError):
        return None


def auth_summary(effective):
    """Typed, version-independent view of the auth keywords of one ``sshd -T`` dump.

    * ``kbdint`` follows ChallengeResponseAuthentication when the dump has it
      (OpenSSH before 8.7, where it is what switches keyboard-interactive on or
      off) and KbdInteractiveAuthentication otherwise.
    * ``authentication_methods``: ``[]`` for "any", else one list of steps per
      alternative (space-separated lists of comma-separated methods).
    * ``multi_factor``: every alternative needs at least two different methods.
    """
    if not effective:
        return None
    kbdint_keyword = "challengeresponseauthentication" if "challengeresponseauthentication" in effective else "kbdinteractiveauthentication"
    methods_text = str(effective.get("authenticationmethods") or "any").strip()
    alternatives = [] if methods_text == "any" else [[step for step in alt.split(",") if step] for alt in methods_text.split()]
    multi = bool(alternatives) and all(len({step.split(":")[0] for step in alt}) >= 2 for alt in alternatives)
    return {
        "pubkey": _yes(effective, "pubkeyauthentication"),
        "password": _yes(effective, "passwordauthentication"),
        "kbdint": _yes(effective, kbdint_keyword),
        "kbdint_keyword": kbdint_keyword,
        "usepam": _yes(effective, "usepam"),
        "permit_root_login": effective.get("permitrootlogin"),
        "permit_empty_passwords": _yes(effective, "permitemptypasswords"),
        "max_auth_tries": _int(effective, "maxauthtries"),
        "authentication_methods": alternatives,
        "multi_factor": multi,
    }


def _overrides(global_effective, effective):
    return {key: value for key, value in sorted(effective.items()) if global_effective.get(key) != value}


def sshd_section(sshd_T, sshd_T_fallback=None, contexts=None, match_scan=None, config_paths=None):
    """The ``sshd`` section from ``sshd -T`` (and the per-context runs)."""
    section = {"effective": None, "auth": None, "error": None, "notes": [], "contexts": [], "match_blocks": None}
    first = _command(sshd_T)
    if first is None:
        section["error"] = "sshd -T was not run"
    elif first[0] == 0:
        section["effective"] = parse_effective(first[1])
    else:
        fallback = _command(sshd_T_fallback)
        if fallback is not None and fallback[0] == 0:
            section["effective"] = parse_effective(fallback[1])
            section["notes"].append(
                "`sshd -T` needs -C when Match blocks exist (OpenSSH before 8.1); global values were read with "
                "-C user=root,host=localhost,addr=127.0.0.1, so Match blocks matching that connection are applied: %s" % _message(*first)
            )
        else:
            section["error"] = "`sshd -T` failed: %s" % _message(*(fallback or first))
    if section["effective"] is not None and not section["effective"]:
        section["error"] = "`sshd -T` printed nothing"
        section["effective"] = None
    section["auth"] = auth_summary(section["effective"])

    for item in contexts or ():
        if not isinstance(item, Mapping):
            raise ReportError("each context result must be a mapping with name, criteria, spec and the sshd -T -C result")
        # One result of the looped `sshd -T -C` task carries its context as `item`.
        raw = dict(item["item"], result=item) if isinstance(item.get("item"), Mapping) else item
        entry = {
            "name": str(raw.get("name") or raw.get("spec") or ""),
            "criteria": plain(raw.get("criteria") or {}),
            "spec": str(raw.get("spec") or ""),
            "effective": None,
            "auth": None,
            "overrides": None,
            "error": None,
        }
        outcome = _command(raw.get("result"))
        if outcome is None:
            entry["error"] = "not evaluated"
        elif outcome[0] != 0:
            entry["error"] = "`sshd -T -C %s` failed: %s" % (entry["spec"], _message(*outcome))
        else:
            entry["effective"] = parse_effective(outcome[1])
            entry["auth"] = auth_summary(entry["effective"])
            if section["effective"] is not None:
                entry["overrides"] = _overrides(section["effective"], entry["effective"])
        section["contexts"].append(entry)

    section["match_blocks"] = match_blocks(match_scan, config_paths)
    return section


def match_blocks(scan, config_paths=None):
    """``Match`` lines found by ``grep -rHn`` over the sshd configuration files.

    Only files sshd reads by default are kept (the main file and ``*.conf`` in
    the drop-in directory); Include directives elsewhere are not followed, so
    the list can be incomplete and says so. This is the hook for automatic
    context discovery: today it only reports the criteria.
    """
    paths = list(config_paths or ("/etc/ssh/sshd_config", "/etc/ssh/sshd_config.d"))
    outcome = _command(scan)
    base = {
        "status": "not_collected",
        "source": "grep of %s" % ", ".join(paths),
        "note": "Include directives outside these paths are not followed; evaluate a block's effect by listing a matching connection in audit_contexts.",
        "blocks": [],
    }
    if outcome is None:
        return base
    rc, out, err = outcome
    if rc not in (0, 1) and not out:
        base["status"] = "error"
        base["error"] = _message(rc, out, err)
        return base
    base["status"] = "collected"
    for line in out.splitlines():
        path, _sep, rest = line.partition(":")
        number, _sep, text = rest.partition(":")
        if not number.isdigit():
            continue
        if "/sshd_config.d/" in path and not path.endswith(".conf"):
            continue
        criteria = text.strip()
        criteria = re.sub(r"^(?i:match)\s+", "", criteria)
        base["blocks"].append({"file": path, "line": int(number), "criteria": clip(criteria, 300)})
    return base


def openssh_section(version_output):
    """``{version, major, minor, banner}`` from ``sshd -V`` output (or the usage text older sshd prints)."""
    outcome = _command(version_output)
    text = ""
    if outcome is not None:
        text = "\n".join(part for part in (outcome[2], outcome[1]) if part)
    match = re.search(r"OpenSSH_([0-9][^\s,]*)", text)
    version = parse_version(text)
    if not match or version is None:
        return {"version": None, "major": None, "minor": None, "banner": None}
    banner = next((line.strip() for line in text.splitlines() if "OpenSSH_" in line), None)
    return {"version": match.group(1), "major": version[0], "minor": version[1], "banner": clip(banner, 200)}


# ---------------------------------------------------------------- PAM


def _pam_lines(text):
    """Logical lines of a PAM file: comments dropped, backslash continuations joined."""
    logical = []
    pending = ""
    for raw in text.splitlines():
        line = raw.rstrip()
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        # A comment starts at '#' outside [...] (PAM's bracketed arguments may contain '#').
        depth = 0
        for index, char in enumerate(line):
            if char == "[":
                depth += 1
            elif char == "]" and depth:
                depth -= 1
            elif char == "#" and not depth:
                line = line[:index]
                break
        if line.strip():
            logical.append(line.strip())
    if pending.strip():
        logical.append(pending.strip())
    return logical


def _pam_tokens(line):
    """type, control, rest-tokens of one PAM line; a [...] control stays one token."""
    parts = line.split(None, 1)
    if len(parts) < 2:
        return parts[0] if parts else "", "", []
    kind, rest = parts
    rest = rest.lstrip()
    if rest.startswith("["):
        end = rest.find("]")
        if end < 0:
            return kind, rest, []
        return kind, rest[: end + 1], rest[end + 1 :].split()
    control, _sep, tail = rest.partition(" ")
    return kind, control, tail.split()


def _module_name(path):
    name = path.rsplit("/", 1)[-1]
    return name[:-3] if name.endswith(".so") else name


def _is_auth_stack(name):
    # @include pulls in every type of the named file; by convention only the *-auth files hold auth lines.
    base = name.rsplit("/", 1)[-1]
    return base in PASSWORD_STACKS or base.endswith("-auth")


def pam_section(text, path="/etc/pam.d/sshd", error=None):
    """Small, honest summary of the auth stack of the sshd PAM service file (a scan, not PAM's evaluation).

    Lists the auth modules named directly in the file, the stacks it pulls in
    (``include``/``substack`` on auth lines; ``@include`` of a ``*-auth`` file)
    and whether a known second factor (pam_google_authenticator, pam_oath) is
    there and with ``nullok``. Included files are not read. Module arguments are
    not copied into the report.
    """
    section = {"status": "collected", "source": "pam_file_scan", "file": path}
    if error:
        section.update({"status": "error", "error": clip(error, 600)})
        return section
    if text is None:
        section.update({"status": "missing", "error": "%s does not exist: sshd with UsePAM yes falls back to PAM's 'other' service" % path})
        return section
    auth = []
    includes = []
    for line in _pam_lines(text):
        if line.startswith("@include"):
            name = line.split(None, 1)[1].strip() if " " in line else ""
            includes.append(name)
            if _is_auth_stack(name):
                auth.append({"include": name, "via": "@include"})
            continue
        kind, control, rest = _pam_tokens(line)
        if kind.lstrip("-").lower() != "auth":
            continue
        if control in ("include", "substack"):
            name = rest[0] if rest else ""
            includes.append(name)
            auth.append({"include": name, "via": control})
            continue
        if not rest:
            continue
        module = _module_name(rest[0])
        auth.append({"module": module, "control": control, "optional_module": kind.startswith("-"), "nullok": "nullok" in rest[1:]})
    modules = [entry["module"] for entry in auth if "module" in entry]
    # An @include pulls in every type of the named file, so it counts for auth too.
    auth_includes = [entry["include"] for entry in auth if "include" in entry]
    second = [entry for entry in auth if entry.get("module") in SECOND_FACTOR_MODULES]
    section.update(
        {
            "auth": auth,
            "auth_modules": modules,
            "includes": includes,
            "includes_common_auth": "common-auth" in auth_includes,
            "password_stack": next((name for name in auth_includes if name in PASSWORD_STACKS), None),
            "second_factors": [entry["module"] for entry in second],
            "second_factor_nullok": any(entry["nullok"] for entry in second),
        }
    )
    return section


# ---------------------------------------------------------------- authorized keys


def keys_section(result, reason=None):
    """The ``authorized_keys`` section: fleetauth.ssh.authorized_key_audit's result, or not_collected."""
    if result is None or (isinstance(result, Mapping) and result.get("skipped")):
        return {
            "status": "not_collected",
            "reason": reason or "not collected in this run (set audit_keys: true to run fleetauth.ssh.authorized_key_audit)",
            "summary": {"by_severity": {}, "by_kind": {}},
            "users": [],
            "findings": [],
        }
    if not isinstance(result, Mapping):
        raise ReportError("authorized_keys: expected the result of fleetauth.ssh.authorized_key_audit (a mapping), got %s" % type(result).__name__)
    result = plain(result)
    if result.get("failed"):
        return {
            "status": "error",
            "reason": clip(result.get("msg") or "fleetauth.ssh.authorized_key_audit failed", 600),
            "summary": {"by_severity": {}, "by_kind": {}},
            "users": [],
            "findings": [],
        }
    findings = []
    for raw in result.get("findings") or []:
        if not isinstance(raw, Mapping):
            continue
        finding = {key: raw.get(key) for key in KEY_FINDING_FIELDS if raw.get(key) is not None}
        finding.setdefault("kind", "unknown")
        if finding.get("severity") not in SEVERITIES:
            finding["severity"] = "medium"
        for key in _KEY_FINDING_INTS:
            if key in finding:
                try:
                    finding[key] = int(finding[key])
                except (TypeError, ValueError):
                    finding.pop(key)
        for key in set(finding) - set(_KEY_FINDING_INTS):
            finding[key] = clip(finding[key], 500)
        findings.append(finding)
    by_severity, by_kind = {}, {}
    for finding in findings:
        by_severity[finding["severity"]] = by_severity.get(finding["severity"], 0) + 1
        by_kind[finding["kind"]] = by_kind.get(finding["kind"], 0) + 1
    # The module's own counts (accounts, files, keys, ...) are kept; by_severity/by_kind are always there.
    summary = dict(result["summary"]) if isinstance(result.get("summary"), Mapping) else {}
    if not isinstance(summary.get("by_severity"), Mapping):
        summary["by_severity"] = by_severity
    if not isinstance(summary.get("by_kind"), Mapping):
        summary["by_kind"] = by_kind
    return {"status": "collected", "reason": None, "summary": summary, "users": _key_users(result.get("users")), "findings": findings}


def _key_users(users):
    """Per-user key lists as a list of mappings with ``user`` (the module reports a mapping keyed by account name)."""
    if isinstance(users, Mapping):
        return [dict(value, user=name) if isinstance(value, Mapping) else {"user": name, "keys": value} for name, value in sorted(users.items())]
    if isinstance(users, list):
        return [entry for entry in users if isinstance(entry, Mapping)]
    return []


# ---------------------------------------------------------------- the host


def build_host(raw):
    """A host document from what the audit play collected (see the ``audit_host`` filter for the input)."""
    if not isinstance(raw, Mapping):
        raise ReportError("audit_host expects a mapping (name, status, sshd_T, ...), got %s" % type(raw).__name__)
    raw = dict(raw)
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise ReportError("audit_host: 'name' (the inventory hostname) is required")
    status = raw.get("status") or "ok"
    if status not in HOST_STATUSES:
        raise ReportError("audit_host %s: status %r is not one of %s" % (name, status, ", ".join(HOST_STATUSES)))
    document = {
        "name": str(name),
        "status": status,
        "error": clip(raw.get("error")) if raw.get("error") else None,
        "openssh": openssh_section(raw.get("sshd_version")),
        "sshd": sshd_section(
            raw.get("sshd_T"),
            raw.get("sshd_T_fallback"),
            raw.get("contexts"),
            raw.get("match_scan"),
            raw.get("sshd_config_paths"),
        ),
        "pam": _pam_from(raw),
        "authorized_keys": keys_section(raw.get("authorized_keys"), raw.get("authorized_keys_reason")),
    }
    if status == "ok" and document["sshd"]["error"] and not document["error"]:
        # Without sshd -T there is nothing to hold policies against: say so at the host level.
        document["status"] = "failed"
        document["error"] = document["sshd"]["error"]
    return document


def _pam_from(raw):
    if isinstance(raw.get("pam"), Mapping):
        # A ready-made section (e.g. fleetauth.ssh.pam_kbdint's report) wins over the file scan.
        section = plain(raw["pam"])
        section.setdefault("status", "collected")
        section.setdefault("source", "module")
        return section
    path = str(raw.get("pam_file") or "/etc/pam.d/sshd")
    slurped = raw.get("pam_slurp")
    if isinstance(slurped, Mapping) and not slurped.get("skipped"):
        # ansible.builtin.slurp's result: base64 content, or a message ("file not found: ...").
        if slurped.get("content") is not None:
            try:
                text = base64.b64decode(str(slurped["content"])).decode("utf-8", "replace")
            except (ValueError, TypeError) as exc:
                return pam_section(None, path, "cannot decode the content read from %s: %s" % (path, exc))
            return pam_section(text, path)
        message = str(slurped.get("msg") or "could not read %s" % path)
        if "not found" in message.lower() or "no such file" in message.lower():
            return pam_section(None, path)
        return pam_section(None, path, message)
    if "pam_text" not in raw and "pam_error" not in raw:
        return {"status": "not_collected", "source": "pam_file_scan", "file": path}
    text = raw.get("pam_text")
    return pam_section(None if text is None else str(text), path, raw.get("pam_error"))
