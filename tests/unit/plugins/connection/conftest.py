# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The kbdint tests' fixtures (kbdint_fixtures.py) and its in-test SSH server on sys.path."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "plugin_utils"))

from kbdint_fixtures import client_key, known_hosts, make_server  # noqa: F401  pylint: disable=unused-import
