# -*- coding: utf-8 -*-
# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared vocabulary of the fleet audit report: statuses, severities, plain data."""

from __future__ import annotations

import datetime
import json
from collections.abc import Mapping

REPORT_FORMAT = "fleetauth.ssh/audit-report"
FORMAT_VERSION = 1

# Most to least severe; the order is used for sorting and for "worst severity".
SEVERITIES = ("critical", "high", "medium", "low", "info")
# Policy result statuses. "na": the policy does not apply to this host
# (its ``applies_when`` was false, or its expression gave null and the policy says ``if_null: na``).
RESULT_STATUSES = ("pass", "fail", "error", "na")
# Host statuses: "ok" (reached, everything read), "unreachable" (no connection),
# "failed" (reached, but reading something failed: see the host's error), "missing" (no data in this run).
HOST_STATUSES = ("ok", "unreachable", "failed", "missing")
# Section statuses for parts of the host document that other tools fill in.

MAX_TEXT = 2000  # longest error/reason text kept in the report


class ReportError(Exception):
    """Bad input to the report (policy file, contexts, host data): the message says what and where."""


def plain(value, _path="$"):
    """Deep copy of *value* made only of dict/list/str/int/float/bool/None.

    Ansible hands filters its own str/dict subclasses (unsafe text, tagged or
    lazy containers); jmespath's functions decide types by class name and
    json needs plain types, so everything goes through here first. Tuples and
    sets become lists (sets sorted); other objects are refused with the path
    that holds them.
    """
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, Mapping):
        return {str(k): plain(v, "%s.%s" % (_path, k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v, "%s[%d]" % (_path, i)) for i, v in enumerate(value)]
    if isinstance(value, (set, frozenset)):
        return sorted(plain(v, _path) for v in value)
    raise ReportError("%s: cannot put a %s into the report (only mappings, lists, strings, numbers, booleans and null)" % (_path, type(value).__name__))


def clip(text, limit=MAX_TEXT):
    """*text* as a str, shortened to *limit* characters with a marker."""
    if text is None:
        return None
    text = str(text)
    if len(text) <= limit:
        return text
    marker = " ... [%d chars cut]" % len(text)
    keep = max(0, limit - len(marker))
    return text[:keep] + " ... [%d chars cut]" % (len(text) - keep)


def short_json(value, limit=200):
    """Compact JSON for evidence shown in a reason (sorted keys, clipped)."""
    try:
        text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return clip(text, limit)


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def severity_rank(severity):
    """0 for critical ... 4 for info; unknown severities sort last."""
    try:
        return SEVERITIES.index(severity)
    except ValueError:
        return len(SEVERITIES)
