# -*- coding: utf-8 -*-
# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Prove that a NEW login to the host works, while the task's own session stays open.

Shared by the verify_login and safe_apply action plugins.

Runs on the controller: it loads a second instance of a connection plugin
(by default the one the play uses, with the same resolved options), turns off
connection sharing for that instance (ssh ControlMaster, the kbdint plugin's
persistent master), logs in, runs a marker command, and closes. The session the
play already holds is not touched, so a failed proof still leaves a way in to
roll back.
"""

from __future__ import annotations

import contextlib
import re
import shlex
import time

from ansible.errors import AnsibleError
from ansible.module_utils.common.text.converters import to_text

MARKER = "fleetauth-verify-login-ok"
_CONTROL_OPT = re.compile(r"^Control(Master|Persist|Path)=", re.IGNORECASE)


def _without_control_options(args):
    """Drop -o ControlMaster/ControlPersist/ControlPath from an ssh argument string."""
    words = shlex.split(args or "")
    out = []
    skip = False
    for index, word in enumerate(words):
        if skip:
            skip = False
            continue
        if word == "-o" and index + 1 < len(words) and _CONTROL_OPT.match(words[index + 1]):
            skip = True
            continue
        if word.startswith("-o") and _CONTROL_OPT.match(word[2:]):
            continue
        out.append(word)
    return " ".join(shlex.quote(w) for w in out)


def fresh_options(plugin_name, options):
    """Options for a second connection that must not reuse a shared one."""
    options = dict(options)
    if plugin_name.endswith("ssh") and "ssh_args" in options:
        options["ssh_args"] = ("-o ControlMaster=no -o ControlPath=none " + _without_control_options(options.get("ssh_args"))).strip()
    if "persist" in options:
        options["persist"] = False
    return options


def fresh_login(action, task_vars, connection=None, options=None, timeout=None, command=None):
    """Log in anew from *action* (an ActionBase) and run a check command; returns a result dict.

    The result has ``login`` (``ok`` or ``failed``), ``where`` and, on failure,
    ``failed`` and ``msg``. Option values are never part of the result.
    """
    options = options or {}
    name = connection or action._connection._load_name
    if not isinstance(options, dict):
        return {"failed": True, "login": "failed", "msg": "options must be a dictionary of connection options"}
    if name in ("local", "ansible.builtin.local"):
        return {"login": "skipped", "skipped": True, "msg": "the connection is local; there is no login to prove"}
    conn = action._shared_loader_obj.connection_loader.get(name, action._play_context, new_stdin=None)
    if conn is None:
        return {"failed": True, "login": "failed", "msg": "connection plugin %s not found" % name}
    if conn._load_name == action._connection._load_name:
        base = dict(action._connection.get_options())
        var_options = None
    else:
        base = {}
        var_options = conn._resolve_option_variables(task_vars or {}, action._templar)
    direct = fresh_options(conn._load_name, dict(base, **options))
    if timeout and "timeout" in conn.option_definitions:
        direct["timeout"] = int(timeout)
    conn.set_options(var_options=var_options, direct=direct)
    with contextlib.suppress(Exception):  # a shell plugin without options needs none
        conn._shell.set_options()

    user = conn.get_option("remote_user") if conn.has_option("remote_user") else None
    host = next((conn.get_option(o) for o in ("host", "remote_addr") if conn.has_option(o)), None)
    port = conn.get_option("port") if conn.has_option("port") else None
    where = "%s@%s%s" % (user or "(default user)", host, (":%s" % port) if port else "")
    check = command or "echo %s" % MARKER
    started = time.monotonic()
    try:
        if conn._load_name.endswith("paramiko_ssh") and hasattr(conn, "_connect_uncached"):
            conn.ssh = conn._connect_uncached()
            conn._connected = True
        rc, stdout, stderr = conn.exec_command(check, sudoable=False)
    except AnsibleError as exc:
        msg = "a new %s login as %s failed: %s" % (conn._load_name, where, to_text(exc.message))
        return {"failed": True, "login": "failed", "where": where, "msg": msg}
    finally:
        with contextlib.suppress(Exception):
            conn.close()
    elapsed = round(time.monotonic() - started, 3)
    out = to_text(stdout, errors="surrogate_or_replace")
    if rc != 0 or (not command and MARKER not in out):
        detail = to_text(stderr, errors="surrogate_or_replace").strip()[-500:]
        msg = "a new %s login as %s did not run the check command (rc=%s): %s" % (conn._load_name, where, rc, detail)
        return {"failed": True, "login": "failed", "where": where, "rc": rc, "msg": msg}
    return {"login": "ok", "where": where, "connection": conn._load_name, "elapsed": elapsed}
