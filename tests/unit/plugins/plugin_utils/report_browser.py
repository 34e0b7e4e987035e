# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Drive headless Chromium over the DevTools protocol (``--remote-debugging-pipe``), standard library only.

Why the pipe and not ``--enable-logging`` or ``--dump-dom``: the protocol
reports console calls, uncaught exceptions, CSP violations and JavaScript
dialogs (an ``alert()`` from an injected string) as structured events, and
lets the test click buttons and type into the filter box like a person,
then read the DOM back. Log-line formats change between Chromium versions;
these events do not. Messages are JSON separated by NUL bytes: commands go to
the browser's fd 3, replies and events come back on its fd 4.

Used by the unit tests (test_report_chromium.py) and by the molecule
``audit`` scenario's verify step::

    python report_browser.py REPORT.html --host NAME ... --policy ID ...
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import select
import shutil
import subprocess
import sys
import tempfile
import time

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# Flags for a closed network as root: no sandbox (root), and no background
# connections (they get refused here and would print noise).
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    "--mute-audio",
)


def find_chromium():
    explicit = os.environ.get("FLEETAUTH_CHROMIUM")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    for name in CHROMIUM_CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


READY_JS = "document.getElementById('app') && document.getElementById('app').getAttribute('data-state') !== 'loading'"


class BrowserError(Exception):
    pass


