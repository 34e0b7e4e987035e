# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Choosing how to reload sshd from what the host reports."""

from __future__ import annotations

import pytest

from ansible_collections.fleetauth.ssh.plugins.module_utils import _sshd_service as svc

SHOW = """Id=ssh.service
LoadState=loaded
ActiveState=active

Id=ssh.socket
LoadState=loaded
ActiveState=inactive

Id=sshd.service
LoadState=not-found
ActiveState=inactive
"""


def test_parse_show():
    blocks = svc.parse_show(SHOW)
    assert [b["Id"] for b in blocks] == ["ssh.service", "ssh.socket", "sshd.service"]
    assert blocks[0]["ActiveState"] == "active"


def _facts(**units):
    table = {k.replace("_", "."): {"LoadState": "loaded", "ActiveState": v} for k, v in units.items()}
    return {"systemd": True, "units": table, "initscript": None, "pid": None}


def test_debian_systemd_reload():
    plan = svc.choose(_facts(ssh_service="active", ssh_socket="inactive"))
    assert plan == {"method": "systemd", "unit": "ssh.service", "steps": [["systemctl", "reload", "ssh.service"]]}


def test_rhel_unit_name():
    plan = svc.choose(_facts(sshd_service="active"))
    assert plan["unit"] == "sshd.service"


def test_socket_activated_ubuntu():
    plan = svc.choose(_facts(ssh_socket="active", ssh_service="active"))
    assert plan["method"] == "systemd-socket"
    assert plan["steps"] == [["systemctl", "daemon-reload"], ["systemctl", "restart", "ssh.socket"], ["systemctl", "reload", "ssh.service"]]
    idle = svc.choose(_facts(ssh_socket="active", ssh_service="inactive"))
    assert idle["steps"][-1] == ["systemctl", "restart", "ssh.socket"]


def test_loaded_but_stopped_is_an_error_not_a_start():
    with pytest.raises(svc.ReloadError, match="not running under systemd"):
        svc.choose(_facts(ssh_service="inactive"))


def test_sysv_and_signal_fallbacks():
    assert svc.choose({"systemd": False, "units": {}, "initscript": "/etc/init.d/ssh", "pid": 42})["method"] == "sysv"
    plan = svc.choose({"systemd": False, "units": {}, "initscript": None, "pid": 42})
    assert plan == {"method": "signal", "unit": None, "steps": [["signal", 42]]}
    with pytest.raises(svc.ReloadError, match="cannot find a running sshd"):
        svc.choose({"systemd": False, "units": {}, "initscript": None, "pid": None})
    with pytest.raises(svc.ReloadError, match="no SysV init script"):
        svc.choose({"systemd": False, "units": {}, "initscript": None, "pid": 42}, method="sysv")


def test_read_pid_ignores_garbage():
    files = {"/run/sshd.pid": "abc\n", "/var/run/sshd.pid": "1234\n"}
    assert svc.read_pid(lambda p: files[p]) == 1234
    assert svc.read_pid(lambda p: "1\n") is None


def test_execute_quotes_failure_and_signals():
    sent = []
    svc.execute({"steps": [["signal", 7]]}, run=None, kill=lambda pid, sig: sent.append((pid, sig)))
    assert sent == [(7, svc.signal.SIGHUP)]
    with pytest.raises(svc.ReloadError, match=r"Job for ssh\.service failed"):
        svc.execute({"steps": [["systemctl", "reload", "ssh.service"]]}, run=lambda argv: (1, "", "Job for ssh.service failed.\n"))
