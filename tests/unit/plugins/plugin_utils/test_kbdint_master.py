# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The control-socket master: one login, many tasks, and it always goes away."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import threading
import time

import pytest
from kbdint_fixtures import PASSWORD, TOTP_SECRET
from kbdint_testserver import Round
from test_kbdint_session import CODE_ROUND, MFA, PASSWORD_ROUND, SUDO, FakeSudo

from ansible_collections.fleetauth.ssh.plugins.plugin_utils._kbdint.become import run_escalated
from ansible_collections.fleetauth.ssh.plugins.plugin_utils._kbdint.challenge import LocalChallenger
from ansible_collections.fleetauth.ssh.plugins.plugin_utils._kbdint.errors import MasterError, PromptRefused, TransportLost
from ansible_collections.fleetauth.ssh.plugins.plugin_utils._kbdint.master import Control, open_master, process_alive, stop_master
from ansible_collections.fleetauth.ssh.plugins.plugin_utils._kbdint.redact import Redactor
from ansible_collections.fleetauth.ssh.plugins.plugin_utils._kbdint.responder import Responder
from ansible_collections.fleetauth.ssh.plugins.plugin_utils._kbdint.settings import Settings
from ansible_collections.fleetauth.ssh.plugins.plugin_utils._kbdint.totp import StepGuard, TotpGenerator


@pytest.fixture
def run_process():
    """A stand-in for the ansible-playbook process a run-scoped master belongs to."""
    proc = subprocess.Popen(["sleep", "300"])
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()


@pytest.fixture
def ctl(tmp_path, run_process):
    return Control(str(tmp_path / "ctl"), persist_timeout=60, scope="run", run_pid=run_process.pid)


