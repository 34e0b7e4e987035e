# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Errors of the kbdint connection internals.

The internals never import Ansible: the connection plugin turns these into
``AnsibleAuthenticationFailure`` / ``AnsibleConnectionFailure`` in one place.
No message built here ever contains an answer, a password, a secret or a code.
"""

from __future__ import annotations


class KbdintError(Exception):
    """Base class; ``kind`` travels over the control socket with the message."""

    kind = "error"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConnectError(KbdintError):
    """The TCP connection, proxy, jump host or SSH handshake failed."""

    kind = "connect"


class HostKeyError(ConnectError):
    """The server's host key is unknown (and checking is on) or does not match."""

    kind = "hostkey"


class AuthError(KbdintError):
    """Authentication failed or was refused by us."""

    kind = "auth"


class PromptRefused(AuthError):
    """The responder refused to answer a keyboard-interactive round (fail closed)."""

    kind = "refused"


class CommandError(KbdintError):
    """A command, transfer or channel operation failed on an open transport."""

    kind = "command"


class TransferError(CommandError):
    """put_file/fetch_file failed (the task fails; the host stays reachable)."""

    kind = "transfer"


class EscalationError(KbdintError):
    """Privilege escalation (become) failed: wrong or missing password, timeout."""

    kind = "become"


class TransportLost(KbdintError):
    """The authenticated transport is gone (server closed it, network died)."""

    kind = "lost"


class MasterError(KbdintError):
    """The control-socket master could not be started, reached or understood."""

    kind = "master"


KINDS = {
    cls.kind: cls
    for cls in (KbdintError, ConnectError, HostKeyError, AuthError, PromptRefused, CommandError, TransferError, EscalationError, TransportLost, MasterError)
}


def from_kind(kind: str, message: str) -> KbdintError:
    """Rebuild an error sent over the control socket."""
    return KINDS.get(kind, KbdintError)(message)
