#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: ssh_login_diagnose
short_description: Find out why a user gets "Permission denied" from sshd on this host, with the fix
version_added: 0.1.0
description:
  - Reads, never changes, everything that decides whether sshd lets O(user) in, and returns one verdict with the first
    blocking cause and its fix, plus every finding ranked (blocking first, then by severity).
  - The effective settings for this user come from sshd itself, C(sshd -T -C user=USER,host=HOST,addr=ADDR), so C(Match)
    blocks, first-value-wins and drop-ins are evaluated exactly as sshd does; the file and line (and Match block) each
    value comes from is shown so the fix names them.
  - Checks C(PubkeyAuthentication), C(PasswordAuthentication), C(KbdInteractiveAuthentication) (C(ChallengeResponseAuthentication)
    before OpenSSH 8.7), C(AuthenticationMethods) (every alternative, method by method), C(UsePAM), C(PermitRootLogin),
    C(AllowUsers)/C(DenyUsers)/C(AllowGroups)/C(DenyGroups) (with C(user@host) patterns), the login shell, and the
    C(Match) blocks that apply.
  - Checks the key files sshd reads for the user (C(AuthorizedKeysFile) with C(%h), C(%u), C(%U), C(%%)) the way
    M(fleetauth.ssh.authorized_key_audit) does; whether O(public_key) or O(fingerprint) is there on one line,
    keys split over several lines, key types C(PubkeyAcceptedAlgorithms) refuses, C(expiry-time) and C(from=),
    StrictModes on the home directory, C(~/.ssh) and the file (with Debian's user-private-group rule), symbolic links.
    An C(AuthorizedKeysCommand) is noted, never run.
  - Walks the PAM stack of C(/etc/pam.d/sshd) (includes and substacks) for password and keyboard-interactive logins and
    for the account and session stacks - modules missing on disk, the user's TOTP secret when C(pam_google_authenticator)
    is used without C(nullok) (existence, owner, mode), C(pam_succeed_if) conditions, C(pam_nologin) - and the account -
    password locked (C(!) in C(/etc/shadow)), account expired, password aging. Only the state of the password field is
    read, never its value.
  - Adds C(MaxAuthTries) against the number of keys an agent may offer (a warning), and the last sshd log lines that name
    the user (journal of C(ssh)/C(sshd), else C(/var/log/auth.log) or C(/var/log/secure)), sanitised and capped.
  - Runs on the managed host with the Python standard library (3.8 or later); needs root (become) to read other users'
    files, C(/etc/shadow) and the journal.
author:
  - fleetauth.ssh contributors (@fleetauth)
extends_documentation_fragment:
  - fleetauth.ssh.attributes
attributes:
  check_mode:
    support: full
    details: The module never changes anything; check mode returns the same result.
  diff_mode:
    support: none
  idempotent:
    support: full
options:
  user:
    description: The account that cannot log in.
    type: str
    required: true
    version_added: 0.1.0
  public_key:
    description:
      - The public key the user logs in with, one line as in C(id_ed25519.pub) (options allowed). Mutually exclusive with O(fingerprint).
      - Then the verdict is about that key; without it, about any key of the user.
    type: str
    version_added: 0.1.0
  fingerprint:
    description: The SHA256 fingerprint of that key, as C(ssh-keygen -lf) prints it (C(SHA256:...)).
    type: str
    version_added: 0.1.0
  from_addr:
    description:
      - The client's address, for C(Match Address), C(AllowUsers user@host) and C(from=) on keys.
      - Without it a documentation address (V(192.0.2.1)) is used, which no real configuration names, and the result says
        which Match blocks depend on the client.
    type: str
    version_added: 0.1.0
  from_host:
    description: The client's host name as sshd sees it (for C(Match Host)); by default O(from_addr), as sshd uses with C(UseDNS no).
    type: str
    version_added: 0.1.0
  local_addr:
    description: The server address the client connects to (C(Match LocalAddress)).
    type: str
    version_added: 0.1.0
  local_port:
    description: The server port the client connects to (C(Match LocalPort)).
    type: int
    version_added: 0.1.0
  sshd_path:
    description: The sshd binary; by default found in the usual places.
    type: path
    version_added: 0.1.0
  sshd_config:
    description: The sshd configuration file sshd runs with (C(sshd -f)); by default C(/etc/ssh/sshd_config).
    type: path
    version_added: 0.1.0
  pam_file:
    description: The PAM service file sshd uses.
    type: path
    default: /etc/pam.d/sshd
    version_added: 0.1.0
  log_since:
    description: How far back to read sshd's log (C(journalctl --since) syntax, e.g. V(-2h) or V(2024-05-01 10:00)).
    type: str
    default: "-24h"
    version_added: 0.1.0
  log_lines:
    description: At most this many log lines naming the user are returned (the latest).
    type: int
    default: 10
    version_added: 0.1.0
notes:
  - The verdict is about what sshd and PAM on this host do with this user; it cannot see the client (its keys, agent or
    options). C(ssh -v) on the client shows which keys it offers.
  - PAM modules other than pam_unix, pam_google_authenticator, pam_succeed_if, pam_nologin, pam_permit and pam_deny are
    assumed to be able to succeed or fail.
seealso:
  - module: fleetauth.ssh.authorized_key_audit
  - module: fleetauth.ssh.sshd_auth_methods
  - module: fleetauth.ssh.pam_kbdint
"""

EXAMPLES = r"""
- name: Why can't alice log in with her key?
  fleetauth.ssh.ssh_login_diagnose:
    user: alice
    public_key: "{{ lookup('ansible.builtin.file', 'files/alice.pub') }}"
    from_addr: 203.0.113.7
  become: true
  register: why

- name: One line per host
  ansible.builtin.debug:
    msg: "{{ why.verdict }}"

- name: Everything that blocks
  ansible.builtin.debug:
    msg: "{{ why.findings | selectattr('blocking') | map(attribute='fix') | list }}"
"""

RETURN = r"""
verdict:
  description: One line - C(no problem found ...), or C(login denied for USER - TITLE [severity] - what was found. Fix - ...)
    (C(problem for USER ...) when another way in still works), followed by the other blocking causes.
  returned: always
  type: str
  sample: "login denied for mfa: no TOTP secret [high] - mfa has no TOTP secret: /home/mfa/.google_authenticator does not exist. Fix: ..."
status:
  description:
    - V(ok) when a way in works with credentials the user has (C(no problem found)).
    - V(denied) when every way in sshd offers fails for this user.
    - V(problem) when the user can still log in some other way but the given key (or the user's keys, or locked password) does not work.
  returned: always
  type: str
  sample: denied
cause:
  description:
    - The id of the first blocking finding, or null. Ids include C(wrong_permissions), C(key_missing), C(key_split),
      C(password_auth_off), C(kbdint_off), C(pubkey_off), C(user_in_denyusers), C(user_not_in_allowusers),
      C(group_in_denygroups), C(group_not_in_allowgroups), C(totp_secret_missing), C(totp_secret_unusable),
      C(account_locked), C(account_expired), C(password_expired_inactive), C(no_password), C(shell_missing),
      C(no_login_shell), C(root_login_refused), C(pam_module_missing), C(nologin_file), C(key_type_refused),
      C(key_expired), C(key_from_mismatch), C(kbdint_without_pam), C(no_such_user).
  returned: always
  type: str
  sample: totp_secret_missing
findings:
  description: Every finding, blocking ones first (the first is the cause), then by severity (high, medium, low, info);
    each with id, title, severity, blocking, methods (the methods it affects, or C(all)), found, why, fix, and where
    (file and line) and log_evidence when known.
  returned: always
  type: list
  elements: dict
methods:
  description: Per method (publickey, password, keyboard-interactive) whether it can let the user in (true, false, or null
    when it cannot be told), whether the user holds its credential, and the ids of its problems.
  returned: always
  type: dict
chains:
  description: The ways in sshd offers (the alternatives of AuthenticationMethods, or each method alone), whether each works, and what blocks it.
  returned: always
  type: list
  elements: dict
  sample: [{methods: [publickey, keyboard-interactive], ok: false, blocked_by: [totp_secret_missing]}]
authentication_methods:
  description: The effective AuthenticationMethods for the user.
  returned: always
  type: str
effective:
  description: The authentication settings C(sshd -T -C) reports for this user and client.
  returned: always
  type: dict
context:
  description: The connection context sshd was asked about (user, host, addr, and laddr/lport when given).
  returned: always
  type: dict
key:
  description: The key asked about - its fingerprint and type.
  returned: when O(public_key) or O(fingerprint) is given
  type: dict
logs:
  description: The source read and the last sshd log lines naming the user (control characters replaced, long lines cut).
  returned: always
  type: dict
notes:
  description: What could not be checked, and Match blocks that apply or depend on the client.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.fleetauth.ssh.plugins.module_utils._diagnose import run_module


def main():
    module = AnsibleModule(
        argument_spec={
            "user": {"type": "str", "required": True},
            "public_key": {"type": "str"},
            "fingerprint": {"type": "str"},
            "from_addr": {"type": "str"},
            "from_host": {"type": "str"},
            "local_addr": {"type": "str"},
            "local_port": {"type": "int"},
            "sshd_path": {"type": "path"},
            "sshd_config": {"type": "path"},
            "pam_file": {"type": "path", "default": "/etc/pam.d/sshd"},
            "log_since": {"type": "str", "default": "-24h"},
            "log_lines": {"type": "int", "default": 10},
        },
        mutually_exclusive=[("public_key", "fingerprint")],
        supports_check_mode=True,
    )
    run_module(module)


if __name__ == "__main__":
    main()
