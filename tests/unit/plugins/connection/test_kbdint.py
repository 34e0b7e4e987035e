# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""fleetauth.ssh.kbdint through real ansible-playbook runs against the in-test SSH server.

The server runs commands on this machine, so modules really execute; it records every
credential a client sends, so the tests can prove what was (not) sent.
"""

from __future__ import annotations

import getpass
import json
import os
import subprocess
import sys

import pyotp
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
from kbdint_fixtures import PASSWORD, TOTP_SECRET  # noqa: E402
from kbdint_testserver import Round  # noqa: E402

from ansible_collections.fleetauth.ssh.plugins.connection import kbdint as plugin  # noqa: E402

BIN = os.path.dirname(sys.executable)
# .../ansible_collections/fleetauth/ssh/plugins/connection/kbdint.py -> the dir holding ansible_collections
COLLECTIONS = os.path.abspath(os.path.join(os.path.dirname(plugin.__file__), *[os.pardir] * 5))

# The server runs commands as the user running the tests; log in under that name so
# Ansible's remote home (`echo ~USER`) resolves.
USER = getpass.getuser()
PASSWORD_ROUND = Round([("Password: ", False)], [PASSWORD])
CODE_ROUND = Round([("Verification code: ", False)], [lambda code: pyotp.TOTP(TOTP_SECRET).verify(code, valid_window=1)])

PLAYBOOK = """
- hosts: all
  gather_facts: false
  tasks:
    - ansible.builtin.ping:
    - ansible.builtin.command: echo first
      changed_when: false
    - ansible.builtin.copy:
        content: "hello from a task\\n"
        dest: "{{ workdir }}/copied.txt"
        mode: "0600"
    - ansible.builtin.stat:
        path: "{{ workdir }}/copied.txt"
      register: copied
    - ansible.builtin.assert:
        that: copied.stat.exists
    - ansible.builtin.fetch:
        src: "{{ workdir }}/copied.txt"
        dest: "{{ workdir }}/fetched/"
        flat: true
    - ansible.builtin.command: echo last
      changed_when: false
"""


def run_playbook(tmp_path, server, extra_vars=None, verbosity="-vvvv", known=True, playbook=PLAYBOOK, also_known=()):
    workdir = tmp_path
    inventory = {
        "all": {
            "hosts": {
                "testhost": {
                    "ansible_host": "127.0.0.1",
                    "ansible_port": server.port,
                    "ansible_user": USER,
                    "ansible_connection": "fleetauth.ssh.kbdint",
                    "ansible_python_interpreter": sys.executable,
                    "ansible_ssh_private_key_file": str(tmp_path / "id_ed25519"),
                    "ansible_password": PASSWORD,
                    "ansible_kbdint_totp_secret": TOTP_SECRET,
                    "ansible_kbdint_allow_agent": False,
                    "ansible_kbdint_known_hosts_file": str(tmp_path / "known_hosts"),
                    "workdir": str(workdir),
                }
            }
        }
    }
    inventory["all"]["hosts"]["testhost"].update(extra_vars or {})
    if known:
        (tmp_path / "known_hosts").write_text("".join(other.known_hosts_line() for other in (server, *also_known)))
    (tmp_path / "inventory.json").write_text(json.dumps(inventory))
    (tmp_path / "play.yml").write_text(playbook)
    env = dict(
        os.environ,
        ANSIBLE_COLLECTIONS_PATH=COLLECTIONS,
        ANSIBLE_LOG_PATH=str(tmp_path / "ansible.log"),
        ANSIBLE_KBDINT_CONTROL_PATH_DIR=str(tmp_path / "ctl"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        ANSIBLE_LOCAL_TEMP=str(tmp_path / "local-tmp"),
        HOME=str(tmp_path),
    )
    env.pop("SSH_AUTH_SOCK", None)
    done = subprocess.run(
        [os.path.join(BIN, "ansible-playbook"), "-i", str(tmp_path / "inventory.json"), str(tmp_path / "play.yml"), verbosity],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        timeout=240,
        check=False,
    )
    return done.returncode, done.stdout.decode("utf-8", "replace")


def all_logs(tmp_path):
    texts = []
    for root, _dirs, files in os.walk(tmp_path):
        for name in files:
            if name.endswith(".log"):
                with open(os.path.join(root, name), encoding="utf-8", errors="replace") as handle:
                    texts.append(handle.read())
    return "\n".join(texts)


def secrets_sent(server):
    return [value for value in server.record.everything_sent() if value]


def test_a_playbook_logs_in_once_and_never_shows_a_secret(make_server, client_key, tmp_path):
    server = make_server(user=USER, chains=[["publickey", "keyboard-interactive"]], rounds=[PASSWORD_ROUND, CODE_ROUND, Round([])])
    rc, output = run_playbook(tmp_path, server)
    assert rc == 0, output[-3000:]
    assert "ok=7" in output
    assert (tmp_path / "fetched" / "copied.txt").read_text() == "hello from a task\n"
    # One login (one keyboard-interactive authentication) for seven tasks.
    assert server.record.logins == 1
    assert server.record.kbd_started == 1
    logs = all_logs(tmp_path)
    assert logs  # ansible.log at least
    sent = secrets_sent(server)
    assert PASSWORD in sent
    for secret in [PASSWORD, TOTP_SECRET, *sent]:
        assert secret not in output
        assert secret not in logs


def test_bank_pin_fails_the_run_naming_the_prompt_and_gets_nothing(make_server, client_key, tmp_path):
    server = make_server(user=USER, chains=[["publickey", "keyboard-interactive"]], rounds=[PASSWORD_ROUND, Round([("Enter your bank PIN: ", False)])])
    rc, output = run_playbook(tmp_path, server)
    assert rc != 0
    assert "Enter your bank PIN:" in output
    assert "round 2" in output
    assert [answers for _r, _p, answers in server.record.kbd_answers] == [[PASSWORD]]
    assert TOTP_SECRET not in output
    assert PASSWORD not in output


def test_bank_pin_in_round_one(make_server, client_key, tmp_path):
    server = make_server(user=USER, chains=[["keyboard-interactive"]], rounds=[Round([("Enter your bank PIN: ", False)])])
    rc, output = run_playbook(tmp_path, server, verbosity="-v")
    assert rc != 0
    assert "'Enter your bank PIN:'" in output
    assert "round 1" in output
    assert server.record.kbd_answers == []


def test_unknown_host_key_is_refused_by_default(make_server, client_key, tmp_path):
    server = make_server(user=USER, chains=[["publickey", "keyboard-interactive"]], rounds=[PASSWORD_ROUND])
    rc, output = run_playbook(tmp_path, server, verbosity="-v", known=False)
    assert rc != 0
    assert "unknown host key" in output
    assert server.record.everything_sent() == []
    assert server.record.logins == 0


def test_without_persistence_every_task_logs_in(make_server, client_key, tmp_path):
    server = make_server(user=USER)
    rc, output = run_playbook(tmp_path, server, extra_vars={"ansible_kbdint_persist": False}, verbosity="-v")
    assert rc == 0, output[-3000:]
    # ping, command, copy, stat, fetch, command: assert runs on the controller
    assert server.record.logins == 6


RESET_PLAYBOOK = """
- hosts: all
  gather_facts: false
  tasks:
    - ansible.builtin.command: echo before
    - ansible.builtin.command: echo before again
    - ansible.builtin.meta: reset_connection
    - ansible.builtin.command: echo after
    - ansible.builtin.command: echo after again