class Browser:
    """One headless Chromium process and one page (a flattened CDP session)."""

    def __init__(self, binary=None, timeout=30.0):
        self.binary = binary or find_chromium()
        if not self.binary:
            raise BrowserError("no chromium found (apt-get install chromium, or set FLEETAUTH_CHROMIUM)")
        self.timeout = timeout
        self.events = []
        self._next_id = 0
        self._buffer = b""
        self._profile = tempfile.mkdtemp(prefix="fleetauth-chromium-")
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the browser; closed in close()
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()

        def child_fds():  # runs in the child before exec: the protocol wants fds 3 and 4
            high_r = os.dup(to_browser_r) if to_browser_r in (3, 4) else to_browser_r
            high_w = os.dup(from_browser_w) if from_browser_w in (3, 4) else from_browser_w
            os.dup2(high_r, 3)
            os.dup2(high_w, 4)

        self.proc = subprocess.Popen(  # pylint: disable=consider-using-with
            [self.binary, *FLAGS, "--user-data-dir=%s" % self._profile, "--remote-debugging-pipe", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
            pass_fds=(3, 4),
            preexec_fn=child_fds,
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self.session = None
        try:
            target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
            self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            for domain in ("Page", "Runtime", "Log"):
                self.call(domain + ".enable")
        except Exception:
            self.close()
            raise

    # -- protocol plumbing

    def _send(self, message):
        data = json.dumps(message).encode("utf-8") + b"\0"
        while data:
            written = os.write(self._to_browser, data)
            data = data[written:]

    def _read_message(self, deadline):
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError("chromium did not answer within %.0fs%s" % (self.timeout, self._stderr_tail()))
            ready, _w, _x = select.select([self._from_browser], [], [], left)
            if not ready:
                continue
            chunk = os.read(self._from_browser, 1 << 16)
            if not chunk:
                raise BrowserError("chromium closed the protocol pipe (exit %s)%s" % (self.proc.poll(), self._stderr_tail()))
            self._buffer += chunk
        raw, _sep, self._buffer = self._buffer.partition(b"\0")
        return json.loads(raw.decode("utf-8"))

    def _stderr_tail(self):
        try:
            self._stderr.seek(0)
            tail = self._stderr.read().decode("utf-8", "replace").strip().splitlines()[-8:]
        except OSError:
            return ""
        return ("; chromium stderr:\n  " + "\n  ".join(tail)) if tail else ""

    def _on_event(self, message):
        self.events.append(message)
        if message.get("method") == "Page.javascriptDialogOpening":
            # Answer it so the page does not block; the test fails on it anyway.
            self._next_id += 1
            self._send({"id": self._next_id, "method": "Page.handleJavaScriptDialog", "params": {"accept": True}, "sessionId": message.get("sessionId")})

    def call(self, method, params=None, timeout=None):
        self._next_id += 1
        message_id = self._next_id
        message = {"id": message_id, "method": method, "params": params or {}}
        if self.session and not method.startswith(("Target.", "Browser.")):
            message["sessionId"] = self.session
        self._send(message)
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == message_id:
                if "error" in reply:
                    raise BrowserError("%s failed: %s" % (method, reply["error"].get("message")))
                return reply.get("result", {})
            if "method" in reply:
                self._on_event(reply)

    def pump(self, seconds):
        """Collect events for *seconds* (lets late console messages arrive)."""
        deadline = time.monotonic() + seconds
        try:
            while True:
                message = self._read_message(deadline)
                if "method" in message:
                    self._on_event(message)
        except BrowserError:
            if self.proc.poll() is not None:
                raise

    # -- page helpers

    def navigate(self, url, wait_for=READY_JS):
        """Load *url* as a new document (via about:blank, so a change of fragment alone reloads too)."""
        if url != "about:blank":
            self.navigate("about:blank", wait_for=None)
        start = len(self.events)
        self.call("Page.navigate", {"url": url})
        deadline = time.monotonic() + self.timeout
        while not any(e.get("method") == "Page.loadEventFired" for e in self.events[start:]):
            message = self._read_message(deadline)
            if "method" in message:
                self._on_event(message)
        if wait_for:
            self.wait(wait_for)

    def evaluate(self, expression):
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise BrowserError("evaluating %r threw: %s" % (expression[:80], (details.get("exception") or {}).get("description") or details.get("text")))
        return result.get("result", {}).get("value")

    def wait(self, expression, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        while not self.evaluate("!!(%s)" % expression):
            if time.monotonic() > deadline:
                raise BrowserError("timed out waiting for %s" % expression)
            self.pump(0.05)

    def problems(self):
        """Console errors/warnings, uncaught exceptions, failed loads, CSP violations and dialogs, as text."""
        found = []
        for event in self.events:
            method = event.get("method")
            params = event.get("params", {})
            if method == "Runtime.exceptionThrown":
                details = params.get("exceptionDetails", {})
                found.append("uncaught exception: %s" % ((details.get("exception") or {}).get("description") or details.get("text")))
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "warning", "assert"):
                args = " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
                found.append("console.%s: %s" % (params.get("type"), args))
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") in ("error", "warning"):
                entry = params["entry"]
                found.append("%s %s: %s %s" % (entry.get("source"), entry.get("level"), entry.get("text"), entry.get("url") or ""))
            elif method == "Page.javascriptDialogOpening":
                found.append("a JavaScript dialog opened (%s): %s" % (params.get("type"), params.get("message")))
        return found

    def close(self):
        try:
            if self.proc.poll() is None:
                try:
                    self._next_id += 1
                    self._send({"id": self._next_id, "method": "Browser.close"})
                    self.proc.wait(timeout=10)
                except (OSError, subprocess.TimeoutExpired):
                    self.proc.kill()
                    self.proc.wait(timeout=10)
        finally:
            for fd in (self._to_browser, self._from_browser):
                with contextlib.suppress(OSError):
                    os.close(fd)
            self._stderr.close()
            shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ---------------------------------------------------------------- report checks

ROWS_JS = "Array.from(document.querySelectorAll('#host-table tbody tr')).map(function (tr) { return [tr.getAttribute('data-host'), !tr.hidden]; })"
POLICIES_JS = "Array.from(document.querySelectorAll('#policy-table tr[data-policy]')).map(function (tr) { return tr.getAttribute('data-policy'); })"
POLICY_COLUMNS_JS = (
    "Array.from(document.querySelectorAll('#host-table th[data-col^=\"p:\"]')).map(function (th) { return th.getAttribute('data-col').slice(2); })"
)


def _natural(name):
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def file_url(path):
    return "file://" + os.path.abspath(path)


def check_report(browser, path, hosts, policies):
    """Load the report and check it like a person would; return a list of failures (empty: all good)."""
    failures = []
    browser.navigate(file_url(path), wait_for=None)
    # The inline script runs before the load event; the wait only covers a slow machine. Not ready is reported below.
    with contextlib.suppress(BrowserError):
        browser.wait(READY_JS, timeout=5)
    browser.pump(0.3)
    state = browser.evaluate("document.getElementById('app').getAttribute('data-state')")
    if state != "ready":
        failures.append("the page did not finish drawing (data-state=%r)" % state)
    failures += ["on load: %s" % p for p in browser.problems()]
    if failures:
        return failures

    rows = browser.evaluate(ROWS_JS)
    names = [name for name, _visible in rows]
    if sorted(names) != sorted(hosts):
        failures.append("host rows %s differ from the expected hosts %s" % (names, sorted(hosts)))
    if not all(visible for _name, visible in rows):
        failures.append("some host rows are hidden without a filter: %s" % rows)
    plain_names = [name for name in names if re.match(r"^[a-z0-9-]+$", name)]
    if plain_names != sorted(plain_names, key=_natural):
        failures.append("hosts are not in natural name order on load: %s" % names)
    initial = names
    shown_policies = browser.evaluate(POLICIES_JS)
    if shown_policies != list(policies):
        failures.append("policy table %s differs from the expected policies %s" % (shown_policies, list(policies)))
    columns = browser.evaluate(POLICY_COLUMNS_JS)
    if columns != list(policies):
        failures.append("host table policy columns %s differ from the expected policies %s" % (columns, list(policies)))
    for name in hosts:
        text = browser.evaluate(
            "(function (n) { var tr = Array.from(document.querySelectorAll('#host-table tbody tr'))"
            ".filter(function (t) { return t.getAttribute('data-host') === n; })[0];"
            " return tr ? tr.querySelector('td').textContent : null; })(%s)" % json.dumps(name)
        )
        if text != name:
            failures.append("the row of %r shows %r as its name" % (name, text))

    # Sort: the page opens sorted by host, ascending; one click on "Host" reverses it.
    if browser.evaluate("document.querySelector('th[data-col=\"host\"]').getAttribute('aria-sort')") != "ascending":
        failures.append("the host column does not say aria-sort=ascending on load")
    browser.evaluate("document.querySelector('button[data-sort=\"host\"]').click()")
    names = [name for name, _v in browser.evaluate(ROWS_JS)]
    if names != initial[::-1]:
        failures.append("after sorting by host descending the order is %s (on load: %s)" % (names, initial))
    if browser.evaluate("document.querySelector('th[data-col=\"host\"]').getAttribute('aria-sort')") != "descending":
        failures.append("the host column does not say aria-sort=descending after a click")
    if "sort=host" not in (browser.evaluate("location.hash") or "") or "dir=desc" not in browser.evaluate("location.hash"):
        failures.append("the sort order is not kept in the URL fragment")

    # Filter: typing one host's full name leaves that host (and any whose name contains it).
    target = sorted(hosts, key=_natural)[-1]
    browser.evaluate(
        "(function (v) { var f = document.getElementById('filter'); f.value = v; f.dispatchEvent(new Event('input', {bubbles: true})); })(%s)"
        % json.dumps(target)
    )
    visible = [name for name, shown in browser.evaluate(ROWS_JS) if shown]
    expected = [name for name in hosts if target.lower() in name.lower()]
    if sorted(visible) != sorted(expected):
        failures.append("filtering for %r shows %s, expected %s" % (target, visible, expected))
    if "filter=" not in (browser.evaluate("location.hash") or ""):
        failures.append("the filter is not kept in the URL fragment")

    # Details: open the host's panel.
    browser.evaluate(
        "(function (n) { Array.from(document.querySelectorAll('button[data-open-host]'))"
        ".filter(function (b) { return b.getAttribute('data-open-host') === n; })[0].click(); })(%s)" % json.dumps(target)
    )
    panel = browser.evaluate(
        "(function () { var p = document.getElementById('host-details'); return p.hidden ? null : p.querySelector('.host-name').textContent; })()"
    )
    if panel != target:
        failures.append("the details panel shows %r after clicking %r" % (panel, target))

    browser.pump(0.2)
    failures += ["after interaction: %s" % p for p in browser.problems()]
    return failures


def main(argv=None):
    parser = argparse.ArgumentParser(description="Check a fleetauth.ssh HTML audit report in headless Chromium.")
    parser.add_argument("report")
    parser.add_argument("--host", action="append", default=[], dest="hosts", help="a host the report must show (repeat)")
    parser.add_argument("--policy", action="append", default=[], dest="policies", help="a policy id the report must show, in order (repeat)")
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args(argv)
    with Browser(timeout=args.timeout) as browser:
        failures = check_report(browser, args.report, args.hosts, args.policies)
    if failures:
        print("report check FAILED for %s:\n- %s" % (args.report, "\n- ".join(failures)))
        return 1
    print(
        "report check passed: %s loads without console errors; %d hosts and %d policies shown; sort, filter and details work"
        % (args.report, len(args.hosts), len(args.policies))
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
