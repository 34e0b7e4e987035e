# -*- coding: utf-8 -*-
# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

from ansible.errors import AnsibleFilterError

_OPTIONS = {"user": "remote_user", "password": "password", "totp_secret": "totp_secret", "private_key_file": "private_key_file", "port": "port"}


def kbdint_account(account):
    if not isinstance(account, dict) or not account.get("user"):
        raise AnsibleFilterError("kbdint_account: expected a dict with at least 'user'")
    unknown = sorted(set(account) - set(_OPTIONS) - {"name"})
    if unknown:
        raise AnsibleFilterError("kbdint_account: unknown key(s) %s; use %s" % (", ".join(unknown), ", ".join(sorted(_OPTIONS))))
    options = {_OPTIONS[key]: value for key, value in account.items() if key in _OPTIONS and value not in (None, "")}
    return {"name": account.get("name") or "test account %s" % account["user"], "connection": "fleetauth.ssh.kbdint", "options": options}


class FilterModule:
    def filters(self):
        return {"kbdint_account": kbdint_account}
