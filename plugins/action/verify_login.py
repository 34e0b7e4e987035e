# -*- coding: utf-8 -*-
# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Action for fleetauth.ssh.verify_login (documentation in plugins/modules/verify_login.py)."""

from __future__ import annotations

from ansible.plugins.action import ActionBase

from ansible_collections.fleetauth.ssh.plugins.plugin_utils._login import fresh_login


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False
    _VALID_ARGS = frozenset(("connection", "options", "timeout", "command"))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = self._task.args
        outcome = fresh_login(
            self,
            task_vars,
            connection=args.get("connection"),
            options=args.get("options"),
            timeout=args.get("timeout", 30),
            command=args.get("command"),
        )
        result.update(outcome)
        result["changed"] = False
        return result
