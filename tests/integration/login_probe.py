#!/usr/bin/env python
# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A real SSH login, for tests: which methods get a user in, and what sshd asks.

Used by molecule verify playbooks (delegated to localhost) to prove behaviour
with real logins instead of reading back files. Secrets come from environment
variables, never from the command line:

    PROBE_PASSWORD=... PROBE_TOTP_SECRET=... python login_probe.py \\
        --port 22201 --user mfa --key ~/.cache/.../keys/mfa \\
        --methods publickey,keyboard-interactive --expect ok

--methods is the chain to try, in order (comma = after partial success).
With --lab-dir and --lab-host (the lab's state directory and a host name, as
in the lab inventory's lab_dir and inventory_hostname) the port, key, password,
TOTP secret and known_hosts come from the lab's own state, so a playbook never
handles them. Keyboard-interactive prompts are answered by explicit rules: a login password
prompt gets PROBE_PASSWORD, a verification-code / one-time-password prompt gets
a TOTP from PROBE_TOTP_SECRET (or a wrong code with --wrong-code); anything else
ends the probe. Prints one JSON line: result (ok | partial | denied | error),
methods tried, methods the server still allows, the prompts of every round.
Exit 0 when result equals --expect (default ok), else 1.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import sys
import time

import paramiko

# The kbdint connection plugin's default control_path_dir + "/totp".
GUARD_DIR = os.path.join(os.path.expanduser("~"), ".ansible", "kbdint", "totp")
PASSWORD_PROMPT = re.compile(r"^\s*(\S+'s\s+)?password:\s*$", re.IGNORECASE)
CODE_PROMPT = re.compile(r"(verification code|one-time password|one time password|otp)", re.IGNORECASE)


def last_line(text):
    lines = [line for line in (text or "").splitlines() if line.strip()]
    return lines[-1] if lines else ""


class Responder:
    def __init__(self, password, totp_secret, wrong_code, key):
        self.password = password
        self.totp_secret = totp_secret
        self.wrong_code = wrong_code
        self.key = key
        self.rounds = []
        self.unanswered = None

    def __call__(self, title, instructions, prompts):
        self.rounds.append({"instructions": instructions or "", "prompts": [p for p, _echo in prompts]})
        answers = []
        for prompt, _echo in prompts:
            line = last_line(prompt)
            if PASSWORD_PROMPT.match(line) and self.password is not None:
                answers.append(self.password)
            elif CODE_PROMPT.search(line) and "password &" not in line.lower() and self.totp_secret:
                answers.append(self.code())
            else:
                self.unanswered = line
                raise paramiko.AuthenticationException("no rule for prompt %r" % line)
        return answers

    def code(self):
        if self.wrong_code:
            # A refused code uses up no step: no need to wait, nothing to remember.
            generator = _totp().TotpGenerator(self.totp_secret)
            step = generator.step(time.time())
            return "%06d" % ((int(generator.code_for_step(step)) + 1) % 1000000)
        # pam_google_authenticator's DISALLOW_REUSE refuses a second login with the
        # same code. The connection plugin's own guard (same state directory, same
        # host:port:user key) waits for a fresh step, so a probe and a plugin login
        # never collide either.
        totp = _totp()
        return totp.StepGuard(GUARD_DIR).code(self.key, totp.TotpGenerator(self.totp_secret))


def _totp():
    """The kbdint connection plugin's TOTP module, from this checkout."""
    try:
        from ansible_collections.fleetauth.ssh.plugins.plugin_utils._kbdint import totp  # pylint: disable=import-outside-toplevel
    except ImportError:
        # tests/integration/ -> repository root; `make link` puts the collection under tests/output/collections.
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        sys.path.insert(0, os.path.join(root, "tests", "output", "collections"))
        from ansible_collections.fleetauth.ssh.plugins.plugin_utils._kbdint import totp  # pylint: disable=import-outside-toplevel
    return totp


def from_lab(args):
    """Fill port, key, known_hosts and secrets from the lab's state (lab.json)."""
    with open(os.path.join(args.lab_dir, "lab.json"), encoding="utf-8") as handle:
        lab = json.load(handle)
    host = next((h for h in lab["hosts"] if h["name"] == args.lab_host), None)
    if host is None:
        raise SystemExit("login_probe: no host %r in lab %s" % (args.lab_host, lab["name"]))
    user = lab["users"].get(args.user, {})
    args.port = args.port or host["port"]
    args.key = args.key or user.get("private_key")
    args.known_hosts = args.known_hosts or lab["known_hosts"]
    secrets = {"password": user.get("password"), "totp_secret": host.get("totp_secrets", {}).get(args.user)}
    return secrets


def probe(args):
    secrets = from_lab(args) if args.lab_dir else {}
    password = os.environ.get("PROBE_PASSWORD", secrets.get("password"))
    totp_secret = os.environ.get("PROBE_TOTP_SECRET", secrets.get("totp_secret"))
    responder = Responder(password, totp_secret, args.wrong_code, "%s:%d:%s" % (args.host, args.port, args.user))
    out = {"result": "error", "tried": [], "allowed": [], "rounds": responder.rounds}
    sock = socket.create_connection((args.host, args.port), timeout=args.timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    transport = paramiko.Transport(sock)
    # The TOTP reuse guard may wait up to 30 s inside a keyboard-interactive round;
    # paramiko's default of 30 s for an auth reply would cut that short.
    transport.auth_timeout = max(args.timeout, 75)
    try:
        transport.start_client(timeout=args.timeout)
        if args.known_hosts:
            keys = paramiko.HostKeys(args.known_hosts)
            server_key = transport.get_remote_server_key()
            name = "[%s]:%d" % (args.host, args.port) if args.port != 22 else args.host
            if not keys.check(name, server_key):
                out["message"] = "host key for %s not in %s" % (name, args.known_hosts)
                return out
        for method in [m.strip() for m in args.methods.split(",") if m.strip()]:
            out["tried"].append(method)
            try:
                if method == "publickey":
                    key = paramiko.PKey.from_path(args.key)
                    remaining = transport.auth_publickey(args.user, key)
                elif method == "password":
                    remaining = transport.auth_password(args.user, password or "", fallback=False)
                elif method == "keyboard-interactive":
                    remaining = transport.auth_interactive(args.user, responder)
                elif method == "none":
                    remaining = transport.auth_none(args.user)
                else:
                    out["message"] = "unknown method %s" % method
                    return out
            except paramiko.BadAuthenticationType as exc:
                out.update(result="denied", allowed=list(exc.allowed_types), message="%s not allowed" % method)
                return out
            except paramiko.AuthenticationException as exc:
                out.update(result="denied", message=str(exc).replace(password or "\0", "***"))
                if responder.unanswered:
                    out["unanswered_prompt"] = responder.unanswered
                return out
            if transport.is_authenticated():
                out["result"] = "ok"
                break
            out.update(result="partial", allowed=list(remaining or []))
        if out["result"] == "ok" and args.command:
            channel = transport.open_session(timeout=args.timeout)
            channel.exec_command(args.command)
            out["stdout"] = channel.makefile("rb").read().decode("utf-8", "replace")
            out["rc"] = channel.recv_exit_status()
        return out
    except (paramiko.SSHException, OSError) as exc:
        out["message"] = "%s: %s" % (type(exc).__name__, exc)
        return out
    finally:
        transport.close()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int)
    parser.add_argument("--lab-dir", help="lab state directory (inventory var lab_dir)")
    parser.add_argument("--lab-host", help="host name in that lab (inventory_hostname)")
    parser.add_argument("--user", required=True)
    parser.add_argument("--key", help="private key file for publickey")
    parser.add_argument("--methods", default="publickey", help="chain to try, e.g. publickey,keyboard-interactive")
    parser.add_argument("--known-hosts", help="verify the server's host key against this file")
    parser.add_argument("--wrong-code", action="store_true", help="answer code prompts with a wrong TOTP")
    parser.add_argument("--command", help="run this after a successful login")
    parser.add_argument("--timeout", type=float, default=20)
    parser.add_argument("--expect", default="ok", choices=["ok", "partial", "denied", "error", "any"])
    args = parser.parse_args(argv)
    if not args.port and not (args.lab_dir and args.lab_host):
        parser.error("give --port, or --lab-dir and --lab-host")
    out = probe(args)
    print(json.dumps(out, sort_keys=True))
    return 0 if args.expect in ("any", out["result"]) else 1


if __name__ == "__main__":
    sys.exit(main())
