# -*- coding: utf-8 -*-
# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Reload sshd safely: validate first, then the way the host's service manager wants.

SIGHUP makes sshd re-execute itself; an invalid configuration at that moment
takes the listener down (FACTS 7). So ``reload`` always runs ``sshd -t``
first (through :class:`._sshd_runtime.SshdRuntime`) and only then:

* systemd, socket-activated (``ssh.socket`` active, Ubuntu 24.04+):
  ``systemctl daemon-reload``, ``systemctl restart ssh.socket``, and a reload of
  the service when it is running;
* systemd: ``systemctl reload ssh`` (Debian/Ubuntu) or ``sshd`` (RHEL, SUSE);
* SysV: ``/etc/init.d/ssh reload`` (or ``sshd``);
* otherwise SIGHUP to the PID in ``/run/sshd.pid`` or ``/var/run/sshd.pid``.

The decision is a pure function of what the host reports (:func:`choose`),
unit-tested without a host.
"""

from __future__ import annotations

import os
import signal
import time

UNITS = ("ssh", "sshd")
PIDFILES = ("/run/sshd.pid", "/var/run/sshd.pid")
INITSCRIPTS = ("/etc/init.d/ssh", "/etc/init.d/sshd")


class ReloadError(Exception):
    """The reload could not be done; the message says what was tried."""


def parse_show(text):
    """Parse ``systemctl show -p … unit…`` output: blank-line separated blocks of key=value."""
    blocks = []
    current = {}
    for line in (text or "").splitlines():
        if not line.strip():
            if current:
                blocks.append(current)
                current = {}
            continue
        key, _sep, value = line.partition("=")
        current[key.strip()] = value.strip()
    if current:
        blocks.append(current)
    return blocks


def choose(facts, method="auto", service=None):
    """Pick the reload plan from host *facts*.

    *facts*: ``systemd`` (bool, systemd is PID 1 and systemctl exists),
    ``units`` ({name: {"LoadState":…, "ActiveState":…}} for ssh/sshd .service
    and .socket), ``initscript`` (path or None), ``pid`` (int or None).
    Returns ``{"method": …, "unit": …, "steps": [[argv…] or ["signal", pid]]}``.
    """
    units = facts.get("units", {})

    def active(name):
        return units.get(name, {}).get("ActiveState") in ("active", "reloading", "activating")

    def loaded(name):
        return units.get(name, {}).get("LoadState") == "loaded"

    if method in ("auto", "systemd") and facts.get("systemd"):
        names = [service] if service else list(UNITS)
        for name in names:
            if active(name + ".socket"):
                steps = [["systemctl", "daemon-reload"], ["systemctl", "restart", name + ".socket"]]
                if active(name + ".service"):
                    steps.append(["systemctl", "reload", name + ".service"])
                return {"method": "systemd-socket", "unit": name + ".socket", "steps": steps}
        for name in names:
            if active(name + ".service"):
                return {"method": "systemd", "unit": name + ".service", "steps": [["systemctl", "reload", name + ".service"]]}
        loaded_units = [n + ".service" for n in names if loaded(n + ".service")]
        if method == "systemd" or loaded_units:
            raise ReloadError(
                "sshd is not running under systemd (%s inactive); start it first — a reload would not apply the configuration"
                % (", ".join(loaded_units) or "no ssh/sshd unit loaded")
            )
    if method in ("auto", "sysv") and facts.get("initscript"):
        return {"method": "sysv", "unit": facts["initscript"], "steps": [[facts["initscript"], "reload"]]}
    if method == "sysv":
        raise ReloadError("no SysV init script for sshd (looked for %s)" % ", ".join(INITSCRIPTS))
    if method in ("auto", "signal") and facts.get("pid"):
        return {"method": "signal", "unit": None, "steps": [["signal", facts["pid"]]]}
    raise ReloadError("cannot find a running sshd to reload: no active ssh/sshd systemd unit, no init script, no PID in %s" % " or ".join(PIDFILES))


def read_pid(read_text=None):
    for path in PIDFILES:
        try:
            text = read_text(path) if read_text else _read(path)
        except OSError:
            continue
        text = (text or "").strip()
        if text.isdigit() and int(text) > 1:
            return int(text)
    return None


def _read(path):
    with open(path, encoding="ascii") as handle:
        return handle.read(64)


def gather(run, service=None):
    """Collect the facts :func:`choose` needs; *run* is AnsibleModule.run_command-like."""
    facts = {"systemd": os.path.isdir("/run/systemd/system"), "units": {}, "initscript": None, "pid": read_pid()}
    if facts["systemd"]:
        names = [service] if service else list(UNITS)
        units = [n + suffix for n in names for suffix in (".service", ".socket")]
        rc, out, _err = run(["systemctl", "show", "-p", "Id,LoadState,ActiveState", "--"] + units)
        if rc == 0:
            for block in parse_show(out):
                if block.get("Id"):
                    facts["units"][block["Id"]] = block
        else:
            facts["systemd"] = False
    for path in INITSCRIPTS:
        if os.path.isfile(path) and os.access(path, os.X_OK):
            facts["initscript"] = path
            break
    return facts


def execute(plan, run, kill=os.kill):
    """Run the plan's steps; raise ReloadError quoting the failing command's output."""
    for step in plan["steps"]:
        if step[0] == "signal":
            try:
                kill(step[1], signal.SIGHUP)
            except OSError as exc:
                raise ReloadError("sending SIGHUP to sshd (pid %s) failed: %s" % (step[1], exc.strerror)) from None
            continue
        rc, out, err = run(step)
        if rc != 0:
            message = (err or out or "").strip()
            raise ReloadError("`%s` failed (exit %d): %s" % (" ".join(step), rc, message))


def wait_active(run, plan, timeout=10.0, interval=0.2):
    """After a reload, wait until the unit (or pid) is running again; returns True when it is."""
    deadline = time.monotonic() + timeout
    while True:
        if plan["method"] in ("systemd", "systemd-socket"):
            rc, out, _err = run(["systemctl", "show", "-p", "ActiveState", "--", plan["unit"]])
            state = parse_show(out)[0].get("ActiveState") if rc == 0 and parse_show(out) else None
            if state == "active":
                return True
        elif plan["method"] == "signal":
            if os.path.exists("/proc/%d" % plan["steps"][0][1]):
                return True
        else:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
