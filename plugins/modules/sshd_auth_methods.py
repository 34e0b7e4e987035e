#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: sshd_auth_methods
short_description: Make the effective sshd authentication settings what you ask, without locking anyone out
version_added: 0.1.0
description:
  - Sets the authentication methods and related keywords of the OpenSSH server so that the B(effective) configuration
    (what C(sshd -T) reports) is the one asked for, however the configuration is split over C(sshd_config), its
    C(Include)d drop-ins and C(Match) blocks.
  - Reads the configuration as sshd does (first value wins, C(Include) globs in lexical order relative to C(/etc/ssh),
    C(Include) inside C(Match), C(Match) blocks up to the next C(Match), both keyboard-interactive keyword names as one
    option from OpenSSH 8.7).
  - Writes its settings to a managed drop-in that sorts first (C(sshd_config.d/00-fleetauth.conf)) when the main file
    includes that directory before setting these keywords itself, else to the main file. Other lines that set the same
    keywords to other values are commented out, removed, or reported (O(conflicts)).
  - Validates the whole resulting configuration with C(sshd -t -f) on candidate copies in a private temporary directory
    (the candidate main file includes the candidate drop-ins), confirms the result with C(sshd -T) (and C(sshd -T -C)
    for Match blocks), and only then replaces the files atomically. On any failure every file stays byte-identical and
    the error quotes sshd.
  - Refuses changes that leave no way in (the lockout guard, see O(force)).
  - Never reloads sshd; RV(reload_required) tells a handler to do it.
