#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: verify_login
short_description: Prove that a new SSH login to the host works, without touching the open session
version_added: 0.1.0
description:
  - Runs on the controller. Opens a B(new) connection to the host with a second instance of a connection plugin, runs a
    marker command, and closes it. The session the play already holds stays open, so when the proof fails there is still a
    way in to roll back.
  - By default it uses the play's own connection plugin with the same options (the account Ansible connects as); connection
    sharing is turned off for the new instance (C(ControlMaster=no), C(ControlPath=none) for C(ansible.builtin.ssh); C(persist=false)
    for C(fleetauth.ssh.kbdint)), so the login is real.
  - With O(connection) and O(options) it logs in as another account, for example a test account through the
    C(fleetauth.ssh.kbdint) connection plugin with a password and a TOTP secret.
  - This is an action plugin; it needs no Python on the host.
author:
  - fleetauth.ssh contributors (@fleetauth)
extends_documentation_fragment:
  - fleetauth.ssh.attributes
attributes:
  check_mode:
    support: full
    details: A login is a read-only proof; it runs in check mode too.
  diff_mode:
    support: none
  idempotent:
    support: full
  action:
    description: Indicates this has a corresponding action plugin so some parts of the options can be executed on the controller.
    support: full
options:
  connection:
    description: Connection plugin to log in with; default the play's connection for this host.
    type: str
    version_added: 0.1.0
  options:
    description:
      - Connection plugin options for the new login (for example C(remote_user), C(password), C(private_key_file)), on top of the
        play's resolved options when O(connection) is the play's own plugin, or of the host's variables otherwise.
      - Contains secrets in most uses; set C(no_log=true) on the task.
    type: dict
    default: {}
    version_added: 0.1.0
  timeout:
    description: Connection timeout in seconds, for plugins that have a C(timeout) option.
    type: int
    default: 30
    version_added: 0.1.0
  command:
    description: Command to run after the login instead of the built-in marker check; success means exit code 0.
    type: str
    version_added: 0.1.0
notes:
  - Messages name the connection plugin, user, host and port, and quote the plugin's error; they never contain option values.
"""

EXAMPLES = r"""
- name: Prove the account Ansible uses can still log in
  fleetauth.ssh.verify_login:

- name: Prove the MFA test account gets in with pubkey + password + TOTP
  fleetauth.ssh.verify_login:
    connection: fleetauth.ssh.kbdint
    options:
      remote_user: mfa-canary
      password: "{{ vault_mfa_canary_password }}"
      totp_secret: "{{ vault_mfa_canary_totp }}"
  no_log: true
"""

RETURN = r"""
login:
  description: V(ok) when the new login ran the check command.
  returned: always
  type: str
  sample: ok
where:
  description: The user, host and port that were logged into.
  returned: always
  type: str
  sample: admin@192.0.2.10:22
connection:
  description: The connection plugin used.
  returned: success
  type: str
  sample: ansible.builtin.ssh
elapsed:
  description: Seconds the login and check took.
  returned: success
  type: float
"""
