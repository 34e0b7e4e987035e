# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The HTML page as text: one inert JSON payload, CSP hashes that match, no external assets, no HTML sinks in the script.

What the page does in a browser is tested in test_report_chromium.py.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from html.parser import HTMLParser

import pytest
from report_samples import HOSTILE, sample_report

from ansible_collections.fleetauth.ssh.plugins.plugin_utils._report import render
from ansible_collections.fleetauth.ssh.plugins.plugin_utils._report.common import plain

ASSETS = os.path.dirname(render.__file__)


class Collector(HTMLParser):
    """Every start tag, and the text of each <script>/<style>, as the HTML tokenizer sees them."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags = []
        self.raw = {}
        self._current = None

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag in ("script", "style"):
            self._current = (tag, len(self.tags) - 1)
            self.raw[self._current] = ""

    def handle_endtag(self, tag):
        if self._current and tag == self._current[0]:
            self._current = None

    def handle_data(self, data):
        if self._current:
            self.raw[self._current] += data


@pytest.fixture(scope="module")
def report():
    return sample_report(hostile=True)


@pytest.fixture(scope="module")
def page(report):
    return render.render_html(report)


@pytest.fixture(scope="module")
def parsed(page):
    collector = Collector()
    collector.feed(page)
    collector.close()
    return collector


def csp_hash(text):
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode()


def test_exactly_two_scripts_and_one_style_whatever_the_data(parsed):
    scripts = [attrs for tag, attrs in parsed.tags if tag == "script"]
    assert scripts == [{"type": "application/json", "id": "report-data"}, {}]
    assert [tag for tag, _a in parsed.tags].count("style") == 1
    # Nothing from the data became a tag: every start tag is one the template or the browser would make.
    assert {tag for tag, _a in parsed.tags} <= {"html", "head", "meta", "title", "link", "style", "body", "noscript", "p", "div", "script"}


def test_the_payload_is_the_report_and_hostile_strings_stay_data(parsed, report):
    payload = next(text for (tag, index), text in parsed.raw.items() if tag == "script" and parsed.tags[index][1].get("id") == "report-data")
    assert json.loads(payload) == plain(report)
    assert any(h["name"] == HOSTILE[2] for h in json.loads(payload)["hosts"])
    assert "<" not in payload and ">" not in payload and "&" not in payload
    assert "\u2028" not in payload and "\u2029" not in payload


def test_json_for_html_escapes_markup_and_non_ascii():
    text = render.json_for_html({"a": "</script><!-- & \u2028 \udcff é"})
    assert text == '{"a":"\\u003c/script\\u003e\\u003c!-- \\u0026 \\u2028 \\udcff \\u00e9"}'
    assert json.loads(text) == {"a": "</script><!-- & \u2028 \udcff é"}


def test_csp_allows_only_the_inline_script_and_style(page, parsed):
    meta = next(attrs for tag, attrs in parsed.tags if tag == "meta" and attrs.get("http-equiv") == "Content-Security-Policy")
    policy = dict(part.strip().split(" ", 1) for part in meta["content"].split(";"))
    script = next(text for (tag, index), text in parsed.raw.items() if tag == "script" and not parsed.tags[index][1])
    style = next(text for (tag, _i), text in parsed.raw.items() if tag == "style")
    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == "'%s'" % csp_hash(script)
    assert policy["style-src"] == "'%s'" % csp_hash(style)
    assert "unsafe-inline" not in meta["content"] and "unsafe-eval" not in meta["content"]


def test_no_external_assets(page, parsed):
    for _tag, attrs in parsed.tags:
        for name in ("src", "href"):
            assert attrs.get(name) in (None, "data:,"), attrs
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in page
    assert "@import" not in page and "url(" not in page


@pytest.mark.parametrize("asset", ["report.js", "report.css"])
def test_assets_cannot_close_their_element(asset):
    with open(os.path.join(ASSETS, asset), encoding="utf-8") as handle:
        text = handle.read()
    assert "</" not in text and "<!--" not in text


def test_script_uses_no_html_sinks():
    with open(os.path.join(ASSETS, "report.js"), encoding="utf-8") as handle:
        script = handle.read()
    code = re.sub(r"/\*.*?\*/", "", script, flags=re.S)
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", 'setTimeout("', "srcdoc", "javascript:"):
        assert sink not in code, sink
    # Attributes are set by name from a fixed set in the script, never from data (no on* handlers).
    assert not re.search(r"""setAttribute\(\s*["']on""", code)


def test_every_host_and_policy_is_in_the_payload(report, page):
    payload = json.loads(re.search(r'<script type="application/json" id="report-data">(.*?)</script>', page, re.S).group(1))
    assert [h["name"] for h in payload["hosts"]] == [h["name"] for h in report["hosts"]]
    assert [p["id"] for p in payload["policies"]] == [p["id"] for p in report["policies"]]
