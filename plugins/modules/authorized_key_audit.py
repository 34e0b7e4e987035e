#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: authorized_key_audit
short_description: Audit (and optionally enforce) every account's authorized_keys the way sshd reads them
version_added: 0.1.0
description:
  - Finds each account's key files the way sshd does, from the effective configuration (C(sshd -T -C user=...)), that is
    C(AuthorizedKeysFile) with its C(%h), C(%u), C(%U) and C(%%) tokens, paths relative to the home directory,
    and glob patterns on OpenSSH 10.0 and later. C(sshd -T) runs once per group of accounts that the
    configuration's C(Match User)/C(Match Group) blocks cannot tell apart.
  - Parses every line as sshd does (options with quoted values, key type, base64, the SSH wire format of every
    key type) and reports, each with severity, user, file, line and fingerprint, invalid lines (bad base64, a key
    whose data is of another type than the line says, a key split over several lines, bad options, certificates,
    private keys pasted by mistake), weak keys (DSA, RSA under O(min_rsa_bits)), expired C(expiry-time), duplicate
    keys (twice for one account, or shared between accounts), keys missing from an allowlist, missing required
    options, key types the server refuses (C(PubkeyAcceptedAlgorithms), C(CASignatureAlgorithms),
    C(RequiredRSASize)), files and directories StrictModes rejects, files the user cannot read, and any symbolic
    link in the path.
  - Fingerprints are exactly what C(ssh-keygen -lf) prints (C(SHA256:...)).
  - Never follows a symbolic link and never writes through one; a FIFO, device or oversized file is reported,
    not read. An C(AuthorizedKeysCommand) is noted, never run.
  - With O(state=enforce), removes the lines of the categories in O(remove) and fixes the permissions StrictModes
    rejects (inside the home directory), through atomic rewrites that keep owner and mode.
  - The output holds fingerprints, types, sizes, comments and options only, never key data.
  - Runs on the managed host with the Python standard library (3.8 or later); needs root (become) to read every
    account's files.
author:
  - fleetauth.ssh developers (@fleetauth)
extends_documentation_fragment:
  - fleetauth.ssh.attributes
  - fleetauth.ssh.attributes.files
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details: The diff shows line numbers, key types, sizes, fingerprints, comments and options, never the key data.
  idempotent:
    support: full