def wait_for(condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


class Env:
    def __init__(self, server, path, client_key, tmp_path):
        self.server = server
        self.settings = Settings("127.0.0.1", server.port, "alice", key_files=[client_key[0]], allow_agent=False, known_hosts_file=path)
        self.tmp_path = tmp_path
        self.redactor = Redactor()
        self.challengers = 0

    def challenger(self, **kwargs):
        self.challengers += 1
        kwargs.setdefault("password", PASSWORD)
        kwargs.setdefault("totp", TotpGenerator(TOTP_SECRET))
        kwargs.setdefault("guard", StepGuard(str(self.tmp_path / "ctl" / "totp")))
        kwargs.setdefault("guard_key", "%s:%d:alice" % (self.settings.host, self.settings.port))
        return LocalChallenger(Responder(redactor=self.redactor, **kwargs))

    def open(self, ctl, **kwargs):
        return open_master(self.settings, ctl, lambda: self.challenger(**kwargs), self.redactor)


@pytest.fixture
def env(make_server, known_hosts, client_key, tmp_path):
    server = make_server(chains=MFA, rounds=[PASSWORD_ROUND, CODE_ROUND])
    return Env(server, known_hosts(server), client_key, tmp_path)


def test_one_login_serves_many_tasks(env, ctl):
    clients = []
    try:
        for number in range(5):
            client = env.open(ctl)
            clients.append(client)
            assert client.exec(b"echo task %d" % number) == (0, b"task %d\n" % number, b"")
            client.close()  # what TaskExecutor does after every task
        assert env.server.record.logins == 1
        assert env.server.record.kbd_started == 1
        assert env.challengers == 1  # later tasks never even build a responder
    finally:
        stop_master(env.settings, ctl, env.redactor)


def test_control_directory_and_socket_are_private(env, ctl):
    client = env.open(ctl)
    try:
        directory = os.path.dirname(client.path)
        assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700
        assert stat.S_ISSOCK(os.stat(client.path).st_mode)
        assert stat.S_IMODE(os.stat(client.path).st_mode) == 0o600
    finally:
        client.close()
        stop_master(env.settings, ctl, env.redactor)


def test_concurrent_tasks_share_the_master(env, ctl):
    env.open(ctl).close()
    results = []

    def task(number):
        client = env.open(ctl)
        try:
            results.append(client.exec(b"sleep 0.2; echo %d" % number)[1])
        finally:
            client.close()

    threads = [threading.Thread(target=task, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stop_master(env.settings, ctl, env.redactor)
    assert sorted(results) == [b"%d\n" % n for n in range(6)]
    assert env.server.record.logins == 1


def test_transfers_and_become_through_the_master(make_server, known_hosts, client_key, tmp_path, ctl):
    server = make_server()
    env = Env(server, known_hosts(server), client_key, tmp_path)
    client = env.open(ctl)
    try:
        src = tmp_path / "src"
        src.write_bytes(os.urandom(100000))
        client.put(str(src), str(tmp_path / "dst"))
        client.fetch(str(tmp_path / "dst"), str(tmp_path / "back"))
        assert (tmp_path / "back").read_bytes() == src.read_bytes()
        rc, out, err = run_escalated(client.start(SUDO.encode()), FakeSudo(), PASSWORD, in_data=b"module\n", timeout=5)
        assert (rc, out) == (0, b"module\n")
        assert PASSWORD.encode() not in err
    finally:
        client.close()
        stop_master(env.settings, ctl, env.redactor)


def test_refused_login_through_the_master_names_the_prompt_and_leaves_nothing(make_server, known_hosts, client_key, tmp_path, ctl):
    server = make_server(chains=MFA, rounds=[PASSWORD_ROUND, Round([("Enter your bank PIN: ", False)])])
    env = Env(server, known_hosts(server), client_key, tmp_path)
    with pytest.raises(PromptRefused) as caught:
        env.open(ctl)
    assert "'Enter your bank PIN:'" in str(caught.value)
    assert "round 2" in str(caught.value)
    assert [a for _r, _p, a in server.record.kbd_answers] == [[PASSWORD]]
    directory = tmp_path / "ctl"
    assert wait_for(lambda: not any(name.endswith(".sock") for name in os.listdir(directory)))


def test_run_scoped_master_exits_when_the_run_ends(env, ctl, run_process):
    client = env.open(ctl)
    pid = client.pid
    client.close()
    assert process_alive(pid)
    run_process.kill()
    run_process.wait()
    assert wait_for(lambda: not os.path.exists(client.path), timeout=5)
    assert wait_for(lambda: not process_alive(pid), timeout=5)
    assert wait_for(lambda: not env.server.record.connections or all(not t.is_active() for t in env.server.transports), timeout=5)


def test_idle_master_exits(env, tmp_path):
    ctl = Control(str(tmp_path / "ctl"), persist_timeout=1, scope="user")
    client = env.open(ctl)
    pid = client.pid
    client.close()
    assert wait_for(lambda: not process_alive(pid), timeout=8)
    assert not os.path.exists(client.path)


def test_a_killed_master_is_an_error_not_a_hang_and_is_replaced(make_server, known_hosts, client_key, tmp_path, ctl):
    server = make_server()
    env = Env(server, known_hosts(server), client_key, tmp_path)
    client = env.open(ctl)
    os.kill(client.pid, signal.SIGKILL)
    started = time.monotonic()
    with pytest.raises(MasterError):
        client.exec(b"echo never")
    assert time.monotonic() - started < 5
    client.close()
    # The next task finds the stale socket, starts a new master and logs in again.
    replacement = env.open(ctl)
    try:
        assert replacement.exec(b"echo again")[1] == b"again\n"
    finally:
        replacement.close()
        stop_master(env.settings, ctl, env.redactor)
    assert server.record.logins == 2


def test_a_master_whose_connection_died_says_so(env, ctl):
    client = env.open(ctl)
    for transport in env.server.transports:
        transport.close()
    assert wait_for(lambda: not client.ping()["alive"] if client.sock else True, timeout=5)
    with pytest.raises((TransportLost, MasterError)):
        client.exec(b"echo never")
    client.close()


def test_stop_master(env, ctl):
    client = env.open(ctl)
    pid = client.pid
    client.close()
    assert stop_master(env.settings, ctl, env.redactor)
    assert wait_for(lambda: not process_alive(pid))
    assert not stop_master(env.settings, ctl, env.redactor)


def test_jump_host_through_its_own_master(make_server, known_hosts, client_key, tmp_path, ctl):
    bastion = make_server(chains=MFA, rounds=[PASSWORD_ROUND, CODE_ROUND])
    target = make_server(chains=[["publickey"]])
    path = known_hosts(bastion, target)
    jump_env = Env(bastion, path, client_key, tmp_path)
    target_env = Env(target, path, client_key, tmp_path)

    def tunnel():
        return jump_env.open(ctl).tunnel("127.0.0.1", target.port)

    try:
        for _attempt in range(3):
            client = open_master(target_env.settings, ctl, target_env.challenger, target_env.redactor, tunnel_factory=tunnel, key_extra=("jump", "b"))
            assert client.exec(b"echo via bastion")[1] == b"via bastion\n"
            client.close()
    finally:
        stop_master(target_env.settings, ctl, target_env.redactor, key_extra=("jump", "b"))
        stop_master(jump_env.settings, ctl, jump_env.redactor)
    assert bastion.record.logins == 1
    assert target.record.logins == 1
    assert bastion.record.tunnels == [("127.0.0.1", target.port)]
