# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Make ``ansible_collections.fleetauth.ssh`` importable when pytest runs from a checkout.

ansible-test sets this up itself; for a plain ``pytest tests/unit`` we point a
symlink under tests/output/ (ignored by git) at the repository root.
"""

from __future__ import annotations

import os
import sys

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_COLLECTIONS = os.path.join(_ROOT, "tests", "output", "collections")


def _ensure_importable():
    try:
        import ansible_collections.fleetauth.ssh  # noqa: F401  pylint: disable=unused-import,import-outside-toplevel

        return
    except ImportError:
        pass
    link = os.path.join(_COLLECTIONS, "ansible_collections", "fleetauth", "ssh")
    if not os.path.exists(link):
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink(_ROOT, link)
    sys.path.insert(0, _COLLECTIONS)
    for name in [m for m in sys.modules if m == "ansible_collections" or m.startswith("ansible_collections.")]:
        del sys.modules[name]


if os.path.basename(os.path.dirname(_ROOT)) != "ansible_collections" and "ansible_collections" not in _ROOT.split(os.sep):
    _ensure_importable()
