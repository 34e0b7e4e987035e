# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What authentication may ask for, and who answers it.

Kept apart from :mod:`session` so a task's process never imports paramiko
when a master does the SSH work.
"""

from __future__ import annotations


class Challenger:
    """Answers what authentication asks for. Subclasses forward to a responder."""

    def begin_kbdint(self) -> None:
        """A keyboard-interactive attempt starts (rounds count from 1)."""

    def kbdint(self, name, instruction, prompts):  # pragma: no cover - interface
        raise NotImplementedError

    def password(self):
        return None

    def passphrase(self, path):  # pylint: disable=unused-argument
        return None

    def info(self, text) -> None:
        """Progress shown to the person running Ansible at -vvv (never a secret)."""


class LocalChallenger(Challenger):
    """A challenger in the same process as the responder."""

    def __init__(self, responder, passphrase=None, info=None):
        self.responder = responder
        self._passphrase = passphrase
        self._info = info

    def begin_kbdint(self):
        self.responder.begin()

    def kbdint(self, name, instruction, prompts):
        return self.responder.answer(name, instruction, prompts)

    def password(self):
        return self.responder.password_for_method()

    def passphrase(self, path):
        return self._passphrase

    def info(self, text):
        if self._info is not None:
            self._info(text)
