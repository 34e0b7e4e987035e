# -*- coding: utf-8 -*-
# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Attribute documentation shared by fleetauth.ssh modules."""

from __future__ import annotations


class ModuleDocFragment:
    """Use as ``extends_documentation_fragment: [fleetauth.ssh.attributes, fleetauth.ssh.attributes.files]``."""

    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying the target.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
  idempotent:
    description:
      - When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
      - This assumes that the system controlled/queried by the module has not changed in a relevant way.
"""

    FILES = r"""
options: {}
attributes:
  safe_file_operations:
    description:
      - Writes a candidate next to each target, validates it, and replaces the target with an atomic rename that keeps
        owner, mode and SELinux context; on any failure every original stays byte-identical.
      - Refuses to follow a symbolic link in any component of a path it writes.
    support: full
"""
