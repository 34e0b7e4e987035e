# -*- coding: utf-8 -*-
# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Compliance policies: JMESPath expressions evaluated against one host's audit document.

A policy is a mapping::

    id: password-auth-off               # [a-z0-9][a-z0-9_.-]*, unique
    title: Password authentication is off
    severity: high                      # critical | high | medium | low | info
    expression: "sshd.effective.passwordauthentication == 'no'"
    # optional:
    applies_when: "..."                 # JMESPath; false/null/empty -> result "na"
    evidence: "sshd.effective.passwordauthentication"   # JMESPath; its value is quoted in the reason
    if_null: fail                       # what a null result means: fail (default) | na | error
    description: why it matters
    remediation: what to change

Semantics (one host):

* ``expression`` must give ``true`` (pass) or ``false`` (fail). ``null``
  (usually: a field it reads is missing) is handled by ``if_null``. Any other
  value is an ``error`` that says what it got, so that a bare path such as
  ``sshd.effective.passwordauthentication`` (the string "yes", which JMESPath
  finds truthy) can never pass by accident.
* An expression JMESPath cannot parse or evaluate never stops the run: the
  policy gets ``error`` with the library's message and the policy's id.
* Structural problems in the policy list (missing id, unknown severity,
  duplicate ids, misspelt keys) are refused up front by
  :func:`normalize_policies` with every problem listed.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping

from .common import RESULT_STATUSES, SEVERITIES, ReportError, clip, plain, short_json

try:
    import jmespath
    import jmespath.exceptions
    import jmespath.functions
    from jmespath.exceptions import JMESPathError
except ImportError:  # pragma: no cover - exercised through missing_library_message()
    jmespath = None

    class JMESPathError(Exception):
        """Stand-in so the except clauses below stay valid; require_jmespath() stops before they matter."""


ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
REQUIRED_KEYS = ("id", "title", "severity", "expression")
OPTIONAL_KEYS = ("applies_when", "evidence", "if_null", "description", "remediation")
# Keys normalisation and the report add; accepted (and recomputed) so a report's policies can be fed back in.
DERIVED_KEYS = ("error", "counts")
IF_NULL = ("fail", "na", "error")


def missing_library_message():
    return (
        "fleetauth.ssh policy evaluation needs the Python library 'jmespath' on the controller "
        "(pip install jmespath; it is in the collection's requirements.txt)"
    )


def require_jmespath():
    if jmespath is None:
        raise ReportError(missing_library_message())


@functools.lru_cache(maxsize=2048)
def _compile(expression):
    """Compiled expression, or the error text (cached per expression string).

    Besides syntax, function names and argument counts are checked here
    (jmespath itself only finds those when evaluation reaches the call).
    """
    try:
        compiled = jmespath.compile(expression)
    except JMESPathError as exc:
        return None, _describe(exc)
    except Exception as exc:
        return None, "%s: %s" % (type(exc).__name__, _one_line(exc))
    problem = _check_functions(compiled.parsed)
    if problem:
        return None, problem
    return compiled, None


def _function_table():
    return jmespath.functions.Functions().FUNCTION_TABLE


def _check_functions(node):
    """First unknown function or wrong argument count in a parsed expression, or None."""
    stack = [node]
    table = _function_table()
    while stack:
        current = stack.pop()
        if not isinstance(current, dict):
            continue
        if current.get("type") == "function_expression":
            name = current.get("value")
            count = len(current.get("children") or [])
            spec = table.get(name)
            if spec is None:
                return "unknown function %s() (JMESPath has: %s)" % (name, ", ".join(sorted(table)))
            signature = spec["signature"]
            variadic = bool(signature) and signature[-1].get("variadic")
            if (variadic and count < len(signature)) or (not variadic and count != len(signature)):
                return "%s() takes %s%d argument(s), got %d" % (name, "at least " if variadic else "", len(signature), count)
        stack.extend(child for child in current.get("children") or [] if isinstance(child, dict))
    return None


