#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: pam_kbdint
short_description: Manage the sshd PAM stack behind keyboard-interactive (TOTP or OATH second factor) without locking anyone out
version_added: 0.1.0
description:
  - Adds a second factor (C(pam_google_authenticator) for TOTP, C(pam_oath) for OATH) to the sshd PAM service file, before or after
    the password step, optionally removes the password step (for public key + code logins), and exempts users or groups.
  - "Edits the file structurally and leaves every other byte as it was. Lines the module adds end with the comment
    C(# managed by fleetauth.ssh.pam_kbdint); a password step it removes stays in the file as
    C(# disabled by fleetauth.ssh.pam_kbdint: <the original line>). O(second_factor=none) takes out exactly those, which gives back
    the original bytes. Reformatting a managed line, moving it or adding arguments keeps it managed; deleting the comment makes it yours."
  - Refuses, with nothing written, when the module's C(.so) is not installed in the directory libpam loads modules from, when the
    resulting auth stack would be empty, always fail, let someone in without any credential, or let the second factor be skipped,
    when users sshd lets in could no longer log in (no usable secret, not exempt, no nullok; they are named), and when the file holds
    PAM syntax the module does not understand.
  - The analysis follows libpam, it does not guess from names; it resolves C(include), C(substack) and Debian's C(@include) and
    explores every path through the auth stack with libpam's control rules. See docs/pam_kbdint.md in the collection.
  - Reports what sshd must say for the stack to take effect (C(UsePAM yes), C(KbdInteractiveAuthentication yes) or, before
    OpenSSH 8.7, C(ChallengeResponseAuthentication yes), and C(AuthenticationMethods publickey,keyboard-interactive)) and whether
    it does now, from C(sshd -T). The module never changes sshd's configuration; chain RV(sshd.sshd_auth_methods) into
    P(fleetauth.ssh.sshd_auth_methods#module).
author:
  - fleetauth.ssh contributors (@fleetauth)
extends_documentation_fragment:
  - fleetauth.ssh.attributes
  - fleetauth.ssh.attributes.files
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  idempotent:
    support: full
options:
  path:
    description:
      - The sshd PAM service file. It must exist; a symbolic link is refused.
      - Included files (C(@include), C(include), C(substack)) are looked up in the same directory (and, for C(/etc/pam.d), in
        C(/usr/lib/pam.d) and C(/usr/etc/pam.d)).
    type: path
    default: /etc/pam.d/sshd
    version_added: 0.1.0
  second_factor:
    description:
      - V(totp) adds C(pam_google_authenticator.so), V(oath) adds C(pam_oath.so).
      - V(none) removes exactly what this module added (with O(password_factor=keep) the file is back to its original bytes).
    type: str
    required: true
    choices: [totp, oath, none]
    version_added: 0.1.0
  password_factor:
    description:
      - V(keep) leaves the password step (Debian C(@include common-auth), RHEL-style C(auth substack password-auth), or any auth line
        bringing in C(pam_unix) and similar) in place.
      - V(remove) disables that line, so the one-time code is the only keyboard-interactive prompt (for public key + code logins).
        The account, password and session stacks are not touched; an C(@include) that also brings such lines is refused.
    type: str
    choices: [keep, remove]
    default: keep
    version_added: 0.1.0
  order:
    description:
      - Whether the second factor is asked V(after) or V(before) the password step (with O(password_factor=keep)).
    type: str
    choices: [before, after]
    default: after
    version_added: 0.1.0
  totp:
    description: Options for C(pam_google_authenticator) (O(second_factor=totp)).
    type: dict
    default: {}
    version_added: 0.1.0
    suboptions:
      nullok:
        description:
          - Let users without a secret file in without a code (gradual rollout). Users whose secret file exists but is unusable
            (wrong owner or mode) are still refused by the module, and still counted as locked out.
        type: bool
        default: false
        version_added: 0.1.0
      secret:
        description:
          - Where the secret file is, when not C(~/.google_authenticator). May use C(~), C(${HOME}) and C(${USER}).
        type: str
        version_added: 0.1.0
      echo_verification_code:
        description: Echo the code while it is typed.
        type: bool
        default: false
        version_added: 0.1.0
      forward_pass:
        description:
          - Ask for password and code in one prompt (C(Password & verification code:)) and pass the password on to the password step,
            which must then use C(try_first_pass) or C(use_first_pass). Needs O(order=before) and O(password_factor=keep).
        type: bool
        default: false
        version_added: 0.1.0
      no_increment_hotp:
        description: Do not advance the HOTP counter on failed attempts (counter-based secrets only).
        type: bool
        default: false
        version_added: 0.1.0
      noskewadj:
        description: Do not adjust for clock skew automatically.
        type: bool
        default: false
        version_added: 0.1.0
      authtok_prompt:
        description: Prompt text instead of C(Verification code:). It cannot contain C(#).
        type: str
        version_added: 0.1.0
  oath:
    description: Options for C(pam_oath) (O(second_factor=oath)).
    type: dict
    default: {}
    version_added: 0.1.0
    suboptions:
      usersfile:
        description:
          - The OATH users file. May contain C(${USER}) or start with C(${HOME}). Only user names are read from it.
        type: str
        default: /etc/users.oath
        version_added: 0.1.0
      window:
        description: How many codes ahead are accepted (pam_oath's default is 5).
        type: int
        version_added: 0.1.0
      digits:
        description: Code length; without it pam_oath accepts 6 to 8 digits.
        type: int
        choices: [6, 7, 8]
        version_added: 0.1.0
  exempt:
    description:
      - Users and groups that skip the second factor (they still give the password when it is kept). Implemented with
        C(pam_succeed_if.so) lines right before the second factor. Ignored with O(second_factor=none).
    type: dict
    default: {}
    version_added: 0.1.0
    suboptions:
      users:
        description: User names.
        type: list
        elements: str
        default: []
        version_added: 0.1.0
      groups:
        description: Group names (primary or supplementary membership).
        type: list
        elements: str
        default: []
        version_added: 0.1.0
  module_path:
    description:
      - The second factor's module, as a file name in the PAM module directory or an absolute path. Defaults to
        C(pam_google_authenticator.so) or C(pam_oath.so).
    type: str
    version_added: 0.1.0
  sshd_context:
    description:
      - Connection context for C(sshd -T -C) when checking what sshd says (keys C(user), C(host), C(addr), C(laddr), C(lport),
        C(rdomain)), for example the user of a C(Match User) block that requires keyboard-interactive.
    type: dict
    version_added: 0.1.0
  sshd_path:
    description: The sshd binary, when it is not found in the usual places.
    type: path
    version_added: 0.1.0
  backup:
    description: Keep a timestamped copy of the original file next to it when it changes.
    type: bool
    default: false
    version_added: 0.1.0
notes:
  - Run it as root (C(become)). Secret files are only examined with C(lstat) (never read, never followed when they are symbolic links);
    of an OATH users file only the user names are used. No secret appears in results, diffs or messages.
  - The lock-out check covers the accounts the host's passwd database lists (C(getpwall)) that sshd may let in, that is with a
    login shell, allowed by C(AllowUsers)/C(DenyUsers)/C(AllowGroups)/C(DenyGroups), root only with C(PermitRootLogin yes), and with a
    usable password or an authorized keys file. Directory users that the name service does not enumerate cannot be checked.
seealso:
  - module: fleetauth.ssh.sshd_auth_methods
"""

EXAMPLES = r"""
- name: Ask for a TOTP code after the password; the automation group is exempt
  fleetauth.ssh.pam_kbdint:
    second_factor: totp
    exempt:
      groups: [automation]
  register: pam

- name: Make sshd require public key, then keyboard-interactive (password + code)
  fleetauth.ssh.sshd_auth_methods:
    use_pam: "{{ pam.sshd.sshd_auth_methods.use_pam }}"
    kbdint: "{{ pam.sshd.sshd_auth_methods.kbdint }}"
    authentication_methods: "{{ pam.sshd.sshd_auth_methods.authentication_methods }}"
  when: not pam.sshd.satisfied

- name: Public key + code only (no password prompt), during a rollout
  fleetauth.ssh.pam_kbdint:
    second_factor: totp
    password_factor: remove
    totp:
      nullok: true

- name: OATH codes from /etc/users.oath, asked before the password
  fleetauth.ssh.pam_kbdint:
    second_factor: oath
    order: before
    oath:
      usersfile: /etc/users.oath
      window: 20
      digits: 6

- name: Take the second factor out again (the file gets its original bytes back)
  fleetauth.ssh.pam_kbdint:
    second_factor: none
"""

RETURN = r"""
path:
  description: The PAM service file.
  returned: always
  type: str
  sample: /etc/pam.d/sshd
files:
  description: Files changed (or that would change in check mode).
  returned: always
  type: list
  elements: str
backup_files:
  description: Backup file per changed path.
  returned: when O(backup=true)
  type: dict
security_dir:
  description: The directory libpam loads relative module paths from (read from libpam itself when possible).
  returned: success
  type: str
  sample: /lib/x86_64-linux-gnu/security
module:
  description: The second factor's module.
  returned: success
  type: dict
  contains:
    name:
      description: Module file name.
      type: str
      sample: pam_google_authenticator.so
    path:
      description: Where it was found.
      type: str
      sample: /lib/x86_64-linux-gnu/security/pam_google_authenticator.so
    args:
      description: Its arguments.
      type: list
      elements: str
      sample: [nullok]
password_steps:
  description: The lines of the file that bring in the password check (line number and text, as in the original file).
  returned: success
  type: list
  elements: str
  sample: ["line 4: @include common-auth"]
added_lines:
  description: The lines this module adds for this request.
  returned: success
  type: list
  elements: str
managed_lines:
  description: Line numbers, in the resulting file, of the lines this module added or disabled.
  returned: success
  type: list
  elements: int
auth_stack:
  description: The resulting auth stack, flattened through includes, one entry per module line (file, line number, text).
  returned: success
  type: list
  elements: str
checked_users:
  description: Accounts sshd may let in that the lock-out check covered.
  returned: when the file changes and a second factor is set
  type: list
  elements: str
exempt_users:
  description: Checked accounts that are exempt from the second factor.
  returned: when the file changes and a second factor is set
  type: list
  elements: str
users_without_second_factor:
  description: Checked accounts, not exempt, without a usable secret (they get in only thanks to nullok).
  returned: when the file changes and a second factor is set
  type: list
  elements: str
sshd:
  description: What sshd must say for the stack to take effect, and whether it does (from C(sshd -T)).
  returned: success
  type: dict
  contains:
    version:
      description: OpenSSH version (major.minor).
      type: str
      sample: "9.2"
    kbdint_keyword:
      description: The keyword this sshd obeys for keyboard-interactive.
      type: str
      sample: KbdInteractiveAuthentication
    settings:
      description: sshd_config keywords and values needed (empty with O(second_factor=none)).
      type: dict
      sample: {UsePAM: "yes", KbdInteractiveAuthentication: "yes", AuthenticationMethods: "publickey,keyboard-interactive"}
    sshd_auth_methods:
      description: The same as options of P(fleetauth.ssh.sshd_auth_methods#module).
      type: dict
      sample: {use_pam: true, kbdint: enabled, authentication_methods: [[publickey, keyboard-interactive]]}
    prompts:
      description: The keyboard-interactive prompts a login will see, in order (besides zero-prompt rounds).
      type: list
      elements: str
      sample: ["Password: ", "Verification code: "]
    effective:
      description: The relevant values sshd reports now.
      type: dict
    unmet:
      description: What is missing, one sentence each (null when sshd could not be asked).
      type: list
      elements: str
    satisfied:
      description: Whether sshd already says everything needed (null when sshd could not be asked).
      type: bool
    error:
      description: Why sshd could not be asked.
      type: str
      returned: on error
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.fleetauth.ssh.plugins.module_utils._pam_kbdint import run


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", default="/etc/pam.d/sshd"),
            second_factor=dict(type="str", required=True, choices=["totp", "oath", "none"]),
            password_factor=dict(type="str", default="keep", choices=["keep", "remove"], no_log=False),
            order=dict(type="str", default="after", choices=["before", "after"]),
            totp=dict(
                type="dict",
                default={},
                options=dict(
                    nullok=dict(type="bool", default=False),
                    secret=dict(type="str", no_log=False),
                    echo_verification_code=dict(type="bool", default=False),
                    forward_pass=dict(type="bool", default=False, no_log=False),
                    no_increment_hotp=dict(type="bool", default=False),
                    noskewadj=dict(type="bool", default=False),
                    authtok_prompt=dict(type="str"),
                ),
            ),
            oath=dict(
                type="dict",
                default={},
                options=dict(
                    usersfile=dict(type="str", default="/etc/users.oath"),
                    window=dict(type="int"),
                    digits=dict(type="int", choices=[6, 7, 8]),
                ),
            ),
            exempt=dict(
                type="dict",
                default={},
                options=dict(
                    users=dict(type="list", elements="str", default=[]),
                    groups=dict(type="list", elements="str", default=[]),
                ),
            ),
            module_path=dict(type="str"),
            sshd_context=dict(type="dict"),
            sshd_path=dict(type="path"),
            backup=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    run(module)


if __name__ == "__main__":
    main()