options:
  state:
    description:
      - V(audit) reports and changes nothing.
      - V(enforce) also removes the lines chosen by O(remove) and, with O(fix_permissions), fixes what StrictModes rejects.
    type: str
    choices: [audit, enforce]
    default: audit
    version_added: 0.1.0
  users:
    description:
      - Accounts to audit. By default every account in the passwd database.
      - A name that does not exist is reported as a finding.
    type: list
    elements: str
    version_added: 0.1.0
  remove:
    description:
      - What O(state=enforce) removes.
      - V(invalid) lines sshd can never use (bad syntax or base64, wrong type, split keys, bad options, certificates, pasted private keys).
      - V(expired) keys whose C(expiry-time) has passed.
      - V(weak) DSA keys and RSA keys under O(min_rsa_bits).
      - V(unlisted) keys not in the allowlist (O(allowed_fingerprints), O(allowed_fingerprints_by_user)).
      - V(duplicate) repeated keys of one account (the first occurrence stays; keys shared between accounts are only reported).
      - The default removes only lines sshd never uses, so it cannot lock anyone out.
    type: list
    elements: str
    choices: [invalid, weak, expired, unlisted, duplicate]
    default: [invalid, expired]
    version_added: 0.1.0
  fix_permissions:
    description:
      - With O(state=enforce), remove group/world write permission and give ownership to the account where StrictModes
        rejects a key file or a directory from the file up to the home directory. Directories outside the home directory are
        only reported.
      - Fixing makes sshd read keys it ignored so far; audit first.
    type: bool
    default: true
    version_added: 0.1.0
  backup:
    description: Keep a copy of each rewritten file next to it (Ansible-style name).
    type: bool
    default: false
    version_added: 0.1.0
  min_rsa_bits:
    description: RSA keys under this size are reported as weak.
    type: int
    default: 3072
    version_added: 0.1.0
  allowed_fingerprints:
    description:
      - SHA256 fingerprints (as C(ssh-keygen -lf) prints them) allowed for every audited account.
      - When set, or when an account has an entry in O(allowed_fingerprints_by_user), any other key of that account is reported as unlisted.
    type: list
    elements: str
    version_added: 0.1.0
  allowed_fingerprints_by_user:
    description: Per-account allowlists, added to O(allowed_fingerprints).
    type: dict
    version_added: 0.1.0
  required_options:
    description:
      - Options every key of every audited account must have, for example V(from) or V(no-pty).
      - Flags count when an earlier C(restrict) implies them and no later flag turns them back on.
    type: list
    elements: str
    version_added: 0.1.0
  required_options_by_user:
    description: Options required for the keys of particular accounts (account name to list of option names).
    type: dict
    version_added: 0.1.0
  effective_config:
    description:
      - V(grouped) runs C(sshd -T) once per group of accounts that the configuration's Match User/Group blocks cannot tell apart
        (once in all when there are none); when the configuration cannot be judged it falls back to V(per_user).
      - V(per_user) runs C(sshd -T -C user=NAME) for every account (exact, slow on large hosts).
    type: str
    choices: [grouped, per_user]
    default: grouped
    version_added: 0.1.0
  connection:
    description:
      - The connection that C(Match Host/Address/LocalAddress/LocalPort/RDomain) blocks are evaluated for (C(sshd -T -C)).
        Without it those blocks do not match.
    type: dict
    version_added: 0.1.0
    suboptions:
      host:
        description: Client host name.
        type: str
      addr:
        description: Client address.
        type: str
      laddr:
        description: Local (server) address.
        type: str
      lport:
        description: Local (server) port.
        type: int
      rdomain:
        description: Routing domain.
        type: str
  sshd_path:
    description: The sshd binary; by default found in the usual places.
    type: path
    version_added: 0.1.0
  sshd_config:
    description: The sshd configuration file to evaluate (C(sshd -f)); by default sshd's own (C(/etc/ssh/sshd_config)).
    type: path
    version_added: 0.1.0
  strict_modes_rule:
    description:
      - Which StrictModes rule the server applies. V(upstream) is OpenSSH's - no group or world write permission anywhere
        from the key file up to the home directory.
      - V(debian) is Debian's and Ubuntu's patched sshd, which also accepts group write permission when the group has the
        account as its only member (user private groups).
      - V(auto) picks V(debian) when sshd is Debian's or Ubuntu's build (its version banner, from C(sshd -V) or the binary), else V(upstream).
    type: str
    choices: [auto, upstream, debian]
    default: auto
    version_added: 0.1.0
  max_file_size:
    description: Key files larger than this (bytes) are reported and not read.
    type: int
    default: 16777216
    version_added: 0.1.0
  max_line_length:
    description: Lines longer than this (bytes) are reported as invalid without being parsed.
    type: int
    default: 16384
    version_added: 0.1.0
  key_report:
    description:
      - How much of every account's key list the result carries (the C(users) return value).
      - V(full) gives file details and, per key, file, line, type, bits, fingerprint, comment, usable, and where they apply
        options, problems, cert_authority, sk_application and certificate.
      - V(fingerprints) gives each account's fingerprints only, in file order; findings still describe every problem in full.
        Use it on hosts with many thousands of keys, where a full report is large to build and to ship to the controller.
      - V(none) leaves C(users) empty (the summary and findings remain).
    type: str
    choices: [full, fingerprints, none]
    default: full
    version_added: 0.1.0
notes:
  - Certificate signatures are not verified (the Python standard library cannot); a certificate listed in authorized_keys is reported
    as invalid anyway, since sshd never matches one there.
  - Reading through root-owned symbolic links is refused as well (for example a symlinked C(/home)); such accounts are reported, not audited.
seealso:
  - name: sshd(8) AUTHORIZED_KEYS FILE FORMAT
    description: The format this module parses.
    link: https://man.openbsd.org/sshd#AUTHORIZED_KEYS_FILE_FORMAT
"""

EXAMPLES = r"""
- name: Audit every account (changes nothing)
  fleetauth.ssh.authorized_key_audit:
  become: true
  register: keys

- name: Show the high severity findings
  ansible.builtin.debug:
    msg: "{{ keys.findings | selectattr('severity', 'equalto', 'high') | list }}"

- name: Only keys we know, from= on the deploy account, remove everything else that is wrong
  fleetauth.ssh.authorized_key_audit:
    state: enforce
    allowed_fingerprints: "{{ team_fingerprints }}"
    required_options_by_user:
      deploy: [from, no-pty]
    remove: [invalid, expired, weak, unlisted, duplicate]
  become: true
  check_mode: true
  diff: true
