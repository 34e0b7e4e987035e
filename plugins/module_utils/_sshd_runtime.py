# -*- coding: utf-8 -*-
# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one place that runs sshd: version, ``sshd -T`` (effective config), ``sshd -t`` (validate).

Everything else in the collection is pure Python over text; this layer is
small on purpose so unit tests can replace it with a fake (pass any callable
with AnsibleModule.run_command's shape: ``run(args, data=None) -> (rc, out, err)``).

Quirks handled here (see FACTS.md):

* ``sshd -V`` does not exist before OpenSSH 9.0; the version is then read from
  the usage text an unknown option prints.
* ``sshd -t`` and ``sshd -T`` load host keys and fail on a host that has none
  yet ("no hostkeys available"): we retry with a throwaway ed25519 key passed
  with ``-h`` from a private temporary directory, so validation still checks
  the configuration itself.
* Before OpenSSH 8.1, ``sshd -T`` refuses to run without ``-C`` when Match
  blocks exist; we retry with a neutral connection spec and say so.
"""

from __future__ import annotations

import os
import re
import shutil

from ._atomic import private_tempdir

SSHD_CANDIDATES = ("/usr/sbin/sshd", "/usr/local/sbin/sshd", "/sbin/sshd", "/usr/bin/sshd")
NO_HOSTKEYS = "no hostkeys available"
NEUTRAL_CONTEXT = {"user": "root", "host": "localhost", "addr": "127.0.0.1"}

# Keywords that `sshd -T` may print more than once (one line per value).
MULTI_VALUED = frozenset(
    {
        "acceptenv",
        "allowgroups",
        "allowusers",
        "denygroups",
        "denyusers",
        "hostcertificate",
        "hostkey",
        "listenaddress",
        "port",
        "setenv",
        "subsystem",
        "include",
        "permitlisten",
        "permitopen",
        "authorizedkeysfile",
        "channeltimeout",
    }
)

# Values older OpenSSH prints under another name (normalise before comparing).
VALUE_ALIASES = {
    ("permitrootlogin", "without-password"): "prohibit-password",
}


class SshdError(Exception):
    """sshd could not be found or refused a configuration; ``sshd_message`` quotes it."""

    def __init__(self, message, sshd_message=None, rc=None):
        super().__init__(message)
        self.sshd_message = sshd_message
        self.rc = rc


def parse_version(text):
    """``(major, minor)`` from any text containing ``OpenSSH_X.Y``; None when absent."""
    match = re.search(r"OpenSSH_(\d+)\.(\d+)", text or "")
    if not match:
        return None
    return int(match.group(1)), int(match.group(2))


def parse_effective(text):
    """Parse ``sshd -T`` output into ``{keyword: value}``; multi-valued keywords map to lists.

    Keywords are lowercase (as sshd prints them); values keep their text, with
    known aliases normalised (``without-password`` -> ``prohibit-password``).
    """
    result = {}
    for raw in (text or "").splitlines():
        line = raw.strip()
        if not line:
            continue
        keyword, _sep, value = line.partition(" ")
        keyword = keyword.lower()
        value = value.strip()
        value = VALUE_ALIASES.get((keyword, value), value)
        if keyword in MULTI_VALUED:
            result.setdefault(keyword, []).append(value)
        else:
            result[keyword] = value
    return result


def context_spec(context):
    """``-C`` argument from a dict (user, host, addr, laddr, lport, rdomain); keys sorted for stability."""
    allowed = ("user", "host", "addr", "laddr", "lport", "rdomain")
    parts = []
    for key in allowed:
        value = (context or {}).get(key)
        if value is None or value == "":
            continue
        value = str(value)
        if "," in value or any(ch.isspace() for ch in value):
            raise SshdError("invalid %s=%r in a connection context: no commas or spaces allowed" % (key, value))
        parts.append("%s=%s" % (key, value))
    unknown = set(context or {}) - set(allowed)
    if unknown:
        raise SshdError("unknown connection context field(s): %s (use %s)" % (", ".join(sorted(unknown)), ", ".join(allowed)))
    return ",".join(parts)


def _message(out, err):
    text = "\n".join(part.strip() for part in (err, out) if part and part.strip())
    return text.strip()


class SshdRuntime:
    """Run the host's sshd binary. *run* has AnsibleModule.run_command's signature."""

    def __init__(self, run, sshd_path=None, keygen_path=None):
        self._run = run
        self._sshd_path = sshd_path
        self._keygen_path = keygen_path
        self._version = None
        self._version_text = None
        self.notes = []  # human-readable remarks (e.g. "used a throwaway host key")

    # -- discovery

    @property
    def sshd(self):
        if self._sshd_path:
            if not os.path.isfile(self._sshd_path):
                raise SshdError("sshd_path %s does not exist" % self._sshd_path)
            return self._sshd_path
        for candidate in SSHD_CANDIDATES:
            if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
                self._sshd_path = candidate
                return candidate
        found = shutil.which("sshd")
        if found:
            self._sshd_path = found
            return found
        raise SshdError("sshd not found (looked in %s and PATH); install openssh-server or set sshd_path" % ", ".join(SSHD_CANDIDATES))

    def version(self):
        """``(major, minor)`` of the installed OpenSSH server."""
        if self._version is None:
            rc, out, err = self._run([self.sshd, "-V"])
            text = _message(out, err)
            version = parse_version(text)
            if version is None:
                raise SshdError("cannot tell the OpenSSH version from `%s -V`" % self.sshd, sshd_message=text, rc=rc)
            self._version = version
            lines = text.splitlines()
            # before 9.0 the version is on a line of the usage text, not the first one
            self._version_text = next((line for line in lines if "OpenSSH_" in line), lines[0] if lines else "")
        return self._version

    @property
    def version_text(self):
        self.version()
        return self._version_text

    def version_at_least(self, major, minor=0):
        return self.version() >= (major, minor)

    # -- running sshd

    def _with_hostkey_fallback(self, args):
        rc, out, err = self._run(args)
        if rc != 0 and NO_HOSTKEYS in _message(out, err):
            with private_tempdir() as tmp:
                key = os.path.join(tmp, "throwaway_ed25519")
                keygen = self._keygen_path or shutil.which("ssh-keygen") or "/usr/bin/ssh-keygen"
                krc, kout, kerr = self._run([keygen, "-q", "-t", "ed25519", "-N", "", "-f", key])
                if krc != 0:
                    raise SshdError("the host has no SSH host keys and ssh-keygen failed to make a throwaway one", sshd_message=_message(kout, kerr))
                rc, out, err = self._run(args + ["-h", key])
            self._note("the host has no SSH host keys yet; validated with a throwaway host key")
        return rc, out, err

    def _note(self, text):
        if text not in self.notes:
            self.notes.append(text)

    def test(self, config_path=None):
        """Validate with ``sshd -t [-f config_path]``; raise :class:`SshdError` quoting sshd."""
        args = [self.sshd, "-t"]
        if config_path:
            args += ["-f", config_path]
        rc, out, err = self._with_hostkey_fallback(args)
        if rc != 0:
            message = _message(out, err)
            raise SshdError("sshd rejected the configuration: %s" % (message or "exit code %d" % rc), sshd_message=message, rc=rc)

    def effective_text(self, config_path=None, context=None):
        """Raw ``sshd -T`` output, with ``-C`` for *context* (dict) when given."""
        args = [self.sshd, "-T"]
        if config_path:
            args += ["-f", config_path]
        if context:
            args += ["-C", context_spec(context)]
        rc, out, err = self._with_hostkey_fallback(args)
        if rc != 0 and not context and "Match" in _message(out, err) and "-C" in _message(out, err):
            # OpenSSH < 8.1: -T needs a connection spec when Match blocks exist.
            self._note("this sshd needs -C with Match blocks; global values read with %s" % context_spec(NEUTRAL_CONTEXT))
            rc, out, err = self._with_hostkey_fallback(args + ["-C", context_spec(NEUTRAL_CONTEXT)])
        if rc != 0:
            message = _message(out, err)
            raise SshdError("`sshd -T` failed: %s" % (message or "exit code %d" % rc), sshd_message=message, rc=rc)
        return out

    def effective(self, config_path=None, context=None):
        """Parsed ``sshd -T``: ``{keyword: value or [values]}``."""
        return parse_effective(self.effective_text(config_path=config_path, context=context))

    def kbdint_keyword(self):
        """The keyword this sshd obeys for keyboard-interactive (FACTS 8)."""
        return "KbdInteractiveAuthentication" if self.version_at_least(8, 7) else "ChallengeResponseAuthentication"