def _describe(exc):
    """A one-line parse error with the column (jmespath draws a caret on extra lines instead)."""
    position = getattr(exc, "lex_position", None)
    where = " at column %d" % (position + 1) if isinstance(position, int) else ""
    if isinstance(exc, jmespath.exceptions.IncompleteExpressionError):
        return "incomplete expression%s" % where
    if isinstance(exc, jmespath.exceptions.LexerError):
        return "%s%s" % (getattr(exc, "message", None) or "cannot read the expression", where)
    if isinstance(exc, jmespath.exceptions.ParseError):
        return "%s%s" % (getattr(exc, "msg", None) or "syntax error", where)
    return _one_line(exc)


def _one_line(exc):
    lines = [line.rstrip() for line in str(exc).splitlines() if line.strip()]
    return clip(" | ".join(lines), 500)


def _label(index, raw):
    if isinstance(raw, Mapping) and isinstance(raw.get("id"), str) and raw.get("id"):
        return "policies[%d] (id %r)" % (index, str(raw["id"]))
    return "policies[%d]" % index


def policy_list(data):
    """The list of raw policies from a loaded policy file: a list, or a mapping with a ``policies`` list."""
    if isinstance(data, Mapping):
        unknown = sorted(set(map(str, data)) - {"policies", "version"})
        if unknown:
            raise ReportError("policy file: unknown top-level key(s) %s; expected 'policies' (and optionally 'version')" % ", ".join(unknown))
        data = data.get("policies")
        if data is None:
            raise ReportError("policy file: no 'policies' list found")
    if not isinstance(data, (list, tuple)):
        raise ReportError("policy file: expected a list of policies, got %s" % type(data).__name__)
    return list(data)


def normalize_policies(data):
    """Validate and normalise policies; return plain dicts in file order.

    Raises :class:`ReportError` listing every structural problem. A JMESPath
    syntax error is not structural: the policy is returned with ``error`` set
    (and will be reported as ``error`` on every host) so one bad expression
    does not hide the results of the others.
    """
    require_jmespath()
    problems = []
    result = []
    seen = {}
    for index, item in enumerate(policy_list(data)):
        label = _label(index, item)
        if not isinstance(item, Mapping):
            problems.append("%s: expected a mapping with %s, got %s" % (label, ", ".join(REQUIRED_KEYS), type(item).__name__))
            continue
        raw = plain(item)
        unknown = sorted(set(raw) - set(REQUIRED_KEYS) - set(OPTIONAL_KEYS) - set(DERIVED_KEYS))
        if unknown:
            problems.append("%s: unknown key(s) %s (allowed: %s)" % (label, ", ".join(unknown), ", ".join(REQUIRED_KEYS + OPTIONAL_KEYS)))
        missing = [key for key in REQUIRED_KEYS if raw.get(key) in (None, "")]
        if missing:
            problems.append("%s: missing %s" % (label, ", ".join(missing)))
        for key in REQUIRED_KEYS + OPTIONAL_KEYS:
            if key in raw and raw[key] is not None and not isinstance(raw[key], str):
                problems.append("%s: %s must be a string, got %s" % (label, key, type(raw[key]).__name__))
        policy_id = raw.get("id")
        if isinstance(policy_id, str) and policy_id:
            if not ID_PATTERN.match(policy_id):
                problems.append("%s: id must match %s (lowercase letters, digits, '_', '.', '-'; at most 64)" % (label, ID_PATTERN.pattern))
            if policy_id in seen:
                problems.append("%s: duplicate id, already used by policies[%d]" % (label, seen[policy_id]))
            seen.setdefault(policy_id, index)
        severity = raw.get("severity")
        if isinstance(severity, str) and severity and severity not in SEVERITIES:
            problems.append("%s: severity %r is not one of %s" % (label, severity, ", ".join(SEVERITIES)))
        if_null = raw.get("if_null", "fail")
        if if_null not in IF_NULL:
            problems.append("%s: if_null %r is not one of %s" % (label, if_null, ", ".join(IF_NULL)))
        policy = {
            "id": raw.get("id"),
            "title": raw.get("title"),
            "severity": severity,
            "expression": raw.get("expression"),
            "applies_when": raw.get("applies_when") or None,
            "evidence": raw.get("evidence") or None,
            "if_null": if_null,
            "description": raw.get("description") or None,
            "remediation": raw.get("remediation") or None,
            "error": None,
        }
        errors = []
        for key in ("expression", "applies_when", "evidence"):
            if isinstance(policy[key], str) and policy[key]:
                _compiled, error = _compile(policy[key])
                if error:
                    errors.append("invalid JMESPath in %s `%s`: %s" % (key, policy[key], error))
        if errors:
            policy["error"] = "policy %r: %s" % (policy["id"], "; ".join(errors))
        result.append(policy)
    if problems:
        raise ReportError("policy file has %d problem(s):\n- %s" % (len(problems), "\n- ".join(problems)))
    return result


