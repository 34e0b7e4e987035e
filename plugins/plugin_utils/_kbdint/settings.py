# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What it takes to reach and authenticate to one host (no secrets, no paramiko).

Kept apart from :mod:`session`: a task's worker process builds these for every
task and must not pay for importing paramiko when a master does the SSH work.
"""

from __future__ import annotations

DEFAULT_PREFERRED = ("publickey", "keyboard-interactive", "password")
DEFAULT_SFTP_WINDOW = 16 * 1024 * 1024
DEFAULT_SFTP_PACKET = 32768


class Settings:
    """What it takes to reach and authenticate to one host (no secrets in here)."""

    def __init__(self, host, port=22, user=None, **kwargs):
        self.host = str(host)
        self.port = int(port or 22)
        self.user = user
        self.key_files = list(kwargs.pop("key_files", None) or [])
        self.allow_agent = bool(kwargs.pop("allow_agent", True))
        self.look_for_keys = bool(kwargs.pop("look_for_keys", True))
        self.connect_timeout = float(kwargs.pop("connect_timeout", 10) or 10)
        self.auth_timeout = float(kwargs.pop("auth_timeout", 60) or 60)
        self.keepalive = int(kwargs.pop("keepalive", 30) or 0)
        self.host_key_checking = bool(kwargs.pop("host_key_checking", True))
        self.known_hosts_file = kwargs.pop("known_hosts_file", None) or "~/.ssh/known_hosts"
        self.proxy_command = kwargs.pop("proxy_command", None) or None
        self.preferred = [m.strip() for m in (kwargs.pop("preferred", None) or DEFAULT_PREFERRED) if m and m.strip()]
        self.sftp_window = int(kwargs.pop("sftp_window", None) or DEFAULT_SFTP_WINDOW)
        self.sftp_packet = int(kwargs.pop("sftp_packet", None) or DEFAULT_SFTP_PACKET)
        self.transfer_method = kwargs.pop("transfer_method", None) or "smart"
        if kwargs:
            raise TypeError("unknown settings: %s" % ", ".join(sorted(kwargs)))

    @property
    def label(self) -> str:
        return "%s@%s:%d" % (self.user, self.host, self.port)

    @property
    def known_hosts_name(self) -> str:
        """How OpenSSH names this host in known_hosts."""
        return self.host if self.port == 22 else "[%s]:%d" % (self.host, self.port)
