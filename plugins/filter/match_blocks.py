# -*- coding: utf-8 -*-
# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

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
