# -*- coding: utf-8 -*-
# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: match_blocks
short_description: Build Match blocks for fleetauth.ssh.sshd_auth_methods from criteria and settings
version_added: 0.1.0
description:
  - Turns a list of C(Match) criteria into the O(fleetauth.ssh.sshd_auth_methods#module:match) list, giving every block
    the same settings. Used by the roles to express exceptions (an address range, an automation group).
  - An item that is already a dict with C(criteria) keeps its own C(settings), merged over the shared ones.
options:
  _input:
    description: Match criteria such as V(Address 10.0.0.0/8) or V(Group automation), or dicts with C(criteria) and C(settings).
    type: list
    elements: raw
    required: true
  settings:
    description: Settings every block gets (names of the module's options).
    type: dict
    required: true
author:
  - fleetauth.ssh contributors
"""

EXAMPLES = r"""
- name: Password logins only from the office range
  fleetauth.ssh.sshd_auth_methods:
    password: disabled
    match: "{{ ['Address 10.20.0.0/16'] | fleetauth.ssh.match_blocks({'password': 'enabled'}) }}"
"""

RETURN = r"""
_value:
  description: A list of dicts with C(criteria) and C(settings).
  type: list
  elements: dict
"""

from ansible.errors import AnsibleFilterError


def match_blocks(criteria, settings):
    if not isinstance(settings, dict):
        raise AnsibleFilterError("match_blocks: settings must be a dictionary, got %s" % type(settings).__name__)
    blocks = []
    for item in criteria or []:
        if isinstance(item, dict):
            if not item.get("criteria"):
                raise AnsibleFilterError("match_blocks: a dict item needs 'criteria'")
            blocks.append({"criteria": str(item["criteria"]), "settings": dict(settings, **(item.get("settings") or {}))})
        elif isinstance(item, str) and item.strip():
            blocks.append({"criteria": item.strip(), "settings": dict(settings)})
        else:
            raise AnsibleFilterError("match_blocks: each item must be a criteria string or a dict, got %r" % (item,))
    return blocks


class FilterModule:
    def filters(self):
        return {"match_blocks": match_blocks}
