# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Keep secrets out of every text we or paramiko produce.

A :class:`Redactor` knows the secret values of one connection (password,
TOTP secret, every code and static answer actually sent) and replaces them in
any text. :class:`RedactingFilter` applies it to log records, so paramiko's
own loggers cannot leak a secret through a message, its arguments or an
exception traceback.
"""

from __future__ import annotations

import logging
import threading

MASK = "********"
# Shorter values cannot be protected by substitution without destroying
# unrelated output (a one-digit Duo menu choice is not a secret anyway).
MIN_SECRET_LENGTH = 3


class Redactor:
    def __init__(self, *secrets):
        self._lock = threading.Lock()
        self._secrets: set = set()
        for secret in secrets:
            self.add(secret)

    def add(self, secret) -> None:
        if secret is None:
            return
        if isinstance(secret, bytes):
            secret = secret.decode("utf-8", "replace")
        secret = str(secret)
        variants = {secret, secret.strip()}
        # A base32 TOTP secret is often written in groups or lower case.
        compact = "".join(secret.split())
        variants.update({compact, compact.upper(), compact.lower()})
        with self._lock:
            self._secrets.update(v for v in variants if len(v) >= MIN_SECRET_LENGTH)

    def __bool__(self) -> bool:
        return bool(self._secrets)

    def redact(self, text):
        if text is None:
            return text
        was_bytes = isinstance(text, bytes)
        if was_bytes:
            text = text.decode("utf-8", "replace")
        elif not isinstance(text, str):
            text = str(text)
        with self._lock:
            secrets = sorted(self._secrets, key=len, reverse=True)
        for secret in secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text.encode("utf-8") if was_bytes else text


class RedactingFilter(logging.Filter):
    """A logging filter that rewrites each record with the secrets masked."""

    def __init__(self, redactor: Redactor):
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # pylint: disable=broad-exception-caught  # a broken record must not leak or crash
            message = str(record.msg)
        record.msg = self.redactor.redact(message)
        record.args = None
        if record.exc_info:
            formatter = logging.Formatter()
            record.exc_text = self.redactor.redact(formatter.formatException(record.exc_info))
            record.exc_info = None
        if record.stack_info:
            record.stack_info = self.redactor.redact(record.stack_info)
        return True


# Log channel our paramiko transports use instead of "paramiko.transport".
LOG_CHANNEL = "fleetauth.ssh.kbdint.paramiko"


def guard_logger(name: str, redactor: Redactor) -> logging.Logger:
    """Attach a redacting filter for *redactor* to logger *name* (once per redactor)."""
    logger = logging.getLogger(name)
    if not any(isinstance(f, RedactingFilter) and f.redactor is redactor for f in logger.filters):
        logger.addFilter(RedactingFilter(redactor))
    return logger


def guard_paramiko_logging(redactor: Redactor) -> None:
    """Mask secrets in every logger paramiko may use for our transports.

    Transports log on :data:`LOG_CHANNEL`; SFTP clients on ``LOG_CHANNEL + '.sftp'``;
    anything else paramiko logs goes to ``paramiko.*``. Filters on a logger see only
    records created on that logger, so each one gets its own.
    """
    for name in (LOG_CHANNEL, LOG_CHANNEL + ".sftp", "paramiko", "paramiko.transport", "paramiko.transport.sftp", "paramiko.agent"):
        guard_logger(name, redactor)
