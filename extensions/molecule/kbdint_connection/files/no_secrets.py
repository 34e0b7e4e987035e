#!/usr/bin/env python
# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Look for secrets in Ansible output and logs; print where, never what.

Reads a JSON object from the environment variable KBD_CHECK:
  secrets     strings that must not appear anywhere (passwords, TOTP secrets)
  totp_files  ~/.google_authenticator files as seen from the controller: the
              codes of every time step listed on their DISALLOW_REUSE line
              (the steps the server saw used) must not appear either
  files       files to search (every one must exist)
  globs       more files to search, if any match
Exit 0 when clean, 1 when something was found or the check would be vacuous.
"""

from __future__ import annotations

import glob
import json
import os
import re
import sys

import pyotp


def used_codes(path):
    with open(path, encoding="ascii") as handle:
        lines = handle.read().splitlines()
    totp = pyotp.TOTP(lines[0].strip())
    codes = []
    for line in lines[1:]:
        if line.startswith('" DISALLOW_REUSE'):
            for word in line.split()[2:]:
                if word.isdigit():
                    codes.append(totp.generate_otp(int(word)))
    return codes


def main() -> int:
    check = json.loads(os.environ["KBD_CHECK"])
    values = [("secret #%d" % n, re.compile(re.escape(s))) for n, s in enumerate(check.get("secrets", []), 1) if s]
    codes = []
    for path in check.get("totp_files", []):
        codes += used_codes(path)
    values += [("code #%d" % n, re.compile(r"(?<!\d)%s(?!\d)" % c)) for n, c in enumerate(codes, 1)]
    files = list(check.get("files", []))
    for pattern in check.get("globs", []):
        files += sorted(glob.glob(os.path.expanduser(pattern)))
    missing = [f for f in check.get("files", []) if not os.path.isfile(f)]
    if missing:
        print("missing files: %s" % ", ".join(missing))
        return 1
    if not codes:
        print("no used TOTP steps found on the hosts: the check would prove nothing")
        return 1
    found = 0
    total = 0
    required = set(check.get("files", []))
    for path in files:
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                text = handle.read()
        except FileNotFoundError:
            if path in required:
                raise
            continue  # a master's log, removed as its run ended normally
        total += len(text)
        for label, regex in values:
            if regex.search(text):
                print("FOUND %s in %s" % (label, path))
                found += 1
    print(
        "searched %d files (%d characters) for %d secrets and %d used codes: %s"
        % (len(files), total, len(values) - len(codes), len(codes), "FOUND %d" % found if found else "clean")
    )
    return 1 if found else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as exc:  # pylint: disable=broad-exception-caught  # report without quoting anything that may hold a secret
        print("the check itself failed: %s%s" % (type(exc).__name__, " (%s)" % exc.filename if isinstance(exc, OSError) else ""))
        sys.exit(2)