def _truthy(value):
    # JMESPath's notion of false: false, null, empty string/list/object.
    return not (value is None or value is False or value in ("", [], {}))


def _search(policy, key, document):
    compiled, error = _compile(policy[key])
    if error:
        raise _PolicyFault("invalid JMESPath in %s `%s`: %s" % (key, policy[key], error))
    try:
        return compiled.search(document)
    except JMESPathError as exc:
        raise _PolicyFault("%s `%s` failed: %s" % (key, policy[key], _one_line(exc))) from None
    except Exception as exc:
        raise _PolicyFault("%s `%s` failed: %s: %s" % (key, policy[key], type(exc).__name__, _one_line(exc))) from None


class _PolicyFault(Exception):
    pass


def _result(policy, status, reason, evidence=None):
    if status not in RESULT_STATUSES:
        raise ValueError("unknown result status %r" % status)
    result = {"id": policy["id"], "status": status, "reason": clip(reason, 1000)}
    if evidence is not None:
        result["evidence"] = evidence
    return result


def evaluate_policy(policy, document):
    """Evaluate one normalised *policy* against a plain host *document*; never raises."""
    if policy.get("error"):
        return _result(policy, "error", policy["error"])
    try:
        if policy.get("applies_when"):
            applies = _search(policy, "applies_when", document)
            if not _truthy(applies):
                return _result(policy, "na", "does not apply: applies_when `%s` gave %s" % (policy["applies_when"], short_json(applies)))
        value = _search(policy, "expression", document)
        evidence = None
        evidence_note = ""
        if policy.get("evidence"):
            try:
                evidence = short_json(_search(policy, "evidence", document))
                evidence_note = "; found: %s" % evidence
            except _PolicyFault as exc:
                evidence_note = "; evidence unavailable: %s" % exc
    except _PolicyFault as exc:
        return _result(policy, "error", "policy %r: %s" % (policy["id"], exc))
    if value is True:
        return _result(policy, "pass", "expression is true%s" % evidence_note, evidence)
    if value is False:
        return _result(policy, "fail", "expression is false%s" % evidence_note, evidence)
    if value is None:
        why = "expression gave null (a field it reads is missing or has the wrong type)%s" % evidence_note
        return _result(policy, policy.get("if_null") or "fail", why, evidence)
    return _result(
        policy,
        "error",
        "policy %r: expression must give true or false, but gave %s %s; compare explicitly, e.g. `... == 'no'`"
        % (policy["id"], _json_type(value), short_json(value)),
        evidence,
    )


def _json_type(value):
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def evaluate_policies(document, policies, not_evaluated=None):
    """Results for every policy, in policy order.

    *not_evaluated*: a reason string; when given (e.g. the host was
    unreachable) every policy gets ``error`` with that reason instead of
    being evaluated against incomplete data.
    """
    normalized = normalize_policies(policies)
    if not_evaluated:
        return [_result(policy, "error", "not evaluated: %s" % not_evaluated) for policy in normalized]
    document = plain(document)
    return [evaluate_policy(policy, document) for policy in normalized]


def count_results(results):
    counts = dict.fromkeys(RESULT_STATUSES, 0)
    for result in results:
        counts[result["status"]] += 1
    return counts
