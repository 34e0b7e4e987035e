# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The paramiko session against a real SSH server (in the test, on 127.0.0.1).

Authentication chains, the responder facing honest and hostile servers, host keys,
commands, SFTP, proxy command and jump host.
"""

from __future__ import annotations

import io
import logging
import os
import sys

import pyotp
import pytest
from kbdint_fixtures import PASSWORD, TOTP_SECRET
from kbdint_testserver import Round

from ansible_collections.fleetauth.ssh.plugins.plugin_utils._kbdint.become import run_escalated
from ansible_collections.fleetauth.ssh.plugins.plugin_utils._kbdint.challenge import LocalChallenger
from ansible_collections.fleetauth.ssh.plugins.plugin_utils._kbdint.errors import (
    AuthError,
    CommandError,
    EscalationError,
    HostKeyError,
    PromptRefused,
    TransferError,
)
from ansible_collections.fleetauth.ssh.plugins.plugin_utils._kbdint.redact import Redactor
from ansible_collections.fleetauth.ssh.plugins.plugin_utils._kbdint.responder import Responder
from ansible_collections.fleetauth.ssh.plugins.plugin_utils._kbdint.session import establish
from ansible_collections.fleetauth.ssh.plugins.plugin_utils._kbdint.settings import Settings
from ansible_collections.fleetauth.ssh.plugins.plugin_utils._kbdint.totp import StepGuard, TotpGenerator

PASSWORD_ROUND = Round([("Password: ", False)], [PASSWORD])


def code_ok(answer):
    return pyotp.TOTP(TOTP_SECRET).verify(answer, valid_window=1)


CODE_ROUND = Round([("Verification code: ", False)], [code_ok])
MFA = [["publickey", "keyboard-interactive"]]


def connect(server, known_hosts, client_key, tmp_path, rules=None, totp=True, password=PASSWORD, redactor=None, info=None, **settings):
    settings.setdefault("key_files", [client_key[0]])
    settings.setdefault("allow_agent", False)
    settings.setdefault("known_hosts_file", known_hosts)
    conf = Settings("127.0.0.1", server.port, server.behaviour.user, **settings)
    redactor = redactor or Redactor()
    responder = Responder(
        rules=rules,
        password=password,
        totp=TotpGenerator(TOTP_SECRET) if totp else None,
        guard=StepGuard(str(tmp_path / "totp")) if totp else None,
        guard_key="%s:%d:%s" % (conf.host, conf.port, conf.user),
        redactor=redactor,
        info=info,
    )
    return establish(conf, LocalChallenger(responder), redactor)


def assert_nothing_secret_sent(server, allowed=()):
    sent = server.record.everything_sent()
    forbidden = {PASSWORD, TOTP_SECRET, pyotp.TOTP(TOTP_SECRET).now()} - set(allowed)
    for value in sent:
        for secret in forbidden:
            assert secret not in value


# ----------------------------------------------------------------- authentication


def test_publickey_only(make_server, known_hosts, client_key, tmp_path):
    server = make_server()
    session = connect(server, known_hosts(server), client_key, tmp_path)
    try:
        assert session.exec(b"echo hello") == (0, b"hello\n", b"")
    finally:
        session.close()
    assert server.record.logins == 1
    assert server.record.everything_sent() == []


def test_publickey_then_keyboard_interactive_password_and_code(make_server, known_hosts, client_key, tmp_path):
    server = make_server(chains=MFA, rounds=[PASSWORD_ROUND, CODE_ROUND, Round([])])
    session = connect(server, known_hosts(server), client_key, tmp_path)
    session.close()
    assert server.record.logins == 1
    assert server.record.kbd_started == 1
    answers = [a for _r, _p, a in server.record.kbd_answers]
    assert answers[0] == [PASSWORD]
    assert pyotp.TOTP(TOTP_SECRET).verify(answers[1][0], valid_window=1)
    assert answers[2] == []  # the zero-prompt round


def test_publickey_password_keyboard_interactive_chain(make_server, known_hosts, client_key, tmp_path):
    server = make_server(chains=[["publickey", "password", "keyboard-interactive"]], rounds=[CODE_ROUND])
    session = connect(server, known_hosts(server), client_key, tmp_path)
    session.close()
    assert server.record.logins == 1
    assert server.record.passwords == [PASSWORD]
    assert len(server.record.kbd_answers) == 1


def test_alternatives_prefer_keyboard_interactive_over_password(make_server, known_hosts, client_key, tmp_path):
    server = make_server(chains=[["password"], ["keyboard-interactive"]], rounds=[PASSWORD_ROUND])
    connect(server, known_hosts(server), client_key, tmp_path).close()
    assert server.record.passwords == []
    assert server.record.kbd_answers[0][2] == [PASSWORD]


def test_bank_pin_in_round_one_gets_nothing(make_server, known_hosts, client_key, tmp_path):
    server = make_server(chains=MFA, rounds=[Round([("Enter your bank PIN: ", False)])])
    with pytest.raises(PromptRefused) as caught:
        connect(server, known_hosts(server), client_key, tmp_path)
    message = str(caught.value)
    assert "'Enter your bank PIN:'" in message
    assert "round 1" in message
    assert PASSWORD not in message
    assert server.record.kbd_started == 1
    assert server.record.kbd_answers == []  # not even an empty INFO_RESPONSE
    assert server.record.logins == 0


def test_bank_pin_in_round_two_after_a_correct_password_gets_nothing(make_server, known_hosts, client_key, tmp_path):
    server = make_server(chains=MFA, rounds=[PASSWORD_ROUND, Round([("Enter your bank PIN: ", False)])])
    with pytest.raises(PromptRefused) as caught:
        connect(server, known_hosts(server), client_key, tmp_path)
    assert "round 2" in str(caught.value)
    assert "'Enter your bank PIN:'" in str(caught.value)
    rounds = server.record.kbd_answers
    assert [(r, a) for r, _p, a in rounds] == [(1, [PASSWORD])]
    assert_nothing_secret_sent(server, allowed=(PASSWORD,))


@pytest.mark.parametrize(
    "prompt",
    ["New password: ", "Current password: ", "Password & verification code: ", "Enter your email password: ", "Passcode or option (1-3): "],
)
def test_harvesting_prompts_fail_closed(make_server, known_hosts, client_key, tmp_path, prompt):
    server = make_server(chains=[["keyboard-interactive"]], rounds=[Round([(prompt, False)])])
    with pytest.raises(PromptRefused) as caught:
        connect(server, known_hosts(server), client_key, tmp_path)
    assert prompt.strip() in str(caught.value)
    assert server.record.kbd_answers == []


def test_pam_oath_prompt_gets_a_code_never_the_password(make_server, known_hosts, client_key, tmp_path):
    server = make_server(chains=MFA, rounds=[PASSWORD_ROUND, Round([("One-time password (OATH) for `alice': ", False)], [code_ok])])
    connect(server, known_hosts(server), client_key, tmp_path).close()
    assert server.record.kbd_answers[1][2] != [PASSWORD]
    assert server.record.logins == 1


def test_pam_oath_prompt_without_a_totp_secret_fails_closed(make_server, known_hosts, client_key, tmp_path):
    server = make_server(chains=MFA, rounds=[Round([("One-time password (OATH) for `alice': ", False)])])
    with pytest.raises(PromptRefused):
        connect(server, known_hosts(server), client_key, tmp_path, totp=False)
    assert server.record.kbd_answers == []


def test_forward_pass_by_rule(make_server, known_hosts, client_key, tmp_path):
    def both(answer):
        return answer.startswith(PASSWORD) and code_ok(answer[len(PASSWORD) :])

    server = make_server(chains=MFA, rounds=[Round([("Password & verification code: ", False)], [both])])
    rules = [{"prompt": "^Password & verification code:$", "source": ["password", "totp"]}]
    connect(server, known_hosts(server), client_key, tmp_path, rules=rules).close()
    assert server.record.logins == 1


def test_glued_info_and_instruction_are_shown(make_server, known_hosts, client_key, tmp_path):
    shown = []
    rounds = [Round([("You have new mail.\nPassword: ", False)], [PASSWORD], instruction="Welcome to the lab"), CODE_ROUND]
    server = make_server(chains=MFA, rounds=rounds)
    connect(server, known_hosts(server), client_key, tmp_path, info=shown.append).close()
    assert any("You have new mail." in text for text in shown)
    assert any("Welcome to the lab" in text for text in shown)


def test_wrong_code_is_an_auth_error_that_names_no_secret(make_server, known_hosts, client_key, tmp_path):
    server = make_server(chains=MFA, rounds=[PASSWORD_ROUND, Round([("Verification code: ", False)], ["000000-never"])])
    with pytest.raises(AuthError) as caught:
        connect(server, known_hosts(server), client_key, tmp_path)
    assert not isinstance(caught.value, PromptRefused)
    assert PASSWORD not in str(caught.value)
    assert TOTP_SECRET not in str(caught.value)


def test_wrong_key_and_no_other_method(make_server, known_hosts, client_key, tmp_path):
    from kbdint_testserver import new_ed25519_key

    server = make_server(client_key=new_ed25519_key())
    with pytest.raises(AuthError) as caught:
        connect(server, known_hosts(server), client_key, tmp_path)
    assert "publickey" in str(caught.value)


def test_a_secret_in_a_failure_never_reaches_paramiko_logs(make_server, known_hosts, client_key, tmp_path):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    root = logging.getLogger()
    root.addHandler(handler)
    old = root.level
    root.setLevel(logging.DEBUG)
    try:
        server = make_server(chains=MFA, rounds=[PASSWORD_ROUND, CODE_ROUND, Round([("Enter your bank PIN: ", False)])])
        with pytest.raises(PromptRefused):
            connect(server, known_hosts(server), client_key, tmp_path)
    finally:
        root.removeHandler(handler)
        root.setLevel(old)
    output = stream.getvalue()
    assert PASSWORD not in output
    assert TOTP_SECRET not in output
    for _r, _p, answers in server.record.kbd_answers:
        for answer in answers:
            assert answer not in output


# ----------------------------------------------------------------- host keys


def test_unknown_host_key_is_refused_by_default_and_nothing_is_sent(make_server, known_hosts, client_key, tmp_path):
    server = make_server(chains=[["password"]])
    with pytest.raises(HostKeyError) as caught:
        connect(server, known_hosts.path, client_key, tmp_path)
    assert "unknown host key" in str(caught.value)
    assert "host_key_checking" in str(caught.value)
    assert server.record.everything_sent() == []


def test_unknown_host_key_is_accepted_and_recorded_when_checking_is_off(make_server, known_hosts, client_key, tmp_path):
    server = make_server()
    connect(server, known_hosts.path, client_key, tmp_path, host_key_checking=False).close()
    with open(known_hosts.path, encoding="ascii") as handle:
        assert handle.read() == server.known_hosts_line()
    # Now it is known: checking on works.
    connect(server, known_hosts.path, client_key, tmp_path).close()


def test_changed_host_key_is_refused_even_with_checking_off(make_server, known_hosts, client_key, tmp_path):
    server = make_server(chains=[["password"]])
    other = make_server()
    path = known_hosts.path
    with open(path, "w", encoding="ascii") as handle:
        handle.write(other.known_hosts_line().replace("]:%d " % other.port, "]:%d " % server.port))
    with pytest.raises(HostKeyError) as caught:
        connect(server, path, client_key, tmp_path, host_key_checking=False)
    assert "MISMATCH" in str(caught.value)
    assert server.record.everything_sent() == []


# ----------------------------------------------------------------- commands and files


@pytest.fixture
def session(make_server, known_hosts, client_key, tmp_path):
    server = make_server()
    opened = connect(server, known_hosts(server), client_key, tmp_path)
    yield opened
    opened.close()


def test_exec_with_stdin_stderr_and_status(session):
    rc, out, err = session.exec(b"cat; echo oops >&2; exit 3", in_data=b"piped module\n")
    assert (rc, out, err) == (3, b"piped module\n", b"oops\n")


def test_exec_large_output(session):
    rc, out, _err = session.exec(b"head -c 5000000 /dev/zero")
    assert rc == 0
    assert len(out) == 5000000


def test_command_timeout(session):
    with pytest.raises(CommandError) as caught:
        session.exec(b"sleep 5", timeout=0.5)
    assert "command_timeout" in str(caught.value)


def test_put_and_fetch_over_sftp(session, tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(os.urandom(300000))
    remote = tmp_path / "remote.bin"
    session.put(str(src), str(remote))
    assert remote.read_bytes() == src.read_bytes()
    back = tmp_path / "back.bin"
    session.fetch(str(remote), str(back))
    assert back.read_bytes() == src.read_bytes()
    with pytest.raises(TransferError) as caught:
        session.fetch(str(tmp_path / "missing"), str(back))
    assert "no such file" in str(caught.value)


def test_piped_transfer(make_server, known_hosts, client_key, tmp_path):
    server = make_server()
    opened = connect(server, known_hosts(server), client_key, tmp_path, transfer_method="piped")
    try:
        src = tmp_path / "src.txt"
        src.write_bytes(b"it's piped\n")
        opened.put(str(src), str(tmp_path / "out dir file.txt"))
        assert (tmp_path / "out dir file.txt").read_bytes() == b"it's piped\n"
        opened.fetch(str(tmp_path / "out dir file.txt"), str(tmp_path / "back.txt"))
        assert (tmp_path / "back.txt").read_bytes() == b"it's piped\n"
    finally:
        opened.close()
    assert any(command.startswith("cat > ") for command in server.record.commands)


# ----------------------------------------------------------------- become


class FakeSudo:
    """Duck-typed like an Ansible become plugin (sudo with a password)."""

    name = "sudo"
    prompt = "[sudo via ansible, key=abc] password:"
    success = "BECOME-SUCCESS-abc"

    def check_password_prompt(self, line):
        return self.prompt.encode() in line

    def check_success(self, line):
        return line.strip() == self.success.encode()

    def check_incorrect_password(self, line):
        return b"Sorry, try again." in line

    def check_missing_password(self, line):
        return b"a password is required" in line


SUDO = (
    "printf '[sudo via ansible, key=abc] password:' >&2; read pw; "
    "if [ \"$pw\" = '%s' ]; then echo BECOME-SUCCESS-abc; exec cat; else echo 'Sorry, try again.' >&2; sleep 5; fi" % PASSWORD
)


def test_become_sends_the_password_only_after_the_prompt_then_the_module(session):
    rc, out, err = run_escalated(session.start(SUDO.encode()), FakeSudo(), PASSWORD, in_data=b"module source\n", timeout=5)
    assert rc == 0
    assert out == b"module source\n"
    assert PASSWORD.encode() not in out + err
    assert b"password:" not in err


def test_become_wrong_password(session):
    with pytest.raises(EscalationError) as caught:
        run_escalated(session.start(SUDO.encode()), FakeSudo(), "wrong", in_data=b"x", timeout=5)
    assert "Incorrect sudo password" in str(caught.value)


def test_become_without_a_password_when_one_is_asked(session):
    with pytest.raises(EscalationError) as caught:
        run_escalated(session.start(SUDO.encode()), FakeSudo(), None, timeout=5)
    assert "Missing sudo password" in str(caught.value)


def test_become_prompt_timeout(session):
    with pytest.raises(EscalationError) as caught:
        run_escalated(session.start(b"sleep 3"), FakeSudo(), PASSWORD, timeout=0.5)
    assert "timeout" in str(caught.value)


# ----------------------------------------------------------------- proxy command and jump host

RELAY = r"""
import os, select, socket, sys
sock = socket.create_connection((sys.argv[1], int(sys.argv[2])))
while True:
    ready = select.select([0, sock], [], [])[0]
    if 0 in ready:
        data = os.read(0, 65536)
        if not data:
            break
        sock.sendall(data)
    if sock in ready:
        data = sock.recv(65536)
        if not data:
            break
        os.write(1, data)
