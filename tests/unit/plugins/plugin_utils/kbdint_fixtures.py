# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Constants and fixtures for the kbdint tests: a real paramiko SSH server on 127.0.0.1.

The conftest.py files next to the tests import the fixtures from here.
"""

from __future__ import annotations

import pytest
from kbdint_testserver import Behaviour, TestSSHServer, new_ed25519_key

# RFC 6238 test secret ("12345678901234567890") in base32, and a lab-like one.
RFC_SECRET = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
PASSWORD = "correct-horse-battery-9"


@pytest.fixture
def client_key(tmp_path):
    path = str(tmp_path / "id_ed25519")
    key = new_ed25519_key(path)
    return path, key


@pytest.fixture
def make_server(tmp_path, client_key):
    servers = []

    def make(**kwargs):
        kwargs.setdefault("client_key", client_key[1])
        kwargs.setdefault("password", PASSWORD)
        server = TestSSHServer(Behaviour(**kwargs), workdir=str(tmp_path))
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.close()


@pytest.fixture
def known_hosts(tmp_path):
    path = tmp_path / "known_hosts"
    path.write_text("")

    def add(*servers):
        with open(path, "a", encoding="ascii") as handle:
            for server in servers:
                handle.write(server.known_hosts_line())
        return str(path)

    add.path = str(path)
    return add
