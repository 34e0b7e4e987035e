#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: auth_snapshot
short_description: Snapshot and restore the files that decide SSH authentication
version_added: 0.1.0
description:
  - Records the bytes, mode and ownership of sshd's configuration, its drop-in directory and the sshd PAM service
    file, so a change that breaks logins can be rolled back to exactly what was there.
  - Restoring writes every file back through fleetauth.ssh's safe writer (atomic, all or nothing, never through a
    symbolic link) and removes files that appeared in a snapshotted directory since the snapshot.
  - The roles of this collection take a snapshot before they change anything and restore it when a new login fails
    after the reload.
  - Taking or dropping a snapshot is bookkeeping and reports C(changed=false); restoring reports whether any
    managed file changed.
author:
  - fleetauth.ssh contributors (@fleetauth)
extends_documentation_fragment:
  - fleetauth.ssh.attributes
  - fleetauth.ssh.attributes.files
attributes:
  check_mode:
    support: full
    details: In check mode C(state=restored) reports what it would restore; nothing is taken, dropped or written.
  diff_mode:
    support: none
  idempotent:
    support: full
options:
  name:
    description: Name of the snapshot; one JSON document per name in O(store).
    type: str
    default: fleetauth
    version_added: 0.1.0
  state:
    description:
      - V(present) takes a snapshot of O(paths) now (replacing one of the same name).
      - V(restored) brings every path of the snapshot back and removes files that appeared in snapshotted directories.
      - V(absent) deletes the snapshot.
    type: str
    choices: [present, restored, absent]
    default: present
    version_added: 0.1.0
  paths:
    description:
      - Absolute paths of files or directories to record with O(state=present). A directory records the regular files
        directly inside it. A path that does not exist is recorded as absent (and removed again on restore).
    type: list
    elements: path
    default: [/etc/ssh/sshd_config, /etc/ssh/sshd_config.d, /etc/pam.d/sshd]
    version_added: 0.1.0
  store:
    description: Directory holding the snapshots (created with mode 0700).
    type: path
    default: /var/lib/fleetauth-ssh/snapshots
    version_added: 0.1.0
  missing_ok:
    description: With O(state=restored), succeed without changes when no snapshot of that name exists (else fail).
    type: bool
    default: false
    version_added: 0.1.0
notes:
  - Symbolic links inside a snapshotted directory are recorded as links and never followed; a snapshotted path that is
    itself a symbolic link is refused.
seealso:
  - module: fleetauth.ssh.safe_apply
  - module: fleetauth.ssh.sshd_reload
"""

EXAMPLES = r"""
- name: Record sshd and PAM files before changing them
  fleetauth.ssh.auth_snapshot:
    name: before-mfa

- name: Put everything back
  fleetauth.ssh.auth_snapshot:
    name: before-mfa
    state: restored
"""

RETURN = r"""
snapshot:
  description: Path of the snapshot document.
  returned: always
  type: str
  sample: /var/lib/fleetauth-ssh/snapshots/fleetauth.json
paths:
  description: With O(state=present), the paths recorded (directories expanded to their files).
  returned: when O(state=present)
  type: list
  elements: str
restored:
  description: With O(state=restored), the files written back or removed.
  returned: when O(state=restored)
  type: list
  elements: str
  sample: [/etc/ssh/sshd_config.d/00-fleetauth.conf]
taken:
  description: When the snapshot was taken (host local time, ISO 8601).
  returned: when a snapshot exists
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.fleetauth.ssh.plugins.module_utils._atomic import AtomicWriteError
from ansible_collections.fleetauth.ssh.plugins.module_utils._changes import selinux_copier
from ansible_collections.fleetauth.ssh.plugins.module_utils._snapshot import SnapshotError, run_snapshot


def main():
    module = AnsibleModule(
        argument_spec={
            "name": {"type": "str", "default": "fleetauth"},
            "state": {"type": "str", "default": "present", "choices": ["present", "restored", "absent"]},
            "paths": {"type": "list", "elements": "path", "default": ["/etc/ssh/sshd_config", "/etc/ssh/sshd_config.d", "/etc/pam.d/sshd"]},
            "store": {"type": "path", "default": "/var/lib/fleetauth-ssh/snapshots"},
            "missing_ok": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    try:
        result = run_snapshot(module.params, check_mode=module.check_mode, selinux=selinux_copier(module))
    except (SnapshotError, AtomicWriteError) as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
