# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""TOTP codes computed at the moment of answering, with a reuse guard.

pam_google_authenticator with ``DISALLOW_REUSE`` refuses a second login with a
code of a time step that was already used. :class:`StepGuard` remembers, per
host + port + user, the last step this controller used, in a small 0600 file
under a 0700 directory, and serialises logins with ``flock``: it works across
Ansible's worker processes, the control-socket masters and separate runs. A
login that would reuse a step waits for the next one.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import os
import time

from .errors import AuthError
from .paths import digest, ensure_private_dir

ALGORITHMS = ("sha1", "sha256", "sha512")
# Start a little after the step boundary: a controller clock slightly ahead of
# the server must not produce the code of the step the server considers used.
STEP_MARGIN = 1.0


def _pyotp():
    try:
        import pyotp  # noqa: PLC0415  pylint: disable=import-outside-toplevel  # optional; only when a code is needed
    except ImportError:
        raise AuthError("a TOTP answer is needed but the Python library pyotp is not installed on the controller; install it with: pip install pyotp") from None
    return pyotp


class TotpGenerator:
    """RFC 6238 codes from a base32 secret (or an ``otpauth://totp/`` URI) through pyotp."""

    def __init__(self, secret: str, digits: int = 6, period: int = 30, algorithm: str = "sha1"):
        secret = "" if secret is None else str(secret).strip()
        if secret.lower().startswith("otpauth://"):
            secret, digits, period, algorithm = self._from_uri(secret)
        secret = "".join(secret.split()).upper().rstrip("=")
        if not secret:
            raise AuthError("the TOTP secret is empty")
        try:
            raw = base64.b32decode(secret + "=" * (-len(secret) % 8))
        except (ValueError, TypeError):
            raise AuthError("the TOTP secret is not valid base32 (letters A-Z and digits 2-7); check totp_secret") from None
        if not raw:
            raise AuthError("the TOTP secret is empty")
        algorithm = (algorithm or "sha1").lower()
        if algorithm not in ALGORITHMS:
            raise AuthError("unsupported TOTP algorithm %r; use one of %s" % (algorithm, ", ".join(ALGORITHMS)))
        if int(digits) not in (6, 7, 8) or not 0 < int(period) <= 120:
            raise AuthError("unsupported TOTP parameters: digits must be 6-8 and period 1-120 seconds")
        self._secret = secret
        self._raw = raw
        self.digits = int(digits)
        self.period = int(period)
        self.algorithm = algorithm
        self._otp = None

    @staticmethod
    def _from_uri(uri: str):
        pyotp = _pyotp()
        try:
            otp = pyotp.parse_uri(uri)
        except Exception:  # pylint: disable=broad-exception-caught  # pyotp raises several types; the text may quote the secret
            raise AuthError("the TOTP secret looks like an otpauth:// URI but could not be parsed") from None
        if not isinstance(otp, pyotp.TOTP):
            raise AuthError("the otpauth:// URI is not a TOTP (time-based) one")
        name = getattr(otp.digest(), "name", "sha1")
        return otp.secret, otp.digits, otp.interval, name

    @property
    def secret(self) -> str:
        return self._secret

    def step(self, when: float) -> int:
        return int(when // self.period)

    def code_for_step(self, step: int) -> str:
        if self._otp is None:
            pyotp = _pyotp()
            raw = self._raw

            class _TOTP(pyotp.TOTP):
                # pyotp >= 2.10 refuses secrets under 112 bits; older
                # google-authenticator releases issue 80-bit ones. The server
                # decides which secret is valid, not the client.
                def byte_secret(self) -> bytes:
                    return raw

            self._otp = _TOTP(self._secret, digits=self.digits, digest=getattr(hashlib, self.algorithm), interval=self.period)
        return self._otp.generate_otp(step)

    def code_at(self, when: float) -> str:
        return self.code_for_step(self.step(when))


class StepGuard:
    """Hands out each TOTP time step at most once per host + port + user."""

    def __init__(self, state_dir: str, clock=time.time, sleep=time.sleep):
        self.state_dir = state_dir
        self._clock = clock
        self._sleep = sleep

    def _path(self, key: str) -> str:
        return os.path.join(ensure_private_dir(self.state_dir), "%s.step" % digest("totp-step", key))

    def last_step(self, key: str) -> int:
        try:
            with open(self._path(key), encoding="ascii") as handle:
                return int(handle.read().strip() or -1)
        except (OSError, ValueError):
            return -1

    def wait_until_fresh(self, key: str, generator: TotpGenerator, on_wait=None, max_wait: float | None = None) -> None:
        """Before connecting: sleep until the current step is unused (reserves nothing).

        Waiting here, not in the middle of a login, keeps the server's
        LoginGraceTime for the login itself.
        """
        last = self.last_step(key)
        now = self._clock()
        if generator.step(now) > last:
            return
        wait = (last + 1) * generator.period + STEP_MARGIN - now
        if max_wait is not None and wait > max_wait:
            return  # code() will refuse with a clear message
        if on_wait is not None:
            on_wait(wait)
        while generator.step(now) <= last:
            self._sleep(max(0.05, (last + 1) * generator.period + STEP_MARGIN - now))
            now = self._clock()

    def code(self, key: str, generator: TotpGenerator, on_wait=None, max_wait: float | None = None) -> str:
        """Return a code of a step never used for *key*, waiting for the next step if needed.

        *on_wait(seconds)* is told before waiting. *max_wait* bounds the wait
        (the server's login grace time); beyond it the login is refused
        instead of sending a code the server would reject.
        """
        path = self._path(key)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0), 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                text = os.pread(fd, 64, 0).decode("ascii", "replace").strip()
                last = int(text) if text.lstrip("-").isdigit() else -1
                now = self._clock()
                step = generator.step(now)
                if step <= last:
                    wait = (last + 1) * generator.period + STEP_MARGIN - now
                    if max_wait is not None and wait > max_wait:
                        raise AuthError(
                            "the TOTP code of the current time step was already used for this host and user, and the next step is %.0f s away "
                            "(more than the %.0f s allowed); try again later" % (wait, max_wait)
                        )
                    if on_wait is not None:
                        on_wait(wait)
                    while step <= last:
                        self._sleep(max(0.05, (last + 1) * generator.period + STEP_MARGIN - now))
                        now = self._clock()
                        step = generator.step(now)
                code = generator.code_for_step(step)
                data = b"%d\n" % step
                os.ftruncate(fd, 0)
                os.pwrite(fd, data, 0)
                return code
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
