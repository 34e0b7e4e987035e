#!/usr/bin/env python
# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Try one real SSH login with paramiko and report what happened as JSON.

    login.py --port 22201 --user pwonly --method password --known-hosts FILE < secret
    login.py --port 22201 --user admin --method publickey --key FILE --known-hosts FILE

--method password | keyboard-interactive | publickey. The password is the
first line of standard input (never argv or environment, never printed). For
keyboard-interactive, a prompt is answered with it only when its last line
asks for a password; any other prompt fails the login (fail closed); a round
without prompts gets an empty answer. Exit 0 when the login succeeded and a
command ran, 1 when the server refused it, 2 on any other error. The JSON
holds: ok, method, refused (bool), allowed (methods the server offered, when
known), prompts (prompt texts seen), error.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys

import paramiko


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--method", choices=["password", "keyboard-interactive", "publickey"], required=True)
    parser.add_argument("--key")
    parser.add_argument("--known-hosts", required=True)
    parser.add_argument("--timeout", type=float, default=15)
    args = parser.parse_args()
    secret = sys.stdin.readline().rstrip("\n") if args.method != "publickey" else ""
    report = {"ok": False, "method": args.method, "refused": False, "allowed": None, "prompts": [], "error": None}

    def answer(_title, _instructions, prompts):
        replies = []
        for text, _echo in prompts:
            report["prompts"].append(text)
            last = text.strip().splitlines()[-1].lower() if text.strip() else ""
            if last.startswith("password"):
                replies.append(secret)
            else:
                raise paramiko.AuthenticationException("unexpected prompt %r" % text)
        return replies

    sock = None
    transport = None
    try:
        sock = socket.create_connection((args.host, args.port), timeout=args.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        transport = paramiko.Transport(sock)
        transport.banner_timeout = args.timeout
        transport.auth_timeout = args.timeout
        transport.start_client(timeout=args.timeout)
        known = paramiko.HostKeys(args.known_hosts)
        server_key = transport.get_remote_server_key()
        name = "[%s]:%d" % (args.host, args.port)
        if not known.check(name, server_key):
            report["error"] = "host key of %s not in %s" % (name, args.known_hosts)
            print(json.dumps(report))
            return 2
        try:
            if args.method == "password":
                transport.auth_password(args.user, secret, fallback=False)
            elif args.method == "keyboard-interactive":
                transport.auth_interactive(args.user, answer)
            else:
                key = paramiko.Ed25519Key.from_private_key_file(args.key)
                transport.auth_publickey(args.user, key)
        except paramiko.BadAuthenticationType as exc:
            report["refused"] = True
            report["allowed"] = list(exc.allowed_types)
            report["error"] = "server does not offer %s (offers %s)" % (args.method, ", ".join(exc.allowed_types))
            print(json.dumps(report))
            return 1
        except paramiko.AuthenticationException as exc:
            report["refused"] = True
            report["error"] = "Permission denied (%s)" % exc
            print(json.dumps(report))
            return 1
        if not transport.is_authenticated():
            report["refused"] = True
            report["error"] = "partial success only: the server asks for more methods"
            print(json.dumps(report))
            return 1
        channel = transport.open_session(timeout=args.timeout)
        channel.exec_command("id -un")
        out = channel.makefile("rb").read().decode("utf-8", "replace").strip()
        status = channel.recv_exit_status()
        report["ok"] = status == 0 and out == args.user
        report["whoami"] = out
        print(json.dumps(report))
        return 0 if report["ok"] else 2
    except Exception as exc:
        report["error"] = "%s: %s" % (type(exc).__name__, exc)
        print(json.dumps(report))
        return 2
    finally:
        if transport is not None:
            transport.close()
        if sock is not None:
            sock.close()


if __name__ == "__main__":
    sys.exit(main())
