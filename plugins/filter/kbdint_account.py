# -*- coding: utf-8 -*-
# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: kbdint_account
short_description: Describe a test account for fleetauth.ssh.safe_apply's verification logins
version_added: 0.1.0
description:
  - Turns C({user, password, totp_secret, private_key_file, port}) into an item of
    O(fleetauth.ssh.safe_apply#module:verify_accounts) that logs in through the C(fleetauth.ssh.kbdint) connection plugin.
  - The result holds secrets; use it only in tasks with C(no_log=true).
options:
  _input:
    description: The account; C(user) is required, the rest optional.
    type: dict
    required: true
author:
  - fleetauth.ssh contributors
"""

EXAMPLES = r"""
- name: Prove the MFA canary after every reload
  ansible.builtin.set_fact:
    safe_reload_verify_accounts: "{{ [vault_mfa_canary | fleetauth.ssh.kbdint_account] }}"
  no_log: true
"""

RETURN = r"""
_value:
  description: A dict with C(name), C(connection) and C(options).
  type: dict
"""

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
