# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Privilege escalation with a password, driven through Ansible's become plugins.

The command (``sudo -p '[sudo via ansible, key=…] password:' …``) is started,
its output is examined line by line with the become plugin's own checks
(prompt, success marker, wrong / missing password); the password is written to
stdin only after the plugin recognised its prompt, and the pipelined module
only after escalation succeeded. Prompt and marker lines are removed from
the output. The password never goes anywhere else.
"""

from __future__ import annotations

import time

from .errors import EscalationError

AWAIT_PROMPT = "awaiting prompt"
AWAIT_ESCALATION = "awaiting escalation"
READY = "ready"


def _b(text) -> bytes:
    if isinstance(text, bytes):
        return text
    return str(text).encode("utf-8", "surrogateescape")


class _Stream:
    def __init__(self):
        self.pending = b""
        self.kept = []

    def examine(self, become, state):
        """Look at complete lines (and a trailing partial one, which may be a prompt)."""
        found = set()
        rest = b""
        lines = self.pending.splitlines(True)
        for index, line in enumerate(lines):
            complete = line.endswith((b"\n", b"\r"))
            if state == AWAIT_PROMPT and become.check_password_prompt(line):
                found.add("prompt")
                continue
            if getattr(become, "success", None) and become.check_success(line):
                found.add("success")
                continue
            if become.check_incorrect_password(line):
                found.add("incorrect")
            elif become.check_missing_password(line):
                found.add("missing")
            if complete:
                self.kept.append(line)
            else:
                rest = b"".join(lines[index:])
                break
        self.pending = rest
        return found

    def flush(self):
        self.kept.append(self.pending)
        self.pending = b""
        return b"".join(self.kept)


def run_escalated(running, become, password, in_data=None, timeout=10.0, command_timeout=None, trace=None):
    """Drive *running* through the become plugin's conversation; return (rc, stdout, stderr).

    *running* has ``read_some(timeout) -> (out, err, eof)``, ``write(bytes)``,
    ``finish(in_data, timeout) -> (rc, out, err)`` and ``abort()``.
    """
    trace = trace or (lambda text: None)
    name = getattr(become, "name", "become")
    if getattr(become, "prompt", None):
        state = AWAIT_PROMPT
    elif getattr(become, "success", None):
        state = AWAIT_ESCALATION
    else:
        state = READY
    streams = {"out": _Stream(), "err": _Stream()}
    deadline = time.monotonic() + float(timeout or 10)
    eof = False
    while state != READY and not eof:
        left = deadline - time.monotonic()
        if left <= 0:
            running.abort()
            seen = (streams["out"].flush() + streams["err"].flush()).decode("utf-8", "replace").strip()
            raise EscalationError(
                "timeout (%.0f s) waiting for privilege escalation (%s) %s; output so far: %s"
                % (float(timeout or 10), name, "prompt" if state == AWAIT_PROMPT else "to succeed", seen[-300:] or "(none)")
            )
        out, err, eof = running.read_some(min(left, 1.0))
        found = set()
        if out:
            streams["out"].pending += out
            found |= streams["out"].examine(become, state)
        if err:
            streams["err"].pending += err
            found |= streams["err"].examine(become, state)
        if state == AWAIT_PROMPT:
            if "prompt" in found:
                if password is None or password == "":
                    running.abort()
                    raise EscalationError("Missing %s password: %s asked for one and become_password (ansible_become_password) is not set" % (name, name))
                trace("%s asked for its password; sending become_password" % name)
                running.write(_b(password) + b"\n")
                state = AWAIT_ESCALATION
                found.discard("prompt")
            elif "success" in found:
                state = READY
        if state == AWAIT_ESCALATION:
            if "success" in found:
                trace("privilege escalation (%s) succeeded" % name)
                state = READY
            elif "incorrect" in found or "prompt" in found:
                running.abort()
                raise EscalationError("Incorrect %s password" % name)
            elif "missing" in found:
                running.abort()
                raise EscalationError("Missing %s password" % name)
    rc, out, err = running.finish(in_data if state == READY else None, command_timeout)
    return rc, streams["out"].flush() + out, streams["err"].flush() + err
