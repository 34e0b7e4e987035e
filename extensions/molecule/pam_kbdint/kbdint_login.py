# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Log in to a lab host with paramiko: public key, then keyboard-interactive rounds.

Used by the pam_kbdint molecule scenario from the controller. Secrets come from
the environment (LOGIN_PASSWORD, LOGIN_TOTP_SECRET) and never appear in the
output, which is one JSON object: the methods left after the public key
(partial success), every keyboard-interactive round as the prompts sshd sent
(text and echo flag), whether the login succeeded, and the remote ``id -un``.

Prompts are answered by rule and anything else fails closed: a prompt ending
in "Password: " gets the password, "Verification code: " the TOTP code (the
correct one, or with --wrong-code one that is valid in no window), a round
without prompts an empty answer.

pam_google_authenticator's DISALLOW_REUSE refuses a second login with a code
of the same 30-second step, and RATE_LIMIT 3 30 refuses a fourth attempt within
30 seconds: --state keeps the steps and attempt times used per host, and the
helper waits when either would bite.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import paramiko
import pyotp

STEP = 30
RATE_LIMIT = (3, 30)


class UnexpectedPrompt(Exception):
    pass


def load_state(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return {"last_step": 0, "attempts": []}


def save_state(path, state):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(state, handle)
    os.replace(tmp, path)


def wait_for_budget(state, needs_fresh_step):
    """Sleep until a new TOTP step (if needed) and until the rate limit allows one more attempt."""
    waited = 0.0
    while True:
        now = time.time()
        recent = [t for t in state["attempts"] if now - t < RATE_LIMIT[1] + 1]
        state["attempts"] = recent
        pause = 0.0
        if len(recent) >= RATE_LIMIT[0]:
            pause = max(pause, min(recent) + RATE_LIMIT[1] + 1 - now)
        if needs_fresh_step and int(now // STEP) <= state["last_step"]:
            pause = max(pause, (state["last_step"] + 1) * STEP - now + 0.5)
        if pause <= 0:
            return waited
        time.sleep(pause)
        waited += pause


def wrong_code(totp, at):
    valid = {totp.at(at + offset * STEP) for offset in range(-4, 5)}
    candidate = int(totp.at(at))
    while True:
        candidate = (candidate + 123457) % 1000000
        code = "%06d" % candidate
        if code not in valid:
            return code


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--known-hosts", required=True)
    parser.add_argument("--state", required=True, help="file remembering TOTP steps and attempts for this host")
    parser.add_argument("--wrong-code", action="store_true")
    args = parser.parse_args()

    password = os.environ.get("LOGIN_PASSWORD", "")
    totp = pyotp.TOTP(os.environ["LOGIN_TOTP_SECRET"]) if os.environ.get("LOGIN_TOTP_SECRET") else None
    state = load_state(args.state)
    result = {"partial": None, "rounds": [], "authenticated": False, "whoami": None, "error": None, "waited": 0.0}
    answered = {"code": False}

    def handler(_title, _instructions, prompts):
        result["rounds"].append([[text, bool(echo)] for text, echo in prompts])
        answers = []
        for text, _echo in prompts:
            last = text.splitlines()[-1] if text else text
            if last.endswith("Password: "):
                answers.append(password)
            elif last.endswith("Verification code: ") and totp is not None:
                now = time.time()
                answered["code"] = True
                state["attempts"].append(now)
                if args.wrong_code:
                    answers.append(wrong_code(totp, now))
                else:
                    state["last_step"] = int(now // STEP)
                    answers.append(totp.at(now))
                save_state(args.state, state)
            else:
                raise UnexpectedPrompt("no rule answers the prompt %r" % text)
        return answers

    result["waited"] = wait_for_budget(state, needs_fresh_step=not args.wrong_code and totp is not None)
    host_keys = paramiko.HostKeys(args.known_hosts)
    sock_name = "[%s]:%d" % (args.host, args.port)
    transport = paramiko.Transport((args.host, args.port))
    try:
        transport.start_client(timeout=30)
        server_key = transport.get_remote_server_key()
        if not host_keys.check(sock_name, server_key):
            raise SystemExit("host key of %s is not in %s" % (sock_name, args.known_hosts))
        key = paramiko.PKey.from_path(args.key) if hasattr(paramiko.PKey, "from_path") else paramiko.Ed25519Key.from_private_key_file(args.key)
        result["partial"] = transport.auth_publickey(args.user, key)
        try:
            transport.auth_interactive(args.user, handler)
        except paramiko.AuthenticationException as exc:
            result["error"] = "%s: %s" % (type(exc).__name__, exc)
        except UnexpectedPrompt as exc:
            result["error"] = str(exc)
        result["authenticated"] = transport.is_authenticated()
        if result["authenticated"]:
            channel = transport.open_session(timeout=30)
            channel.exec_command("id -un")
            result["whoami"] = channel.makefile("rb").read().decode("utf-8", "replace").strip()
            channel.close()
    finally:
        transport.close()
        save_state(args.state, state)
    result["code_asked"] = answered["code"]
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
