# -*- coding: utf-8 -*-
# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Connection plugin fleetauth.ssh.kbdint: options, ConnectionBase methods, hand-off.

The work happens in ``plugins/plugin_utils/_kbdint``: the responder, TOTP with its
reuse guard, the paramiko session (authentication chains, host keys, jump host,
proxy command, exec, SFTP) and the control-socket master that keeps one
authenticated transport per host + port + user for the whole run.
"""

from __future__ import annotations

DOCUMENTATION = r"""
name: kbdint
short_description: SSH with keyboard-interactive MFA (pubkey + password + TOTP), one login per host per run
version_added: 0.1.0
author:
  - fleetauth.ssh developers (@fleetauth)
description:
  - Runs tasks over SSH with L(paramiko,https://www.paramiko.org/) on hosts that require keyboard-interactive
    multi-factor authentication, unattended, for example C(AuthenticationMethods publickey,keyboard-interactive)
    with PAM asking for the password and a TOTP verification code.
  - Authentication methods C(publickey) (key files and the SSH agent), C(password) and C(keyboard-interactive) are
    driven in sequence through partial-success chains such as C(publickey,password,keyboard-interactive).
  - Keyboard-interactive prompts are answered only by explicit O(responder_rules); without rules, the password goes
    only to a plain login C(Password:) prompt and a TOTP code (with O(totp_secret) set) only to a verification-code or
    one-time-password prompt. Any other prompt fails closed, naming the prompt and the round; nothing of that round is sent.
  - With O(persist) (the default) the first task that needs a host starts a control master, a background process that
    holds the authenticated transport behind a Unix socket in O(control_path_dir); every later task of the run reuses it,
    so an MFA host is logged in to once per run and a TOTP code is never needed twice.
  - No password, secret or code is ever displayed or logged, at any verbosity, including by paramiko's own loggers.
  - See the collection's C(docs/connection_kbdint.md) for a setup guide, Ansible Vault for TOTP secrets and measurements.
requirements:
  - paramiko >= 3.4 on the controller
  - pyotp >= 2.8 on the controller (for TOTP answers)
notes:
  - C(ansible.builtin.paramiko_ssh) is not used or needed; this plugin works on ansible-core 2.19 and later,
    where that plugin no longer exists.
  - O(password), O(private_key_passphrase), O(totp_secret), O(jump_password) and C(static) rule values are secrets
    (keep them in Ansible Vault); they are never displayed.
options:
  remote_addr:
    description: Address of the remote host.
    type: string
    default: inventory_hostname
    version_added: 0.1.0
    vars:
      - name: inventory_hostname
      - name: ansible_host
      - name: ansible_ssh_host
      - name: ansible_kbdint_host
      - name: delegated_vars['ansible_host']
      - name: delegated_vars['ansible_ssh_host']
  port:
    description: Remote SSH port.
    type: integer
    default: 22
    version_added: 0.1.0
    ini:
      - section: defaults
        key: remote_port
      - section: kbdint_connection
        key: port
    env:
      - name: ANSIBLE_REMOTE_PORT
      - name: ANSIBLE_KBDINT_PORT
    vars:
      - name: ansible_port
      - name: ansible_ssh_port
      - name: ansible_kbdint_port
    keyword:
      - name: port
  remote_user:
    description:
      - User to log in as.
      - Defaults to the user running Ansible on the controller.
    type: string
    version_added: 0.1.0
    ini:
      - section: defaults
        key: remote_user
      - section: kbdint_connection
        key: remote_user
    env:
      - name: ANSIBLE_REMOTE_USER
      - name: ANSIBLE_KBDINT_REMOTE_USER
    vars:
      - name: ansible_user
      - name: ansible_ssh_user
      - name: ansible_kbdint_user
    cli:
      - name: user
    keyword:
      - name: remote_user
  password:
    description:
      - The login password, used for the C(password) method and for C(password) answers of the responder.
      - A secret; it is never displayed.
    type: string
    version_added: 0.1.0
    vars:
      - name: ansible_password
      - name: ansible_ssh_pass
      - name: ansible_ssh_password
      - name: ansible_kbdint_password
    env:
      - name: ANSIBLE_KBDINT_PASSWORD
  private_key_file:
    description:
      - Private key for C(publickey) authentication, tried before the agent's keys.
      - When not set and O(look_for_keys) is on, C(~/.ssh/id_ed25519), C(~/.ssh/id_ecdsa) and C(~/.ssh/id_rsa) are tried.
    type: path
    version_added: 0.1.0
    ini:
      - section: defaults
        key: private_key_file
      - section: kbdint_connection
        key: private_key_file
    env:
      - name: ANSIBLE_PRIVATE_KEY_FILE
      - name: ANSIBLE_KBDINT_PRIVATE_KEY_FILE
    vars:
      - name: ansible_private_key_file
      - name: ansible_ssh_private_key_file
      - name: ansible_kbdint_private_key_file
    cli:
      - name: private_key_file
        option: --private-key
  private_key_passphrase:
    description: Passphrase of an encrypted O(private_key_file). A secret; never displayed.
    type: string
    version_added: 0.1.0
    env:
      - name: ANSIBLE_PRIVATE_KEY_PASSPHRASE
      - name: ANSIBLE_KBDINT_PRIVATE_KEY_PASSPHRASE
    vars:
      - name: ansible_private_key_passphrase
      - name: ansible_ssh_private_key_passphrase
      - name: ansible_kbdint_private_key_passphrase
  allow_agent:
    description: Offer the keys of the SSH agent (C(SSH_AUTH_SOCK)) for C(publickey) authentication.
    type: boolean
    default: true
    version_added: 0.1.0
    ini:
      - section: kbdint_connection
        key: allow_agent
    env:
      - name: ANSIBLE_KBDINT_ALLOW_AGENT
    vars:
      - name: ansible_kbdint_allow_agent
  look_for_keys:
    description: When no O(private_key_file) is set, try the default key files in C(~/.ssh/).
    type: boolean
    default: true
    version_added: 0.1.0
    ini:
      - section: kbdint_connection
        key: look_for_keys
    env:
      - name: ANSIBLE_KBDINT_LOOK_FOR_KEYS
    vars:
      - name: ansible_kbdint_look_for_keys
  preferred_authentications:
    description:
      - Order in which the methods the server allows are tried, at each step of a partial-success chain.
      - The server decides which methods are needed; this only orders alternatives.
    type: list
    elements: string
    default: [publickey, keyboard-interactive, password]
    version_added: 0.1.0
    ini:
      - section: kbdint_connection
        key: preferred_authentications
    env:
      - name: ANSIBLE_KBDINT_PREFERRED_AUTHENTICATIONS
    vars:
      - name: ansible_kbdint_preferred_authentications
  responder_rules:
    description:
      - Ordered list of rules answering keyboard-interactive prompts; the first rule whose C(prompt)
        matches (C(re.search)) the prompt's last line, stripped, answers it. Set per host or group in the inventory.
      - Each rule is a mapping with C(prompt) (a regular expression), C(source) (V(password), V(totp), V(static),
        V(env), V(command) or V(ask), or a list of them whose answers are concatenated, for example
        C([password, totp]) for pam_google_authenticator's C(forward_pass)), C(value) (for V(static) the answer, for
        V(env) the variable name, for V(command) a command line or argv list that gets the prompt on stdin and prints
        the answer), optional C(echo) (V(off), V(on) or V(any); rules using V(password) or V(totp) default to V(off),
        which refuses a prompt the server would echo) and an optional C(name).
      - When empty, the defaults answer only a plain login C(Password:) prompt with O(password) and, when
        O(totp_secret) is set, a verification-code or one-time-password prompt with a TOTP code.
      - A prompt no rule matches fails the login and names the prompt and the round; nothing of that round is sent.
      - Environment and ini values are JSON text.
    type: raw
    default: []
    version_added: 0.1.0
    ini:
      - section: kbdint_connection
        key: responder_rules
    env:
      - name: ANSIBLE_KBDINT_RESPONDER_RULES
    vars:
      - name: ansible_kbdint_responder_rules
  responder_mode:
    description:
      - V(auto) answers prompts from O(responder_rules) (or the defaults).
      - V(ask_all) hands every prompt to the person at the controller's terminal (echo respected).
    type: string
    choices: [auto, ask_all]
    default: auto
    version_added: 0.1.0
    ini:
      - section: kbdint_connection
        key: responder_mode
    env:
      - name: ANSIBLE_KBDINT_RESPONDER_MODE
    vars:
      - name: ansible_kbdint_responder_mode
  totp_secret:
    description:
      - Base32 TOTP secret (the first line of C(~/.google_authenticator)) or an C(otpauth://totp/) URI.
      - Codes are computed when the server asks; a time step is used at most once per host, port and user
        (across processes and runs), so a login that would reuse one waits for the next step.
      - A secret; keep it in Ansible Vault. It is never displayed.
    type: string
    version_added: 0.1.0
    env:
      - name: ANSIBLE_KBDINT_TOTP_SECRET
    vars:
      - name: ansible_kbdint_totp_secret
  host_key_checking:
    description:
      - Refuse a host whose key is not in O(known_hosts_file) or C(/etc/ssh/ssh_known_hosts).
      - When false, an unknown host's key is accepted and recorded in O(known_hosts_file).
        A key that differs from a recorded one is always refused.
    type: boolean
    default: true
    version_added: 0.1.0
    ini:
      - section: defaults
        key: host_key_checking
      - section: kbdint_connection
        key: host_key_checking
    env:
      - name: ANSIBLE_HOST_KEY_CHECKING
      - name: ANSIBLE_KBDINT_HOST_KEY_CHECKING
    vars:
      - name: ansible_host_key_checking
      - name: ansible_kbdint_host_key_checking
  known_hosts_file:
    description: The user known_hosts file to check host keys against (and to record new ones in).
    type: path
    default: ~/.ssh/known_hosts
    version_added: 0.1.0
    ini:
      - section: kbdint_connection
        key: known_hosts_file
    env:
      - name: ANSIBLE_KBDINT_KNOWN_HOSTS_FILE
    vars:
      - name: ansible_kbdint_known_hosts_file
  proxy_command:
    description:
      - Command whose stdin/stdout carry the SSH connection, as OpenSSH's C(ProxyCommand); C(%h), C(%p) and C(%r) are
        replaced by host, port and user. It is split like a shell command line but not run by a shell.
    type: string
    version_added: 0.1.0
    ini:
      - section: kbdint_connection
        key: proxy_command
    env:
      - name: ANSIBLE_KBDINT_PROXY_COMMAND
    vars:
      - name: ansible_kbdint_proxy_command
  jump_host:
    description:
      - A jump host C([user@]host[:port]); the connection to the target is a C(direct-tcpip) channel through it.
      - The jump host is authenticated like the target (same keys, agent and responder rules), with
        O(jump_password) and O(jump_totp_secret) as its secrets; with O(persist) it gets its own master,
        so it too is logged in to once per run.
    type: string
    version_added: 0.1.0
    ini:
      - section: kbdint_connection
        key: jump_host
    env:
      - name: ANSIBLE_KBDINT_JUMP_HOST
    vars:
      - name: ansible_kbdint_jump_host
  jump_password:
    description: Login password on the jump host. A secret; never displayed.
    type: string
    version_added: 0.1.0
    env:
      - name: ANSIBLE_KBDINT_JUMP_PASSWORD
    vars:
      - name: ansible_kbdint_jump_password
  jump_totp_secret:
    description: TOTP secret on the jump host (as O(totp_secret)). A secret; never displayed.
    type: string
    version_added: 0.1.0
    env:
      - name: ANSIBLE_KBDINT_JUMP_TOTP_SECRET
    vars:
      - name: ansible_kbdint_jump_totp_secret
  timeout:
    description: Seconds to wait for the TCP connection, the SSH handshake and a privilege escalation prompt.
    type: integer
    default: 10
    version_added: 0.1.0
    ini:
      - section: defaults
        key: timeout
      - section: kbdint_connection
        key: timeout
    env:
      - name: ANSIBLE_TIMEOUT
      - name: ANSIBLE_KBDINT_TIMEOUT
    vars:
      - name: ansible_kbdint_timeout
    cli:
      - name: timeout
  auth_timeout:
    description:
      - Seconds to wait for the server's answer to each authentication step, including a keyboard-interactive login
        that waits for a Duo push, a person answering V(ask), or the next TOTP time step. Up to a few minutes,
        within the server's C(LoginGraceTime) (120 s by default).
    type: integer
    default: 60
    version_added: 0.1.0
    ini:
      - section: kbdint_connection
        key: auth_timeout
    env:
      - name: ANSIBLE_KBDINT_AUTH_TIMEOUT
    vars:
      - name: ansible_kbdint_auth_timeout
  command_timeout:
    description: Seconds a command may run before it is abandoned; V(0) means no limit.
    type: integer
    default: 0
    version_added: 0.1.0
    ini:
      - section: kbdint_connection
        key: command_timeout
    env:
      - name: ANSIBLE_KBDINT_COMMAND_TIMEOUT
    vars:
      - name: ansible_kbdint_command_timeout
  keepalive_interval:
    description: Seconds between SSH keepalive messages on an idle transport; V(0) turns them off.
    type: integer
    default: 30
    version_added: 0.1.0
    ini:
      - section: kbdint_connection
        key: keepalive_interval
    env:
      - name: ANSIBLE_KBDINT_KEEPALIVE_INTERVAL
    vars:
      - name: ansible_kbdint_keepalive_interval
  persist:
    description:
      - Keep one authenticated transport per host, port and user in a control master for all tasks.
      - When false every task logs in again (with TOTP and C(DISALLOW_REUSE), each login waits for a new time step).
    type: boolean
    default: true
    version_added: 0.1.0
    ini:
      - section: kbdint_connection
        key: persist
    env:
      - name: ANSIBLE_KBDINT_PERSIST
    vars:
      - name: ansible_kbdint_persist
  persist_scope:
    description:
      - V(run) ties a master to the C(ansible-playbook) (or C(ansible)) process that started it; it exits within a
        second after that run ends, so each run logs in once per host.
      - V(user) shares masters between runs of the same user, like OpenSSH's C(ControlPersist), until
        O(persist_timeout); later runs then need no new login (an authenticated session stays open meanwhile).
    type: string
    choices: [run, user]
    default: run
    version_added: 0.1.0
    ini:
      - section: kbdint_connection
        key: persist_scope
    env:
      - name: ANSIBLE_KBDINT_PERSIST_SCOPE
    vars:
      - name: ansible_kbdint_persist_scope
  persist_timeout:
    description: Seconds a master waits without any task before it closes its transport and exits.
    type: integer
    default: 600
    version_added: 0.1.0
    ini:
      - section: kbdint_connection
        key: persist_timeout
    env:
      - name: ANSIBLE_KBDINT_PERSIST_TIMEOUT
    vars:
      - name: ansible_kbdint_persist_timeout
  control_path_dir:
    description:
      - Private directory (created with mode 0700, refused if it belongs to someone else) for the control sockets,
        the masters' logs (lifecycle only, no secrets) and the TOTP reuse guard's state.
    type: path
    default: ~/.ansible/kbdint
    version_added: 0.1.0
    ini:
      - section: kbdint_connection
        key: control_path_dir
    env:
      - name: ANSIBLE_KBDINT_CONTROL_PATH_DIR
    vars:
      - name: ansible_kbdint_control_path_dir
  pipelining:
    description:
      - Send modules on the command's stdin instead of copying them to the host first.
      - On by default here (no TTY is involved); privilege escalation with a password still works.
    type: boolean
    default: true
    version_added: 0.1.0
    ini:
      - section: defaults
        key: pipelining
      - section: connection
        key: pipelining
      - section: kbdint_connection
        key: pipelining
    env:
      - name: ANSIBLE_PIPELINING
      - name: ANSIBLE_KBDINT_PIPELINING
    vars:
      - name: ansible_pipelining
      - name: ansible_kbdint_pipelining
  pty:
    description:
      - Request a pseudo-terminal for privileged commands that are not pipelined (some sudoers need C(requiretty)).
        Become plugins that cannot pipeline, such as C(su), always get one.
    type: boolean
    default: false
    version_added: 0.1.0
    ini:
      - section: kbdint_connection
        key: pty
    env:
      - name: ANSIBLE_KBDINT_PTY
    vars:
      - name: ansible_kbdint_pty
  transfer_method:
    description:
      - V(sftp) moves files over SFTP; V(piped) over C(cat) in a command; V(smart) uses SFTP and falls back to piped
        when the server has no SFTP subsystem.
    type: string
    choices: [smart, sftp, piped]
    default: smart
    version_added: 0.1.0
    ini:
      - section: kbdint_connection
        key: transfer_method
    env:
      - name: ANSIBLE_KBDINT_TRANSFER_METHOD
    vars:
      - name: ansible_kbdint_transfer_method
  sftp_window_size:
    description: SSH channel window (bytes) for SFTP; a larger window keeps more data in flight for big files.
    type: integer
    default: 16777216
    version_added: 0.1.0
    ini:
      - section: kbdint_connection
        key: sftp_window_size
    env:
      - name: ANSIBLE_KBDINT_SFTP_WINDOW_SIZE
    vars:
      - name: ansible_kbdint_sftp_window_size
  sftp_max_packet_size:
    description: Largest SSH packet (bytes) the server may send on the SFTP channel.
    type: integer
    default: 32768
    version_added: 0.1.0
    ini:
      - section: kbdint_connection
        key: sftp_max_packet_size
    env:
      - name: ANSIBLE_KBDINT_SFTP_MAX_PACKET_SIZE
    vars:
      - name: ansible_kbdint_sftp_max_packet_size
"""

EXAMPLES = r"""
# inventory/group_vars/mfa_hosts.yml (secrets in Ansible Vault)
ansible_connection: fleetauth.ssh.kbdint
ansible_user: deploy
ansible_ssh_private_key_file: ~/.ssh/deploy_ed25519
ansible_password: "{{ vault_deploy_password }}"
ansible_kbdint_totp_secret: "{{ vault_deploy_totp_secrets[inventory_hostname] }}"
ansible_become_password: "{{ vault_deploy_password }}"

# Explicit rules: pam_unix, then pam_google_authenticator in its own round
ansible_kbdint_responder_rules:
  - prompt: '^Password:$'
    source: password
  - prompt: '^Verification code:$'
    source: totp

# pam_google_authenticator with forward_pass: one prompt, password and code concatenated
# ansible_kbdint_responder_rules:
#   - prompt: '^Password & verification code:$'
#     source: [password, totp]

# Duo: choose "1" (push) and wait for the phone; allow up to 3 minutes
# ansible_kbdint_responder_rules:
#   - prompt: '^Password:$'
#     source: password
#   - prompt: 'Passcode or option \(1-\d+\):$'
#     source: static
#     value: "1"
#     echo: any
# ansible_kbdint_auth_timeout: 180
"""

import contextlib  # noqa: E402
import getpass  # noqa: E402
import os  # noqa: E402

from ansible.errors import AnsibleAuthenticationFailure, AnsibleConnectionFailure, AnsibleError, AnsibleFileNotFound  # noqa: E402
from ansible.module_utils.common.text.converters import to_bytes, to_text  # noqa: E402
from ansible.plugins.connection import ConnectionBase  # noqa: E402
from ansible.utils.display import Display  # noqa: E402

from ansible_collections.fleetauth.ssh.plugins.plugin_utils._kbdint import errors as kerrors  # noqa: E402
from ansible_collections.fleetauth.ssh.plugins.plugin_utils._kbdint.become import run_escalated  # noqa: E402
from ansible_collections.fleetauth.ssh.plugins.plugin_utils._kbdint.challenge import LocalChallenger  # noqa: E402
from ansible_collections.fleetauth.ssh.plugins.plugin_utils._kbdint.master import Control, open_master, stop_master  # noqa: E402
from ansible_collections.fleetauth.ssh.plugins.plugin_utils._kbdint.redact import Redactor  # noqa: E402
from ansible_collections.fleetauth.ssh.plugins.plugin_utils._kbdint.responder import Responder  # noqa: E402
from ansible_collections.fleetauth.ssh.plugins.plugin_utils._kbdint.settings import Settings  # noqa: E402
from ansible_collections.fleetauth.ssh.plugins.plugin_utils._kbdint.totp import StepGuard, TotpGenerator  # noqa: E402

display = Display()


def _parse_jump(spec, default_user):
    """``[user@]host[:port]`` (IPv6 in brackets) -> (user, host, port)."""
    text = str(spec).strip()
    user = default_user
    if "@" in text:
        user, text = text.rsplit("@", 1)
    port = 22
    if text.startswith("["):
        host, _sep, rest = text[1:].partition("]")
        if rest.startswith(":"):
            port = rest[1:]
    elif text.count(":") == 1:
        host, port = text.split(":")
    else:
        host = text
    try:
        port = int(port)
    except ValueError:
        raise AnsibleError("jump_host %r: the port must be a number" % spec) from None
    if not host:
        raise AnsibleError("jump_host %r names no host" % spec)
    return user, host, port


class Connection(ConnectionBase):
    """SSH over paramiko with keyboard-interactive MFA and a per-run control master."""

    transport = "fleetauth.ssh.kbdint"
    has_pipelining = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._run_pid = kwargs.get("ansible_playbook_pid")
        self._backend = None
        self._client = None
        self._session = None
        self._redactor = Redactor()

    # ------------------------------------------------------------------ helpers

    @contextlib.contextmanager
    def _errors(self):
        """The one place where library errors become Ansible errors (secrets masked)."""
        try:
            yield
        except kerrors.KbdintError as exc:
            message = self._redactor.redact(str(exc))
            if isinstance(exc, kerrors.AuthError):
                raise AnsibleAuthenticationFailure(message) from None
            if isinstance(exc, kerrors.TransferError):
                raise AnsibleError(message) from None
            if isinstance(exc, kerrors.EscalationError):
                raise AnsibleError(message) from None
            raise AnsibleConnectionFailure(message) from None
        except (AnsibleError, KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:  # pylint: disable=broad-exception-caught  # paramiko and socket errors of every kind
            raise AnsibleConnectionFailure(
                "unexpected %s from the kbdint connection to %s: %s" % (type(exc).__name__, self._label(), self._redactor.redact(str(exc)))
            ) from None

    def _label(self):
        try:
            return "%s@%s:%s" % (self._user(), self.get_option("remote_addr"), self.get_option("port"))
        except (KeyError, AnsibleError):
            return "host"

    def _user(self):
        return self.get_option("remote_user") or getpass.getuser()

    def _host(self):
        return self.get_option("remote_addr")

    def _run_id(self):
        if self._run_pid:
            return int(self._run_pid)
        try:
            from multiprocessing import parent_process  # noqa: PLC0415  pylint: disable=import-outside-toplevel

            if parent_process() is not None:
                return os.getppid()
        except ImportError:
            pass
        return os.getpid()

    def _settings(self, host=None, port=None, user=None, via_jump=False):
        key_file = self.get_option("private_key_file")
        return Settings(
            host if host is not None else self._host(),
            port if port is not None else (self.get_option("port") or 22),
            user if user is not None else self._user(),
            key_files=[os.path.expanduser(key_file)] if key_file else [],
            allow_agent=self.get_option("allow_agent"),
            look_for_keys=self.get_option("look_for_keys"),
            connect_timeout=self.get_option("timeout"),
            auth_timeout=self.get_option("auth_timeout"),
            keepalive=self.get_option("keepalive_interval"),
            host_key_checking=self.get_option("host_key_checking"),
            known_hosts_file=self.get_option("known_hosts_file"),
            proxy_command=None if via_jump else self.get_option("proxy_command"),
            preferred=self.get_option("preferred_authentications"),
            sftp_window=self.get_option("sftp_window_size"),
            sftp_packet=self.get_option("sftp_max_packet_size"),
            transfer_method=self.get_option("transfer_method"),
        )

    def _control(self):
        return Control(
            os.path.expanduser(self.get_option("control_path_dir")),
            persist_timeout=self.get_option("persist_timeout"),
            scope=self.get_option("persist_scope"),
            run_pid=self._run_id(),
            verbosity=display.verbosity,
        )

    def _jump(self):
        spec = self.get_option("jump_host")
        if not spec:
            return None
        user, host, port = _parse_jump(spec, self._user())
        return self._settings(host=host, port=port, user=user)

    def _ask(self, label):
        def ask(prompt, echo):
            answer = display.prompt_until("[%s] %s" % (label, prompt), private=not echo)
            return to_text(answer, errors="surrogate_or_strict")

        return ask

    def _make_challenger(self, settings, password, totp_secret):
        """A challenger around a fresh responder for one login (runs in this process)."""
        host = self._host()
        self._redactor.add(password)
        self._redactor.add(totp_secret)
        generator = TotpGenerator(totp_secret) if totp_secret else None
        guard = StepGuard(os.path.join(os.path.expanduser(self.get_option("control_path_dir")), "totp"))
        guard_key = "%s:%d:%s" % (settings.host, settings.port, settings.user)
        auth_timeout = float(self.get_option("auth_timeout"))

        def on_wait(seconds):
            display.v(
                "kbdint: the TOTP code of this time step was already used for %s; waiting %.0f s for the next one" % (settings.label, seconds),
                host=host,
            )

        responder = Responder(
            rules=self.get_option("responder_rules"),
            mode=self.get_option("responder_mode"),
            password=password,
            totp=generator,
            guard=guard,
            guard_key=guard_key,
            ask=self._ask(settings.label),
            info=lambda text: display.v("kbdint: %s: %s" % (settings.label, text), host=host),
            trace=lambda text: display.vvv("kbdint: %s: %s" % (settings.label, text), host=host),
            redactor=self._redactor,
            command_timeout=auth_timeout,
            max_totp_wait=max(auth_timeout - 5, 5),
            on_totp_wait=on_wait,
            label=settings.label,
        )
        if generator is not None and any("totp" in rule.sources for rule in responder.rules):
            guard.wait_until_fresh(guard_key, generator, on_wait=on_wait, max_wait=max(auth_timeout - 5, 5))
        passphrase = self.get_option("private_key_passphrase")
        self._redactor.add(passphrase)
        return LocalChallenger(responder, passphrase=passphrase, info=lambda text: display.vvv("kbdint: %s" % text, host=host))

    def _target_secrets(self):
        return self.get_option("password") or self._play_context.password, self.get_option("totp_secret")

    def _jump_secrets(self):
        return self.get_option("jump_password"), self.get_option("jump_totp_secret")

    # ------------------------------------------------------------------ connect

    def _connect(self):
        if self._connected:
            return self
        settings = self._settings()
        jump = self._jump()
        if jump is not None:
            settings = self._settings(via_jump=True)
        display.vvv("ESTABLISH KBDINT CONNECTION FOR USER: %s" % settings.user, host=self._host())
        # Whatever a task shows must not hold a secret, whether or not this task logs in.
        for secret in (*self._target_secrets(), *self._jump_secrets(), self.get_option("private_key_passphrase")):
            self._redactor.add(secret)
        with self._errors():
            if self.get_option("persist"):
                self._connect_master(settings, jump)
            else:
                self._connect_direct(settings, jump)
        self._connected = True
        return self

    def _connect_master(self, settings, jump):
        control = self._control()
        host = self._host()
        key_extra = ("jump", jump.label) if jump is not None else ()

        def reused(path):
            display.vvv("kbdint: reusing the control master %s" % path, host=host)

        def started(path, pid):
            display.vvv("kbdint: started control master pid %d at %s" % (pid, path), host=host)

        tunnel_factory = None
        if jump is not None:

            def tunnel_factory():
                jump_client = open_master(
                    jump, control, lambda: self._make_challenger(jump, *self._jump_secrets()), self._redactor, on_reuse=reused, on_start=started
                )
                display.vvv("kbdint: opening a tunnel to %s port %d through %s" % (settings.host, settings.port, jump.label), host=host)
                return jump_client.tunnel(settings.host, settings.port)

        for attempt in (1, 2):
            client = open_master(
                settings,
                control,
                lambda: self._make_challenger(settings, *self._target_secrets()),
                self._redactor,
                tunnel_factory=tunnel_factory,
                key_extra=key_extra,
                on_reuse=reused,
                on_start=started,
            )
            if client.alive:
                self._client = self._backend = client
                return
            # A master whose transport died (server restarted, network gone): replace it once.
            display.vvv("kbdint: the control master for %s lost its connection; starting a new one" % settings.label, host=host)
            client.shutdown()
            client.close()
            if attempt == 2:
                raise kerrors.TransportLost("the SSH connection to %s could not be kept open" % settings.label)

    def _connect_direct(self, settings, jump):
        from ansible_collections.fleetauth.ssh.plugins.plugin_utils._kbdint.session import establish, route_paramiko_logs  # noqa: PLC0415  pylint: disable=import-outside-toplevel  # paramiko/pyotp only when needed

        route_paramiko_logs(self._redactor, lambda level, text: display.vvvvv("paramiko: %s" % text, host=self._host()))
        sock = None
        jump_session = None
        if jump is not None:
            jump_session = establish(jump, self._make_challenger(jump, *self._jump_secrets()), self._redactor)
            sock = jump_session.tunnel(settings.host, settings.port)
        try:
            self._session = establish(settings, self._make_challenger(settings, *self._target_secrets()), self._redactor, sock=sock)
        except BaseException:
            if jump_session is not None:
                jump_session.close()
            raise
        if jump_session is not None:
            self._session._closers.append(jump_session.close)  # pylint: disable=protected-access
        self._backend = self._session

    # ------------------------------------------------------------------ tasks

    def _command_timeout(self):
        value = self.get_option("command_timeout")
        return value if value and value > 0 else None

    def exec_command(self, cmd, in_data=None, sudoable=True):
        super().exec_command(cmd, in_data=in_data, sudoable=sudoable)
        display.vvv("EXEC %s" % cmd, host=self._host())
        b_cmd = to_bytes(cmd, errors="surrogate_or_strict")
        become = self.become if sudoable else None
        pty = bool(
            become is not None and not in_data and (self.get_option("pty") or not getattr(become, "pipelining", True) or getattr(become, "require_tty", False))
        )
        with self._errors():
            if become is not None and become.expect_prompt():
                password = become.get_option("become_pass", playcontext=self._play_context)
                self._redactor.add(password)
                running = self._backend.start(b_cmd, pty=pty)
                return run_escalated(
                    running,
                    become,
                    password,
                    in_data=in_data,
                    timeout=self.get_option("timeout"),
                    command_timeout=self._command_timeout(),
                    trace=lambda text: display.vvv("kbdint: %s" % text, host=self._host()),
                )
            return self._backend.exec(b_cmd, in_data=in_data, pty=pty, timeout=self._command_timeout())

    def put_file(self, in_path, out_path):
        super().put_file(in_path, out_path)
        display.vvv("PUT %s TO %s" % (in_path, out_path), host=self._host())
        if not os.path.exists(to_bytes(in_path, errors="surrogate_or_strict")):
            raise AnsibleFileNotFound("file or module does not exist: %s" % in_path)
        with self._errors():
            self._backend.put(to_text(in_path), to_text(out_path))

    def fetch_file(self, in_path, out_path):
        super().fetch_file(in_path, out_path)
        display.vvv("FETCH %s TO %s" % (in_path, out_path), host=self._host())
        with self._errors():
            self._backend.fetch(to_text(in_path), to_text(out_path))

    def reset(self):
        """Close the transport for good: the next task logs in again (meta: reset_connection)."""
        with self._errors():
            if self._session is not None:
                self._session.close()
                self._session = None
            if self._client is not None:
                self._client.close()
                self._client = None
            if self.get_option("persist"):
                settings = self._settings()
                jump = self._jump()
                key_extra = ()
                if jump is not None:
                    settings = self._settings(via_jump=True)
                    key_extra = ("jump", jump.label)
                if stop_master(settings, self._control(), self._redactor, key_extra=key_extra):
                    display.vvv("kbdint: stopped the control master for %s" % settings.label, host=self._host())
        self._backend = None
        self._connected = False

    def close(self):
        """End of a task: let go of the control socket; the master and its transport stay."""
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._session is not None:
            self._session.close()
            self._session = None
        self._backend = None
        self._connected = False