options:
  pubkey:
    description: C(PubkeyAuthentication). Omit to leave as it is.
    type: str
    choices: [enabled, disabled]
    version_added: 0.1.0
  password:
    description: C(PasswordAuthentication). Omit to leave as it is.
    type: str
    choices: [enabled, disabled]
    version_added: 0.1.0
  kbdint:
    description:
      - Keyboard-interactive authentication (the PAM conversation used for one-time codes). Omit to leave as it is.
      - Written as C(KbdInteractiveAuthentication) on OpenSSH 8.7 and later. Up to 8.6 C(ChallengeResponseAuthentication)
        is what switches it in sshd, so both keywords are written with the same value (inside C(Match) blocks only
        C(KbdInteractiveAuthentication), as sshd allows). Lines using the other spelling count as the same option.
    type: str
    choices: [enabled, disabled]
    version_added: 0.1.0
  hostbased:
    description: C(HostbasedAuthentication). Omit to leave as it is.
    type: str
    choices: [enabled, disabled]
    version_added: 0.1.0
  authentication_methods:
    description:
      - C(AuthenticationMethods). Either V(any), or a list of alternatives, each a list of methods that must all
        succeed in order, for example V([[publickey, keyboard-interactive]]). A chain may also be given as one
        comma-separated string (V(publickey,keyboard-interactive:pam)).
      - Method names are checked by sshd itself; every method named must be enabled (see the lockout guard).
    type: raw
    version_added: 0.1.0
  permit_root_login:
    description:
      - C(PermitRootLogin). Quote V("yes") and V("no") in YAML. V(without-password) is written as V(prohibit-password).
    type: str
    choices: ["yes", prohibit-password, without-password, forced-commands-only, "no"]
    version_added: 0.1.0
  permit_empty_passwords:
    description: C(PermitEmptyPasswords).
    type: bool
    version_added: 0.1.0
  use_pam:
    description: C(UsePAM) (global only).
    type: bool
    version_added: 0.1.0
  max_auth_tries:
    description: C(MaxAuthTries), at least 1.
    type: int
    version_added: 0.1.0
  login_grace_time:
    description: C(LoginGraceTime) (global only) in seconds or an sshd time such as V(2m) or V(1m30s).
    type: str
    version_added: 0.1.0
  pubkey_accepted_algorithms:
    description:
      - C(PubkeyAcceptedAlgorithms), the list is written comma-separated. A first element starting with V(+), V(-) or
        V(^) modifies the default list.
      - Written as C(PubkeyAcceptedKeyTypes) on OpenSSH before 8.5, where that is the keyword's name.
    type: list
    elements: str
    version_added: 0.1.0
  required_rsa_size:
    description:
      - C(RequiredRSASize). Exists from OpenSSH 9.1; on an older sshd the module fails with an error saying so rather
        than silently skip a security setting.
    type: int
    version_added: 0.1.0
  ignore_rhosts:
    description: C(IgnoreRhosts).
    type: bool
    version_added: 0.1.0
  strict_modes:
    description: C(StrictModes) (global only).
    type: bool
    version_added: 0.1.0
  allow_users:
    description:
      - C(AllowUsers) patterns. The effective list becomes exactly this one; other lines adding patterns are conflicts.
        An empty list removes every C(AllowUsers) line.
    type: list
    elements: str
    version_added: 0.1.0
  deny_users:
    description: C(DenyUsers) patterns, like O(allow_users).
    type: list
    elements: str
    version_added: 0.1.0
  allow_groups:
    description: C(AllowGroups) patterns, like O(allow_users).
    type: list
    elements: str
    version_added: 0.1.0
  deny_groups:
    description: C(DenyGroups) patterns, like O(allow_users).
    type: list
    elements: str
    version_added: 0.1.0
  match:
    description:
      - C(Match) blocks for exceptions, such as an automation account exempt from a second factor or password logins
        from one address range. They are kept together between marker comments in the file that carries the settings,
        before any other C(Match) block there.
      - The list replaces the managed blocks; V([]) removes them; omit to leave them as they are.
    type: list
    elements: dict
    version_added: 0.1.0
    suboptions:
      criteria:
        description: The criteria of the C(Match) line as sshd takes them, for example V(User deploy) or V(Address 10.0.0.0/8). Checked by sshd.
        type: str
        required: true
        version_added: 0.1.0
      settings:
        description:
          - The settings inside the block, with the names and values of the module's own options
            (except the global-only O(use_pam), O(login_grace_time) and O(strict_modes)).
        type: dict
        required: true
        version_added: 0.1.0
        suboptions:
          pubkey:
            description: See O(pubkey).
            type: str
            choices: [enabled, disabled]
            version_added: 0.1.0
          password:
            description: See O(password).
            type: str
            choices: [enabled, disabled]
            version_added: 0.1.0
          kbdint:
            description: See O(kbdint).
            type: str
            choices: [enabled, disabled]
            version_added: 0.1.0
          hostbased:
            description: See O(hostbased).
            type: str
            choices: [enabled, disabled]
            version_added: 0.1.0
          authentication_methods:
            description: See O(authentication_methods).
            type: raw
            version_added: 0.1.0
          permit_root_login:
            description: See O(permit_root_login).
            type: str
            choices: ["yes", prohibit-password, without-password, forced-commands-only, "no"]
            version_added: 0.1.0
          permit_empty_passwords:
            description: See O(permit_empty_passwords).
            type: bool
            version_added: 0.1.0
          max_auth_tries:
            description: See O(max_auth_tries).
            type: int
            version_added: 0.1.0
          pubkey_accepted_algorithms:
            description: See O(pubkey_accepted_algorithms).
            type: list
            elements: str
            version_added: 0.1.0
          required_rsa_size:
            description: See O(required_rsa_size).
            type: int
            version_added: 0.1.0
          ignore_rhosts:
            description: See O(ignore_rhosts).
            type: bool
            version_added: 0.1.0
          allow_users:
            description: See O(allow_users).
            type: list
            elements: str
            version_added: 0.1.0
          deny_users:
            description: See O(deny_users).
            type: list
            elements: str
            version_added: 0.1.0
          allow_groups:
            description: See O(allow_groups).
            type: list
            elements: str
            version_added: 0.1.0
          deny_groups:
            description: See O(deny_groups).
            type: list
            elements: str
            version_added: 0.1.0
  destination:
    description:
      - Where the settings go. V(auto) uses the managed drop-in when the main file has a global C(Include) that reads it
        and sets none of the asked keywords before that C(Include) (or when the drop-in already exists), else the main file.
      - V(drop_in) always uses the drop-in (with O(add_include) when the main file has no such C(Include)).
      - V(main) edits the main file. The first global line of each keyword is changed in place, missing ones are added
        before the first directive.
    type: str
    choices: [auto, drop_in, main]
    default: auto
    version_added: 0.1.0
  drop_in_name:
    description: File name of the managed drop-in, in the directory the main file's C(Include) reads. It should sort before the others.
    type: str
    default: 00-fleetauth.conf
    version_added: 0.1.0
  add_include:
    description:
      - When the main file has no C(Include) of a drop-in directory, add C(Include <dir of config_path>/sshd_config.d/*.conf)
        as its first directive (creating the directory if needed) and use the drop-in.
    type: bool
    default: false
    version_added: 0.1.0
  conflicts:
    description:
      - What to do with other lines (main file, other drop-ins, other C(Match) blocks) that set a managed keyword to
        another value. V(comment) prefixes them with C(# fleetauth.ssh conflict:), V(remove) deletes them, V(fail)
        refuses and lists them.
      - In C(Match) blocks that are not the module's own, a line is a conflict when it differs from the asked global
        value, or when the block has the same criteria as a managed block and differs from it.
    type: str
    choices: [comment, remove, fail]
    default: comment
    version_added: 0.1.0
  config_path:
    description: The main sshd configuration file. Relative C(Include) paths are resolved under C(/etc/ssh) whatever this is, as sshd does.
    type: path
    default: /etc/ssh/sshd_config
    version_added: 0.1.0
  sshd_path:
    description: The sshd binary; found in the usual places when omitted.
    type: path
    version_added: 0.1.0
  backup:
    description: Keep a timestamped copy of each file before it is replaced.
    type: bool
    default: false
    version_added: 0.1.0
  validate:
    description:
      - Check the candidate configuration with C(sshd -t) and C(sshd -T) before writing. Only turn off when sshd cannot
        run here; the lockout guard then works from the files alone.
    type: bool
    default: true
    version_added: 0.1.0
  force:
    description:
      - Write even when the lockout guard refuses, with a warning. The guard refuses a result where publickey, password
        and keyboard-interactive are all disabled; where C(AuthenticationMethods) (globally or in a C(Match) block)
        names a disabled method; where keyboard-interactive is enabled or required while C(UsePAM) is off; where
        C(PermitRootLogin) is V(no) or V(forced-commands-only) while this play logged in as root; or where
        C(AllowUsers)/C(DenyUsers)/C(AllowGroups)/C(DenyGroups) would keep out the user this play logged in as.
      - The login user is C(SUDO_USER), else the owner of the audit login uid (C(/proc/self/loginuid)), else the owner
        of the nearest sshd session process above the module.
      - Problems that the current configuration already has are reported as warnings, not refused.
    type: bool
    default: false
    version_added: 0.1.0
extends_documentation_fragment:
  - fleetauth.ssh.attributes
  - fleetauth.ssh.attributes.files
attributes:
  check_mode:
    support: full
    details: Candidates are validated in a private temporary directory outside C(/etc/ssh); nothing is written.
  diff_mode:
    support: full
  idempotent:
    support: full
notes:
  - The module never reloads sshd. Reload it (after this module validated the configuration) in a handler when
    RV(reload_required) is true. Existing sessions survive a reload.
  - Options given on sshd's command line (for example C(-o) in C(SSHD_OPTS)) win over every file and are not seen by
    C(sshd -T); the module cannot change them.
  - Symbolic links in the configuration tree are refused, not followed.
seealso:
  - name: sshd_config manual
    description: The keywords this module writes.
    link: https://man.openbsd.org/sshd_config
author:
  - fleetauth.ssh contributors (@fleetauth)
"""

EXAMPLES = r"""
- name: Keys only, whatever cloud-init put in sshd_config.d
  fleetauth.ssh.sshd_auth_methods:
    pubkey: enabled
    password: disabled
    kbdint: disabled
  notify: Reload sshd

- name: Key plus one-time code for everyone, except the automation account
  fleetauth.ssh.sshd_auth_methods:
    pubkey: enabled
    kbdint: enabled
    use_pam: true
    authentication_methods: [[publickey, keyboard-interactive]]
    match:
      - criteria: User deploy
        settings:
          authentication_methods: [[publickey]]
  notify: Reload sshd

- name: Passwords only from the management network; refuse if anything else sets them
  fleetauth.ssh.sshd_auth_methods:
    password: disabled
    permit_root_login: "no"
    conflicts: fail
    match:
      - criteria: Address 10.20.0.0/16
        settings:
          password: enabled
"""

RETURN = r"""
changed:
  description: Whether any file changed (or would change in check mode).
  returned: always
  type: bool
files:
  description: Files changed (or that would change in check mode).
  returned: always
  type: list
  elements: str
  sample: [/etc/ssh/sshd_config.d/00-fleetauth.conf, /etc/ssh/sshd_config.d/50-cloud-init.conf]
backup_files:
  description: Backup file of each changed file, by path.
  returned: when O(backup=true)
  type: dict
effective:
  description:
    - The authentication keywords of C(sshd -T), before and after. V(after) comes from C(sshd -T -f) on the candidate
      configuration, also in check mode; it equals V(before) when nothing changes. V(null) when sshd could not report.
  returned: always
  type: dict
  sample:
    before: {passwordauthentication: "yes", pubkeyauthentication: "yes", kbdinteractiveauthentication: "no", authenticationmethods: any}
    after: {passwordauthentication: "no", pubkeyauthentication: "yes", kbdinteractiveauthentication: "no", authenticationmethods: any}
reload_required:
  description: True when files changed (or would), so sshd must be reloaded to use them.
  returned: always
  type: bool
target:
  description: The file that carries the settings.
  returned: always
  type: str
  sample: /etc/ssh/sshd_config.d/00-fleetauth.conf
destination:
  description: V(drop_in) or V(main).
  returned: always
  type: str
conflicts:
  description: Other lines that set a managed keyword to another value, and what was (or would be) done with them.
  returned: always
  type: list
  elements: dict
  sample:
    - path: /etc/ssh/sshd_config.d/50-cloud-init.conf
      line: 1
      text: PasswordAuthentication yes
      context: global
      reason: "sets PasswordAuthentication to yes, asked: no"
      action: comment
openssh_version:
  description: Version of the OpenSSH server, as C(major.minor).
  returned: always
  type: str
  sample: "9.2"
kbdint_keyword:
  description: The keyword this sshd obeys for keyboard-interactive.
  returned: always
  type: str
  sample: KbdInteractiveAuthentication
login_user:
  description: The user this play logged in as, used by the lockout guard (null when unknown).
  returned: when files change
  type: str
diff:
  description: Before and after text of each changed file.
  returned: when diff mode is on and files change
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.fleetauth.ssh.plugins.module_utils._sshd_auth import run_module

_METHOD = {"type": "str", "choices": ["enabled", "disabled"]}
_ROOT = {"type": "str", "choices": ["yes", "prohibit-password", "without-password", "forced-commands-only", "no"]}
_LIST = {"type": "list", "elements": "str"}
_MATCH_SETTINGS = {
    "pubkey": _METHOD,
    "password": dict(_METHOD, no_log=False),
    "kbdint": _METHOD,
    "hostbased": _METHOD,
    "authentication_methods": {"type": "raw"},
    "permit_root_login": _ROOT,
    "permit_empty_passwords": {"type": "bool"},
    "max_auth_tries": {"type": "int"},
    "pubkey_accepted_algorithms": _LIST,
    "required_rsa_size": {"type": "int"},
    "ignore_rhosts": {"type": "bool"},
    "allow_users": _LIST,
    "deny_users": _LIST,
    "allow_groups": _LIST,
    "deny_groups": _LIST,
}


def argument_spec():
    spec = dict(_MATCH_SETTINGS)
    spec.update(
        use_pam={"type": "bool"},
        login_grace_time={"type": "str"},
        strict_modes={"type": "bool"},
        match={
            "type": "list",
            "elements": "dict",
            "options": {
                "criteria": {"type": "str", "required": True},
                "settings": {"type": "dict", "required": True, "options": dict(_MATCH_SETTINGS)},
            },
        },
        destination={"type": "str", "choices": ["auto", "drop_in", "main"], "default": "auto"},
        drop_in_name={"type": "str", "default": "00-fleetauth.conf"},
        add_include={"type": "bool", "default": False},
        conflicts={"type": "str", "choices": ["comment", "remove", "fail"], "default": "comment"},
        config_path={"type": "path", "default": "/etc/ssh/sshd_config"},
        sshd_path={"type": "path"},
        backup={"type": "bool", "default": False},
        validate={"type": "bool", "default": True},
        force={"type": "bool", "default": False},
    )
    return spec


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    run_module(module)


if __name__ == "__main__":
    main()