"""

RETURN = r"""
summary:
  description: Counts for fleet reports.
  returned: always
  type: dict
  sample:
    accounts: 3
    accounts_with_keys: 2
    files: 2
    keys: 5
    usable_keys: 3
    findings: 4
    by_severity: {high: 1, medium: 2, low: 1, info: 0}
    by_kind: {invalid: 1, strict_modes: 1, weak: 1, expired: 1}
    sshd_evaluations: 1
    lines_removed: 0
    permissions_fixed: 0
users:
  description:
    - Accounts with key files, by name; each with uid, home, its files (path, status, mode, owner_uid, lines, keys, used_by_sshd)
      and its keys (file, line, type, bits, fingerprint, comment, usable, and options / problems / cert_authority /
      sk_application / certificate where they apply), with O(key_report=full).
    - With O(key_report=fingerprints), each account has only C(keys), a list of fingerprints in file order.
  returned: always
  type: dict
  sample:
    alice:
      uid: 1001
      home: /home/alice
      files:
        - {path: /home/alice/.ssh/authorized_keys, status: ok, mode: "0600", owner_uid: 1001, lines: 2, keys: 2, used_by_sshd: true}
      keys:
        - file: /home/alice/.ssh/authorized_keys
          line: 1
          type: ssh-ed25519
          bits: 256
          fingerprint: SHA256:u2sLp8bmBn1uFDL81NpFn03nmpRsoUhgAVWb238G0lI
          comment: alice@laptop
          options: []
          usable: true
          problems: []
findings:
  description:
    - Everything found, each with severity (high, medium, low, info), kind, user, file, line, fingerprint and message;
      some add reason, end_line, path, mode or owner_uid.
    - Kinds are invalid, weak, expired, duplicate, unlisted, missing_options, refused_by_server, strict_modes, symlink,
      hardlink, not_regular_file, unreadable_by_user, oversized_file, read_error, nul_byte, config_error, unknown_user,
      pubkey_disabled, authorized_keys_command and truncated.
  returned: always
  type: list
  elements: dict
  sample:
    - severity: medium
      kind: invalid
      reason: split_key
      user: alice
      file: /home/alice/.ssh/authorized_keys
      line: 3
      end_line: 4
      fingerprint: SHA256:LFyKWD0iImyhLW44IJe+OjN4XnLNiAqYjcLyPYieOD0
      message: the ecdsa-sha2-nistp256 key ... is split over lines 3-4 (a paste broke it); sshd reads none of it
sshd:
  description: The OpenSSH version, how many times C(sshd -T) ran, the StrictModes rule applied, and notes on how the configuration was read.
  returned: always
  type: dict
  sample: {version: "9.2", evaluations: 1, strict_modes_rule: debian, notes: []}
files:
  description: Files and directories changed (or that would be, in check mode).
  returned: always
  type: list
  elements: str
backup_files:
  description: Backup file per rewritten file, when O(backup=true).
  returned: when O(backup=true)
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.fleetauth.ssh.plugins.module_utils._key_audit import REMOVABLE, run_module_audit


def main():
    module = AnsibleModule(
        argument_spec={
            "state": {"type": "str", "choices": ["audit", "enforce"], "default": "audit"},
            "users": {"type": "list", "elements": "str"},
            "remove": {"type": "list", "elements": "str", "choices": list(REMOVABLE), "default": ["invalid", "expired"]},
            "fix_permissions": {"type": "bool", "default": True},
            "backup": {"type": "bool", "default": False},
            "min_rsa_bits": {"type": "int", "default": 3072},
            "allowed_fingerprints": {"type": "list", "elements": "str"},
            "allowed_fingerprints_by_user": {"type": "dict"},
            "required_options": {"type": "list", "elements": "str"},
            "required_options_by_user": {"type": "dict"},
            "effective_config": {"type": "str", "choices": ["grouped", "per_user"], "default": "grouped"},
            "connection": {
                "type": "dict",
                "options": {
                    "host": {"type": "str"},
                    "addr": {"type": "str"},
                    "laddr": {"type": "str"},
                    "lport": {"type": "int"},
                    "rdomain": {"type": "str"},
                },
            },
            "sshd_path": {"type": "path"},
            "sshd_config": {"type": "path"},
            "strict_modes_rule": {"type": "str", "choices": ["auto", "upstream", "debian"], "default": "auto"},
            "max_file_size": {"type": "int", "default": 16777216},
            "max_line_length": {"type": "int", "default": 16384},
            "key_report": {"type": "str", "choices": ["full", "fingerprints", "none"], "default": "full"},
        },
        supports_check_mode=True,
    )
    run_module_audit(module)


if __name__ == "__main__":
    main()