"""


def test_proxy_command(make_server, known_hosts, client_key, tmp_path):
    server = make_server(chains=MFA, rounds=[PASSWORD_ROUND, CODE_ROUND])
    relay = tmp_path / "relay.py"
    relay.write_text(RELAY)
    command = "%s %s %%h %%p" % (sys.executable, relay)
    opened = connect(server, known_hosts(server), client_key, tmp_path, proxy_command=command)
    try:
        assert opened.exec(b"echo through the proxy")[1] == b"through the proxy\n"
    finally:
        opened.close()
    assert server.record.logins == 1


def test_broken_proxy_command_reports_its_stderr(make_server, known_hosts, client_key, tmp_path):
    from ansible_collections.fleetauth.ssh.plugins.plugin_utils._kbdint.errors import ConnectError

    server = make_server()
    command = "%s -c \"import sys; sys.stderr.write('no route to bastion'); sys.exit(1)\"" % sys.executable
    with pytest.raises(ConnectError) as caught:
        connect(server, known_hosts(server), client_key, tmp_path, proxy_command=command)
    assert "no route to bastion" in str(caught.value)


def test_jump_host_that_itself_needs_mfa(make_server, known_hosts, client_key, tmp_path):
    bastion = make_server(chains=MFA, rounds=[PASSWORD_ROUND, CODE_ROUND])
    target = make_server(chains=[["publickey", "keyboard-interactive"]], rounds=[PASSWORD_ROUND])
    path = known_hosts(bastion, target)
    jump = connect(bastion, path, client_key, tmp_path)
    try:
        channel = jump.tunnel("127.0.0.1", target.port)
        conf = Settings("127.0.0.1", target.port, "alice", key_files=[client_key[0]], allow_agent=False, known_hosts_file=path)
        redactor = Redactor()
        inner = establish(conf, LocalChallenger(Responder(password=PASSWORD, redactor=redactor)), redactor, sock=channel)
        try:
            assert inner.exec(b"echo behind the bastion")[1] == b"behind the bastion\n"
        finally:
            inner.close()
    finally:
        jump.close()
    assert bastion.record.tunnels == [("127.0.0.1", target.port)]
    assert bastion.record.logins == 1
    assert target.record.logins == 1
