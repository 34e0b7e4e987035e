#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: safe_apply
short_description: Validate, reload sshd, prove a new login works, and roll back when it does not
version_added: 0.1.0
description:
  - The body of the handler every role of this collection notifies (listen topic C(fleetauth.ssh sshd changed), defined
    once in the C(fleetauth.ssh.safe_reload) role). One task, so it works as a handler.
  - 1. Validates the whole configuration with C(sshd -t) and reloads sshd the way the host runs it (M(fleetauth.ssh.sshd_reload)).
  - 2. Proves a B(new) login still works for the account Ansible connects as, and for each account in O(verify_accounts),
    from the controller with fresh connections (M(fleetauth.ssh.verify_login)); the session the play holds stays open.
  - 3. On success drops the snapshot. On any failure restores the snapshot taken before the change
    (M(fleetauth.ssh.auth_snapshot)), reloads sshd, proves a new login works again, and fails the host saying what happened.
  - Needs privilege escalation (C(become)) for the steps on the host.
author:
  - fleetauth.ssh contributors (@fleetauth)
extends_documentation_fragment:
  - fleetauth.ssh.attributes
attributes:
  check_mode:
    support: full
    details: In check mode the current configuration is validated and the reload method reported; nothing is reloaded.
  diff_mode:
    support: none
  idempotent:
    support: none
    details: Runs only when notified; each run reloads sshd.
  action:
    description: Indicates this has a corresponding action plugin so some parts of the options can be executed on the controller.
    support: full
options:
  snapshot:
    description: Name of the snapshot taken before the change (see M(fleetauth.ssh.auth_snapshot)).
    type: str
    default: fleetauth
    version_added: 0.1.0
  store:
    description: Directory of the snapshot store on the host.
    type: path
    version_added: 0.1.0
  method:
    description: How to reload sshd (see M(fleetauth.ssh.sshd_reload)).
    type: str
    choices: [auto, systemd, sysv, signal]
    default: auto
    version_added: 0.1.0
  service:
    description: systemd unit base name of sshd, when not C(ssh) or C(sshd).
    type: str
    version_added: 0.1.0
  verify:
    description: Prove a new login after the reload. Turning this off removes the roll-back's trigger; keep it on.
    type: bool
    default: true
    version_added: 0.1.0
  verify_accounts:
    description:
      - Further accounts to prove after the reload, each a dict with C(name) (a label), optional C(connection) (for example
        C(fleetauth.ssh.kbdint)) and C(options) (connection options such as C(remote_user), C(password), C(totp_secret)).
      - Values are never shown; still set C(no_log=true) on tasks that template secrets into them.
    type: list
    elements: dict
    default: []
    version_added: 0.1.0
  verify_timeout:
    description: Seconds each verification login may take.
    type: int
    default: 30
    version_added: 0.1.0
"""

EXAMPLES = r"""
# roles/my_role/handlers/main.yml — or depend on the fleetauth.ssh.safe_reload role and notify its topic
- name: Apply the sshd change safely
  fleetauth.ssh.safe_apply:
  listen: my sshd changed
"""

RETURN = r"""
steps:
  description: What was done, in order.
  returned: always
  type: list
  elements: str
  sample: [reloaded sshd via systemd, a new login works, kept the change]
rolled_back:
  description: True when the change was rolled back.
  returned: on roll-back
  type: bool
restored:
  description: Files put back by the roll-back.
  returned: on roll-back
  type: list
  elements: str
"""
