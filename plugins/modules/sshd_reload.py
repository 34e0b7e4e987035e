#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: sshd_reload
short_description: Validate sshd's configuration, then reload sshd the way the host runs it
version_added: 0.1.0
description:
  - Runs C(sshd -t) on the whole configuration and refuses to reload when sshd rejects it, quoting sshd's message.
    A SIGHUP with an invalid configuration would take the listener down.
  - Reloads through systemd (C(ssh) or C(sshd) unit; for socket-activated sshd, C(systemctl daemon-reload) and a restart
    of the socket), a SysV init script, or SIGHUP to the PID in C(/run/sshd.pid), then waits until sshd is active again.
  - Existing SSH sessions survive a reload.
  - Used by the handlers of this collection's roles (the C(fleetauth.ssh.safe_reload) role).
author:
  - fleetauth.ssh contributors (@fleetauth)
extends_documentation_fragment:
  - fleetauth.ssh.attributes
attributes:
  check_mode:
    support: full
    details: In check mode the configuration is validated and the reload method reported; nothing is reloaded.
  diff_mode:
    support: none
  idempotent:
    support: none
    details: A reload is an action; it reports C(changed=true) each time it reloads.
options:
  method:
    description: How to reload. V(auto) picks systemd, then SysV, then a signal.
    type: str
    choices: [auto, systemd, sysv, signal]
    default: auto
    version_added: 0.1.0
  service:
    description: The systemd unit base name (V(ssh) on Debian/Ubuntu, V(sshd) on RHEL/SUSE); default tries both.
    type: str
    version_added: 0.1.0
  validate:
    description: Run C(sshd -t) first and refuse to reload when it fails.
    type: bool
    default: true
    version_added: 0.1.0
  config_path:
    description: The main configuration file sshd reads (passed to C(sshd -t -f) when not the default).
    type: path
    default: /etc/ssh/sshd_config
    version_added: 0.1.0
  sshd_path:
    description: Path of the sshd binary; default searches the usual places.
    type: path
    version_added: 0.1.0
  timeout:
    description: Seconds to wait for sshd to be active again after the reload.
    type: int
    default: 15
    version_added: 0.1.0
"""

EXAMPLES = r"""
- name: Validate and reload sshd
  fleetauth.ssh.sshd_reload:
"""

RETURN = r"""
method:
  description: How sshd was (or would be) reloaded.
  returned: always
  type: str
  sample: systemd
unit:
  description: The systemd unit or init script used, if any.
  returned: always
  type: str
  sample: ssh.service
steps:
  description: Commands run, in order (a signal is shown as C(kill -HUP PID)).
  returned: always
  type: list
  elements: str
  sample: [systemctl reload ssh.service]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.fleetauth.ssh.plugins.module_utils._sshd_runtime import SshdError, SshdRuntime
from ansible_collections.fleetauth.ssh.plugins.module_utils._sshd_service import ReloadError, choose, execute, gather, wait_active


def main():
    module = AnsibleModule(
        argument_spec={
            "method": {"type": "str", "default": "auto", "choices": ["auto", "systemd", "sysv", "signal"]},
            "service": {"type": "str"},
            "validate": {"type": "bool", "default": True},
            "config_path": {"type": "path", "default": "/etc/ssh/sshd_config"},
            "sshd_path": {"type": "path"},
            "timeout": {"type": "int", "default": 15},
        },
        supports_check_mode=True,
    )
    params = module.params
    run = module.run_command
    if params["validate"]:
        runtime = SshdRuntime(run, sshd_path=params["sshd_path"])
        try:
            runtime.test(None if params["config_path"] == "/etc/ssh/sshd_config" else params["config_path"])
        except SshdError as exc:
            module.fail_json(msg="not reloading: %s" % exc, sshd_message=exc.sshd_message)
        for note in runtime.notes:
            module.warn(note)
    try:
        plan = choose(gather(run, params["service"]), params["method"], params["service"])
    except ReloadError as exc:
        module.fail_json(msg=str(exc))
    steps = [("kill -HUP %d" % s[1]) if s[0] == "signal" else " ".join(s) for s in plan["steps"]]
    result = {"changed": True, "method": plan["method"], "unit": plan["unit"], "steps": steps}
    if module.check_mode:
        module.exit_json(**result)
    try:
        execute(plan, run)
    except ReloadError as exc:
        module.fail_json(msg=str(exc), **result)
    if not wait_active(run, plan, timeout=params["timeout"]):
        module.fail_json(msg="sshd was reloaded but is not active after %d s; check `journalctl -u %s`" % (params["timeout"], plan["unit"]), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
