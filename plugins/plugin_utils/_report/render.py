# -*- coding: utf-8 -*-
# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The report as one self-contained HTML page.

Design, so that hostile strings (a hostname or key comment such as
``<script>alert(1)</script>``) can never run:

* The page is a fixed template. The only data in it is the report as JSON in a
  ``<script type="application/json">`` block, with ``<``, ``>`` and ``&``
  written as ``\\u003c`` ... so no string can close that block or open a tag;
  every non-ASCII character is escaped too.
* ``report.js`` builds the DOM from that JSON with ``textContent`` and
  ``setAttribute`` only (never ``innerHTML``, ``document.write`` or ``eval``).
* A Content-Security-Policy allows exactly the page's own inline script and
  style (by SHA-256), nothing else: no network, no other script.

No external assets: it works from ``file://`` and offline.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os

from .common import plain

_HERE = os.path.dirname(os.path.abspath(__file__))

_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="%(csp)s">
<meta name="generator" content="fleetauth.ssh audit report">
<title>SSH authentication audit</title>
<link rel="icon" href="data:,">
<style>%(style)s</style>
</head>
<body>
<noscript><p class="noscript">This report is drawn by its inline script; with JavaScript off, read the JSON report written next to it.</p></noscript>
<div id="app" data-state="loading"></div>
<script type="application/json" id="report-data">%(data)s</script>
<script>%(script)s</script>
</body>
</html>
"""


def _asset(name):
    with open(os.path.join(_HERE, name), encoding="utf-8") as handle:
        return handle.read()


def _csp_hash(text):
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")


def json_for_html(data):
    """JSON that is inert inside a ``<script type="application/json">`` element."""
    text = json.dumps(plain(data), ensure_ascii=True, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def render_html(report):
    """The HTML page (a str) for a fleet report (from :func:`report.build_report`)."""
    style = _asset("report.css")
    script = _asset("report.js")
    csp = "; ".join(
        (
            "default-src 'none'",
            "script-src '%s'" % _csp_hash(script),
            "style-src '%s'" % _csp_hash(style),
            "img-src data:",
            "base-uri 'none'",
            "form-action 'none'",
        )
    )
    return _TEMPLATE % {"csp": csp, "style": style, "script": script, "data": json_for_html(report)}