"""


def test_reset_connection_logs_in_again(make_server, client_key, tmp_path):
    server = make_server(user=USER)
    rc, output = run_playbook(tmp_path, server, playbook=RESET_PLAYBOOK, verbosity="-v")
    assert rc == 0, output[-3000:]
    assert server.record.logins == 2


def test_jump_host_that_needs_mfa_is_logged_in_once(make_server, client_key, tmp_path):
    bastion = make_server(user=USER, chains=[["publickey", "keyboard-interactive"]], rounds=[Round([("Password: ", False)], ["bastion-pw"]), CODE_ROUND])
    target = make_server(user=USER)
    jump = {
        "ansible_kbdint_jump_host": "%s@127.0.0.1:%d" % (USER, bastion.port),
        "ansible_kbdint_jump_password": "bastion-pw",
        "ansible_kbdint_jump_totp_secret": TOTP_SECRET,
    }
    rc, output = run_playbook(tmp_path, target, extra_vars=jump, also_known=(bastion,))
    assert rc == 0, output[-3000:]
    assert bastion.record.tunnels == [("127.0.0.1", target.port)]
    assert bastion.record.logins == 1
    assert target.record.logins == 1
    assert target.record.connections == 1
    assert "bastion-pw" not in output
    assert TOTP_SECRET not in output


def test_ansible_doc_renders_every_option():
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_NOCOLOR="1")
    done = subprocess.run([os.path.join(BIN, "ansible-doc"), "-t", "connection", "--json", "fleetauth.ssh.kbdint"], stdout=subprocess.PIPE, env=env, check=True)
    doc = json.loads(done.stdout)["fleetauth.ssh.kbdint"]["doc"]
    options = doc["options"]
    assert len(options) >= 30
    for name, option in options.items():
        assert option.get("description"), name
        assert option.get("vars") or option.get("env") or option.get("ini"), name
        assert option.get("version_added"), name
    text = subprocess.run([os.path.join(BIN, "ansible-doc"), "-t", "connection", "fleetauth.ssh.kbdint"], stdout=subprocess.PIPE, env=env, check=True)
    rendered = text.stdout.decode()
    for name in options:
        assert name in rendered


def test_a_task_process_never_imports_paramiko():
    # Tasks talk to a master; importing paramiko (~0.2 s) in every worker would cost more than the work.
    code = (
        "import sys; import ansible_collections.fleetauth.ssh.plugins.connection.kbdint as k; "
        "k.Connection; print(sorted(m for m in sys.modules if m.split('.')[0] in ('paramiko', 'pyotp')))"
    )
    done = subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE, env=dict(os.environ, PYTHONPATH=COLLECTIONS), check=True)
    assert done.stdout.decode().strip() == "[]"


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("bastion", ("me", "bastion", 22)),
        ("ops@bastion:2222", ("ops", "bastion", 2222)),
        ("[2001:db8::1]:2200", ("me", "2001:db8::1", 2200)),
        ("ops@[2001:db8::1]", ("ops", "2001:db8::1", 22)),
    ],
)
def test_jump_host_spec(spec, expected):
    assert plugin._parse_jump(spec, "me") == expected
