# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The HTML report in headless Chromium, loaded from file://: no console errors, every host and policy,
sorting, filtering, the URL fragment, hostile strings shown as text. Negative controls prove the
harness notices a broken page."""

from __future__ import annotations

import json
import time
import urllib.parse

import pytest
from report_browser import Browser, check_report, file_url, find_chromium
from report_samples import HOSTILE, build_host, build_report, default_policies, raw_host, sample_report

from ansible_collections.fleetauth.ssh.plugins.plugin_utils._report.render import render_html

pytestmark = pytest.mark.skipif(
    find_chromium() is None,
    reason="Chromium is not installed here (Debian: apt-get install --no-install-recommends chromium; .ci/run installs it on CI)",
)

ROWS = "Array.from(document.querySelectorAll('#host-table tbody tr')).map(function (tr) { return [tr.getAttribute('data-host'), !tr.hidden]; })"


@pytest.fixture(scope="module")
def browser():
    with Browser(timeout=60) as instance:
        yield instance


@pytest.fixture(scope="module")
def report():
    return sample_report(hostile=True)


@pytest.fixture(scope="module")
def page_path(tmp_path_factory, report):
    path = tmp_path_factory.mktemp("report") / "report.html"
    path.write_text(render_html(report), encoding="utf-8")
    return path


def load(browser, path, fragment=""):
    browser.events.clear()
    browser.navigate(file_url(path) + fragment)
    browser.pump(0.2)
    assert browser.problems() == []


def type_filter(browser, text):
    browser.evaluate(
        "(function (v) { var f = document.getElementById('filter'); f.value = v; f.dispatchEvent(new Event('input', {bubbles: true})); })(%s)"
        % json.dumps(text)
    )
    return [name for name, shown in browser.evaluate(ROWS) if shown]


def test_the_report_passes_the_check_used_by_molecule(browser, report, page_path):
    browser.events.clear()
    failures = check_report(browser, str(page_path), [h["name"] for h in report["hosts"]], [p["id"] for p in report["policies"]])
    assert failures == []


def test_hostile_strings_are_text_and_nothing_runs(browser, report, page_path):
    load(browser, page_path)
    assert browser.evaluate("document.querySelectorAll('script').length") == 2
    assert browser.evaluate("document.querySelectorAll('img, iframe, object, embed').length") == 0
    assert (
        browser.evaluate(
            "Array.from(document.querySelectorAll('*')).filter(function (e) {"
            " return Array.from(e.attributes).some(function (a) { return a.name.indexOf('on') === 0; }); }).length"
        )
        == 0
    )
    names = browser.evaluate("Array.from(document.querySelectorAll('#host-table tbody tr td:first-child')).map(function (td) { return td.textContent; })")
    for text in HOSTILE:
        assert text in names
    assert browser.evaluate("document.title") == report["title"]
    assert browser.evaluate("document.querySelector('h1').textContent") == report["title"]
    # A key comment from authorized_keys, in the details panel of a host.
    browser.evaluate("document.querySelector('button[data-open-host=\"evil-0\"]').click()")
    cells = browser.evaluate("Array.from(document.querySelectorAll('#detail-key-findings td')).map(function (td) { return td.textContent; })")
    assert "RSA key of 2048 bits < 3072 (%s)" % HOSTILE[0] in cells
    accounts = browser.evaluate("Array.from(document.querySelectorAll('#detail-key-users td')).map(function (td) { return td.textContent; })")
    assert accounts == ["admin", "ssh-rsa  2048  SHA256:abc  %s" % HOSTILE[0], "ops", "SHA256:def"]
    policy_title = browser.evaluate("document.querySelector('tr[data-policy=\"hostile-title\"] summary').textContent")
    assert policy_title == HOSTILE[0]
    browser.pump(0.2)
    assert browser.problems() == []


def test_filter_words_select_hosts_and_the_chart_follows(browser, report, page_path):
    load(browser, page_path)
    failing = sorted(h["name"] for h in report["hosts"] if any(r["id"] == "max-auth-tries" and r["status"] == "fail" for r in h["policies"]))
    assert failing and len(failing) < len(report["hosts"])
    assert sorted(type_filter(browser, "fail:max-auth-tries")) == failing
    assert type_filter(browser, "status:unreachable") == ["db-1"]
    assert browser.evaluate("!!document.getElementById('no-findings')")
    assert type_filter(browser, "WEB-2 compliance:noncompliant") == ["web-2"]
    kinds = sorted(
        browser.evaluate(
            "Array.from(document.querySelectorAll('#findings-chart g.bar')).map(function (g) {"
            " return g.getAttribute('data-source') + '/' + g.getAttribute('data-kind') + '=' + g.getAttribute('data-count'); })"
        )
    )
    web2 = next(h for h in report["hosts"] if h["name"] == "web-2")
    expected = {}
    for finding in web2["findings"]:
        key = "%s/%s" % (finding["source"], finding["kind"])
        expected[key] = expected.get(key, 0) + 1
    assert kinds == sorted("%s=%d" % item for item in expected.items())
    assert type_filter(browser, "no-such-host") == []
    assert not browser.evaluate("document.getElementById('no-hosts').hidden")
    assert browser.evaluate("document.getElementById('host-count').textContent") == "showing 0 of %d hosts" % len(report["hosts"])


def test_sorting_by_a_policy_column_puts_failures_first(browser, report, page_path):
    load(browser, page_path)
    type_filter(browser, "")
    browser.evaluate("document.querySelector('button[data-sort=\"p:password-auth-off\"]').click()")
    order = [name for name, _shown in browser.evaluate(ROWS)]
    rank = {"fail": 0, "error": 1, "na": 2, "pass": 3}
    status = {h["name"]: next(r["status"] for r in h["policies"] if r["id"] == "password-auth-off") for h in report["hosts"]}
    ranks = [rank[status[name]] for name in order]
    assert ranks == sorted(ranks) and ranks[0] == 0 and ranks[-1] == 3
    browser.evaluate("document.querySelector('button[data-sort=\"p:password-auth-off\"]').click()")
    ranks = [rank[status[name]] for name, _shown in browser.evaluate(ROWS)]
    assert ranks == sorted(ranks, reverse=True)


def test_view_state_comes_from_the_url_fragment(browser, report, page_path):
    fragment = "#" + urllib.parse.urlencode({"filter": "web", "sort": "openssh", "dir": "desc", "host": "bastion-1"})
    load(browser, page_path, fragment)
    assert browser.evaluate("document.getElementById('filter').value") == "web"
    assert sorted(name for name, shown in browser.evaluate(ROWS) if shown) == ["web-10", "web-2"]
    assert browser.evaluate("document.querySelector('th[data-col=\"openssh\"]').getAttribute('aria-sort')") == "descending"
    assert browser.evaluate("document.querySelector('#host-details .host-name').textContent") == "bastion-1"
    # The bastion's ops context and Match line are in its panel.
    text = browser.evaluate("document.getElementById('host-details').textContent")
    assert "user=ops" in text and "Group ops" in text and "OpenSSH_8.4p1" in text
    browser.evaluate("document.querySelector('button[data-close]').click()")
    assert browser.evaluate("document.getElementById('host-details').hidden")
    assert "host=" not in browser.evaluate("location.hash")


def test_a_fleet_of_500_hosts_draws_quickly(browser, tmp_path):
    hosts = [build_host(raw_host("host-%03d" % i)) for i in range(500)]
    report = build_report(hosts, default_policies(), generated_at="2025-01-01T00:00:00Z")
    path = tmp_path / "big.html"
    path.write_text(render_html(report), encoding="utf-8")
    started = time.monotonic()
    load(browser, path)
    assert time.monotonic() - started < 20
    assert len(browser.evaluate(ROWS)) == 500
    assert len(type_filter(browser, "host-4")) == 100


# ---------------------------------------------------------------- negative controls: the harness must notice


@pytest.mark.parametrize(
    "body,expected",
    [
        ("<script>throw new Error('boom')</script>", "uncaught exception: Error: boom"),
        ("<script>console.error('bad thing')</script>", "console.error: bad thing"),
        ("<script>alert('xss')</script>", "a JavaScript dialog opened (alert): xss"),
    ],
)
def test_harness_reports_errors_and_dialogs(browser, tmp_path, body, expected):
    path = tmp_path / "bad.html"
    path.write_text("<!DOCTYPE html><html><body><div id='app' data-state='ready'></div>%s</body></html>" % body, encoding="utf-8")
    browser.events.clear()
    browser.navigate(file_url(path))
    browser.pump(0.3)
    assert any(expected in problem for problem in browser.problems()), browser.problems()


def test_harness_fails_a_tampered_report(browser, page_path, tmp_path, report):
    # A script that no longer matches the CSP hash is blocked: the page stays empty and the check says so.
    tampered = tmp_path / "tampered.html"
    tampered.write_text(page_path.read_text(encoding="utf-8").replace('"use strict";', '"use strict"; ', 1), encoding="utf-8")
    browser.events.clear()
    failures = check_report(browser, str(tampered), [h["name"] for h in report["hosts"]], [p["id"] for p in report["policies"]])
    assert any("did not finish drawing" in f for f in failures), failures
    assert any("Content Security Policy" in p or "Content-Security-Policy" in p for p in browser.problems()), browser.problems()


def test_harness_notices_a_missing_host(browser, page_path, report):
    browser.events.clear()
    failures = check_report(browser, str(page_path), [h["name"] for h in report["hosts"]] + ["not-there"], [p["id"] for p in report["policies"]])
    assert any("differ from the expected hosts" in f for f in failures), failures
