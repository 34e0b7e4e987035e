# -*- coding: utf-8 -*-
# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Why does this user get "Permission denied"? One verdict per host, with the fix.

Two layers:

* :func:`diagnose` is pure: it takes :class:`Facts` (what was read from the host,
  as plain data plus parsed PAM handlers) and returns the ranked findings and the
  verdict. It is unit-tested without a host.
* :func:`gather` reads the facts, reusing the collection's readers: ``sshd -T -C
  user=,host=,addr=`` through :class:`._sshd_runtime.SshdRuntime` (the authority on
  effective settings for this user), the configuration tree for *where* a value is
  set (:mod:`._sshd_config`), the authorized_keys audit of :mod:`._key_audit` for
  the user's key files (StrictModes with Debian's rule, split keys, refused types),
  the PAM stack through :mod:`._pam` and :class:`._pam_kbdint.Host`, the passwd and
  shadow entries (only the *state* of the password field is kept, never its value)
  and recent sshd log lines.

How the verdict is reached: every way in that sshd offers this user (the
alternatives of ``AuthenticationMethods``, or each enabled method on its own) is
walked method by method; a method fails for reasons that become findings. Reasons
that stop the user before any method (DenyUsers, the shell, PAM's account stack)
come first. When no way in is left the login is denied, and the first blocking
finding of the way this user most plausibly takes (the one they hold credentials
for) is the cause. "no problem found" means some way in works for credentials the
user has.

Python 3.8+ standard library only: this runs on managed hosts. Nothing is written.
"""

from __future__ import annotations

import errno
import fnmatch
import grp
import os
import pwd
import re
import shutil
import stat
import time

from . import _authorized_keys as ak
from . import _pam
from ._atomic import AtomicWriteError, read_bytes
from ._key_audit import DEFAULT_AUTHORIZED_KEYS_FILES, Account, AuditError, Auditor, EffectiveConfig, Policy, expand_tokens, normalize
from ._pam_kbdint import ALL_VALUES, MODULE_PACKAGES, NOLOGIN_SHELLS, PASSWORD_MODULES, SECRET_DEFAULT, Refusal, expand_secret_path, secret_state
from ._pam_kbdint import Host as PamHost
from ._sshd_auth import list_dir, normalize_root, read_config, user_groups
from ._sshd_config import ConfigError, ConfigTree, addr_match_list, context_matcher, match_pattern, match_pattern_list
from ._sshd_runtime import SshdError, SshdRuntime

METHODS = ("publickey", "password", "keyboard-interactive")
NEUTRAL_ADDR = "192.0.2.1"  # TEST-NET-1 (RFC 5737): matches no real client, so only address-independent Match blocks apply
SEVERITY_ORDER = {"high": 0, "medium": 1, "low": 2, "info": 3}
NOLOGIN_FILES = ("/etc/nologin", "/run/nologin", "/var/run/nologin")
AUTH_LOGS = ("/var/log/auth.log", "/var/log/secure")
JOURNAL_IDENTIFIERS = ("sshd", "sshd-session", "sshd-auth", "sshd(pam_google_authenticator)")
MAX_LOG_BYTES = 2 << 20
MAX_LOG_LINE = 240
SECOND_FACTOR_MODULES = ("pam_google_authenticator.so", "pam_oath.so", "pam_duo.so", "pam_radius_auth.so", "pam_yubico.so")
EFFECTIVE_KEYS = (
    "pubkeyauthentication",
    "passwordauthentication",
    "kbdinteractiveauthentication",
    "challengeresponseauthentication",
    "authenticationmethods",
    "usepam",
    "permitrootlogin",
    "permitemptypasswords",
    "maxauthtries",
    "strictmodes",
    "authorizedkeysfile",
    "authorizedkeyscommand",
    "trustedusercakeys",
    "pubkeyacceptedalgorithms",
    "allowusers",
    "denyusers",
    "allowgroups",
    "denygroups",
)
_FINGERPRINT = re.compile(r"SHA256:[A-Za-z0-9+/]{43}")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_LOG_SECRETISH = re.compile(r"((?:password|passwd|code|secret|token)[=:]\s*)\S+", re.IGNORECASE)


class DiagnoseError(Exception):
    """The request cannot be diagnosed as asked; the message says what to change."""


# ------------------------------------------------------------------ facts


class Facts:
    """What :func:`gather` read from the host (plain data; PAM stacks as parsed handlers).

    * ``account``: ``{name, uid, gid, home, shell}`` or None (no such user); ``groups``: group names.
    * ``shell``: ``{path, exists, regular, executable}``.
    * ``shadow``: ``{state, expire, lastchg, max, inactive}`` (state: set, locked, no_password, empty) or None (unreadable).
    * ``version``: ``(major, minor)``; ``effective``: parsed ``sshd -T`` for the context; ``sshd_error``.
    * ``origins``: keyword -> where its value comes from; ``lists``: keyword -> [(pattern, where)].
    * ``match_blocks``: ``[{criteria, where, applies, connection}]``.
    * ``keys``: ``{paths, files, entries, findings, command, strict_rule, elsewhere}`` from the key audit.
    * ``wanted``: ``{fingerprint, type, given}`` or None.
    * ``pam``: ``{path, error, auth, account, session, exists, totp}`` or None.
    """

    def __init__(self, user, **values):
        self.user = user
        self.account = values.get("account")
        self.groups = list(values.get("groups") or [])
        self.shell = values.get("shell")
        self.shadow = values.get("shadow")
        self.today = values.get("today", int(time.time() // 86400))
        self.version = values.get("version")
        self.effective = values.get("effective")
        self.sshd_error = values.get("sshd_error")
        self.context = dict(values.get("context") or {})
        self.origins = dict(values.get("origins") or {})
        self.lists = dict(values.get("lists") or {})
        self.match_blocks = list(values.get("match_blocks") or [])
        self.keys = values.get("keys")
        self.wanted = values.get("wanted")
        self.pam = values.get("pam")
        self.nologin = list(values.get("nologin") or [])
        self.logs = values.get("logs") or {"source": None, "lines": []}
        self.notes = list(values.get("notes") or [])

    # -- convenience

    def value(self, keyword, default=None):
        eff = self.effective or {}
        value = eff.get(keyword, default)
        return value

    def flag(self, keyword, default="yes"):
        return str(self.value(keyword, default)).lower() == "yes"

    @property
    def use_pam(self):
        return self.flag("usepam", "no")

    @property
    def kbd_keyword(self):
        return "ChallengeResponseAuthentication" if self.version is not None and self.version < (8, 7) else "KbdInteractiveAuthentication"

    @property
    def kbd_enabled(self):
        if self.version is not None and self.version < (8, 7):
            return self.flag("challengeresponseauthentication") or self.flag("kbdinteractiveauthentication", "no")
        return self.flag("kbdinteractiveauthentication")

    def where(self, keyword):
        return self.origins.get(keyword)


# ------------------------------------------------------------------ findings


def finding(fid, title, found, why, fix, severity="high", methods=("all",), where=None, **extra):
    """One finding: what was found, why it denies the login, and the exact fix."""
    out = {"id": fid, "title": title, "severity": severity, "blocking": False, "methods": list(methods), "found": found, "why": why, "fix": fix}
    if where:
        out["where"] = where
    out.update(extra)
    return out


def _at(where, keyword):
    return (" (%s)" % where) if where else " (%s is not set anywhere: compiled-in default)" % keyword


def _setting_fix(facts, keyword, wanted, lower):
    """How to give *keyword* the value *wanted*, knowing where the current value comes from."""
    where = facts.where(lower)
    reload_hint = "; then check with `sshd -t` and `systemctl reload ssh`"
    if where and "command line" in where:
        return "remove the -o %s option from sshd's command line (%s)%s" % (keyword, where, reload_hint)
    if where:
        return "change it to `%s %s` at %s (the first value sshd reads wins)%s" % (keyword, wanted, where, reload_hint)
    return "add `%s %s` to a drop-in read first, e.g. /etc/ssh/sshd_config.d/00-local.conf%s" % (keyword, wanted, reload_hint)


# ------------------------------------------------------------------ sshd's allowed_user()


def match_user_pattern(user, host, addr, pattern):
    """sshd's match_user(): ``user`` or ``user@host`` (host part: names, addresses, CIDR, negation)."""
    if "@" not in pattern:
        return match_pattern(user, pattern)
    user_part, _sep, host_part = pattern.rpartition("@")
    if not match_pattern(user, user_part):
        return False
    by_name = match_pattern_list((host or "").lower(), host_part, lower=True) if host else 0
    by_addr = addr_match_list(addr, host_part) if addr else 0
    if -1 in (by_name, by_addr):
        return False
    return bool(by_name == 1 or by_addr == 1)


def _list_where(facts, keyword, pattern):
    for pat, where in facts.lists.get(keyword, []):
        if pat == pattern:
            return where
    return None


def access_findings(facts):
    """Allow/Deny Users/Groups, the way allowed_user() checks them (in that order)."""
    user = facts.user
    host, addr = facts.context.get("host"), facts.context.get("addr")
    deny = facts.value("denyusers") or []
    for pattern in deny:
        if match_user_pattern(user, host, addr, pattern):
            where = _list_where(facts, "denyusers", pattern)
            return [
                finding(
                    "user_in_denyusers",
                    "user in DenyUsers",
                    "DenyUsers lists %s (pattern %s)%s" % (user, pattern, _at(where, "DenyUsers")),
                    "sshd refuses every login of a user listed in DenyUsers before any authentication method runs "
                    "(it logs 'not allowed because listed in DenyUsers')",
                    "remove %s (the pattern %s) from DenyUsers%s; then `sshd -t` and `systemctl reload ssh`" % (user, pattern, " at " + where if where else ""),
                    where=where,
                )
            ]
    allow = facts.value("allowusers") or []
    if allow and not any(match_user_pattern(user, host, addr, pattern) for pattern in allow):
        where = _list_where(facts, "allowusers", allow[0])
        return [
            finding(
                "user_not_in_allowusers",
                "user not in AllowUsers",
                "AllowUsers is %s and does not match %s from %s" % (" ".join(allow), user, addr or "?"),
                "when AllowUsers is set, sshd refuses every user it does not list ('not allowed because not listed in AllowUsers')",
                "add %s to AllowUsers%s; then `sshd -t` and `systemctl reload ssh`" % (user, " at " + where if where else ""),
                where=where,
            )
        ]
    groups = facts.groups
    deny_groups = facts.value("denygroups") or []
    hit = [(p, g) for p in deny_groups for g in groups if match_pattern(g, p)]
    if hit:
        pattern, group = hit[0]
        where = _list_where(facts, "denygroups", pattern)
        return [
            finding(
                "group_in_denygroups",
                "group in DenyGroups",
                "%s is in group %s, which DenyGroups lists (pattern %s)%s" % (user, group, pattern, _at(where, "DenyGroups")),
                "sshd refuses users with any group listed in DenyGroups ('a group is listed in DenyGroups')",
                "take %s out of group %s (gpasswd -d %s %s) or remove %s from DenyGroups%s"
                % (user, group, user, group, pattern, " at " + where if where else ""),
                where=where,
            )
        ]
    allow_groups = facts.value("allowgroups") or []
    if allow_groups and not any(match_pattern(g, p) for p in allow_groups for g in groups):
        where = _list_where(facts, "allowgroups", allow_groups[0])
        return [
            finding(
                "group_not_in_allowgroups",
                "no group in AllowGroups",
                "AllowGroups is %s; %s is in %s" % (" ".join(allow_groups), user, ", ".join(groups) or "no group"),
                "when AllowGroups is set, sshd refuses users none of whose groups it lists",
                "add %s to one of the groups %s (usermod -aG GROUP %s), or add one of its groups to AllowGroups%s"
                % (user, " ".join(allow_groups), user, " at " + where if where else ""),
                where=where,
            )
        ]
    return []


def shell_findings(facts):
    shell = facts.shell or {}
    path = shell.get("path") or "/bin/sh"
    user = facts.user
    if not shell.get("exists", True):
        return [
            finding(
                "shell_missing",
                "login shell does not exist",
                "the login shell of %s is %s, which does not exist" % (user, path),
                "sshd refuses users whose shell does not exist ('not allowed because shell ... does not exist')",
                "usermod -s /bin/bash %s (or install %s)" % (user, path),
            )
        ]
    if not shell.get("regular", True) or not shell.get("executable", True):
        return [
            finding(
                "shell_not_executable",
                "login shell not executable",
                "the login shell of %s, %s, is not an executable file" % (user, path),
                "sshd refuses users whose shell is not executable",
                "usermod -s /bin/bash %s (or chmod 755 %s)" % (user, path),
            )
        ]
    if os.path.basename(path) in NOLOGIN_SHELLS:
        return [
            finding(
                "no_login_shell",
                "no valid login shell",
                "the login shell of %s is %s" % (user, path),
                "authentication succeeds, but the session ends at once ('This account is currently not available'): no interactive login",
                "usermod -s /bin/bash %s (if this account should log in)" % user,
            )
        ]
    return []


def root_findings(facts):
    if facts.user != "root" and (facts.account or {}).get("uid") != 0:
        return [], {}
    value = normalize_root(str(facts.value("permitrootlogin", "prohibit-password")))
    where = facts.where("permitrootlogin")
    if value == "no":
        return [
            finding(
                "root_login_refused",
                "root logins refused",
                "PermitRootLogin no%s" % _at(where, "PermitRootLogin"),
                "sshd refuses every root login",
                "log in as another user and use sudo, or " + _setting_fix(facts, "PermitRootLogin", "prohibit-password", "permitrootlogin"),
                where=where,
            )
        ], {}
    per_method = {}
    if value in ("prohibit-password", "forced-commands-only"):
        for method in ("password", "keyboard-interactive"):
            per_method[method] = finding(
                "root_password_refused",
                "root password logins refused",
                "PermitRootLogin %s%s" % (value, _at(where, "PermitRootLogin")),
                "sshd refuses %s for root" % method,
                "log in with a key, or " + _setting_fix(facts, "PermitRootLogin", "yes", "permitrootlogin"),
                methods=[method],
                where=where,
            )
    return [], per_method


# ------------------------------------------------------------------ the shadow entry


def shadow_state(field):
    """``set``, ``locked`` (``!`` before a hash), ``no_password`` (``!``, ``*``, ``!!``) or ``empty``; never the hash itself."""
    if field == "":
        return "empty"
    if field.startswith("!"):
        rest = field.lstrip("!")
        return "no_password" if rest in ("", "*") else "locked"
    if field.startswith("*") or field in ("x", "NP"):
        return "no_password"
    return "set"


def parse_shadow(data, user):
    """The user's shadow entry as state and aging numbers (None when absent)."""
    for line in data.decode("utf-8", "replace").splitlines():
        fields = line.split(":")
        if len(fields) < 2 or fields[0] != user:
            continue
        fields += [""] * (9 - len(fields))

        def num(text):
            try:
                return int(text)
            except ValueError:
                return None

        return {
            "state": shadow_state(fields[1]),
            "lastchg": num(fields[2]),
            "max": num(fields[4]),
            "inactive": num(fields[6]),
            "expire": num(fields[7]),
        }
    return None


def aging(shadow, today):
    """``(account_expired, password_state)``: password_state is None, ``must_change`` or ``inactive`` (as pam_unix decides)."""
    if not shadow:
        return False, None
    expire = shadow.get("expire")
    expired = expire is not None and expire >= 0 and today >= expire
    lastchg = shadow.get("lastchg")
    maximum = shadow.get("max")
    inactive = shadow.get("inactive")
    if lastchg == 0:
        return expired, "must_change"
    if lastchg is not None and maximum is not None and 0 <= maximum < 99999:
        if inactive is not None and inactive >= 0 and today > lastchg + maximum + inactive:
            return expired, "inactive"
        if today > lastchg + maximum:
            return expired, "must_change"
    return expired, None


def _day(days):
    return time.strftime("%Y-%m-%d", time.gmtime(days * 86400)) if days is not None else "?"


def locked_finding(facts, methods, blocking_all=False):
    user = facts.user
    return finding(
        "account_locked",
        "account locked",
        "the password of %s is locked: /etc/shadow has '!' before it (passwd -l / usermod -L)" % user,
        "sshd refuses every login of a locked account (UsePAM no)"
        if blocking_all
        else "the password can never match, so every method that asks for it through PAM (pam_unix) fails; "
        "with UsePAM yes sshd does not itself refuse locked accounts, so key-only logins still work",
        "unlock it: usermod -U %s (or passwd -u %s); if the lock is meant to keep %s out, also expire the account: usermod --expiredate 1 %s"
        % (user, user, user, user),
        methods=methods,
    )


def expired_finding(facts):
    user = facts.user
    expire = (facts.shadow or {}).get("expire")
    return finding(
        "account_expired",
        "account expired (locked by its expiry date)",
        "the account %s expired on %s (/etc/shadow expiry date, usermod --expiredate / chage -E)" % (user, _day(expire)),
        "PAM's account check (pam_unix) refuses an expired account whatever the method, keys included"
        if facts.use_pam
        else "sshd refuses expired accounts (UsePAM no)",
        "chage -E -1 %s (no expiry) or chage -E YYYY-MM-DD %s" % (user, user),
    )


def password_aging_findings(facts, state):
    user = facts.user
    if state == "inactive":
        return finding(
            "password_expired_inactive",
            "password expired and inactive",
            "the password of %s expired and its inactivity period has passed (chage -l %s)" % (user, user),
            "pam_unix's account check refuses the account for every method",
            "passwd %s (set a new password), or chage -I -1 -M 99999 %s" % (user, user),
        )
    return finding(
        "password_must_change",
        "password must be changed",
        "the password of %s has expired or must be changed at the next login (chage -l %s)" % (user, user),
        "sshd makes the user change it before the session starts: interactive logins ask for a new password, non-interactive ones (Ansible, scp, git) fail",
        "passwd %s (set a new password), or chage -d $(date +%%F) %s" % (user, user),
        severity="medium",
    )


# ------------------------------------------------------------------ PAM, simulated per method


_SUCCEED_IF_OPS = ("ingroup", "notingroup", "in", "notin", "=", "!=", "=~", "!~", "eq", "ne", "lt", "le", "gt", "ge", "<", "<=", ">", ">=")
_NUMERIC = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "lt": lambda a, b: a < b,
    "<": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
    "<=": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    ">": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
    ">=": lambda a, b: a >= b,
}


def _condition(value, op, right, groups):
    if op == "ingroup":
        return any(g in groups for g in right.split(":"))
    if op == "notingroup":
        return not any(g in groups for g in right.split(":"))
    if op in ("in", "notin"):
        return (str(value) in right.split(":")) == (op == "in")
    if op in ("=", "!="):
        return (str(value) == right) == (op == "=")
    if op in ("=~", "!~"):
        return fnmatch.fnmatchcase(str(value), right) == (op == "=~")
    try:
        return _NUMERIC[op](int(value), int(right))
    except (TypeError, ValueError):
        return None


def _succeed_if(handler, facts):
    """pam_succeed_if.so for this user: ("success",) or ("auth_err",); None when it cannot be judged here."""
    account = facts.account or {}
    args = [a for a in handler.args if a not in ("quiet", "quiet_fail", "quiet_success", "debug", "audit")]
    if not args or len(args) % 3 or "use_uid" in args:
        return None
    fields = {"user": facts.user, "uid": account.get("uid"), "gid": account.get("gid"), "shell": account.get("shell"), "home": account.get("home")}
    result = True
    for i in range(0, len(args), 3):
        left, op, right = args[i : i + 3]
        if op not in _SUCCEED_IF_OPS or fields.get(left) is None:
            return None
        ok = _condition(fields[left], op, right, facts.groups)
        if ok is None:
            return None
        result = result and ok
    return ("success",) if result else ("auth_err",)


def _outcome(handler, index, facts, method, stack):
    """``(values, tag)``: what *handler* may return for this user and method, and the problem behind a forced failure."""
    pam = facts.pam or {}
    if handler.kind == "mustfail":
        return ("perm_denied",), ("include_missing", index)
    name = handler.name
    if not pam.get("exists", {}).get(handler.module, True):
        return ("module_unknown",), ("module_missing", handler.module)
    uid = (facts.account or {}).get("uid")
    if name == "pam_deny.so":
        return ("auth_err",), None
    if name == "pam_permit.so":
        return ("success",), None
    if name == "pam_nologin.so" and facts.nologin and uid != 0:
        return ("auth_err",), ("nologin", None)
    if name == "pam_nologin.so":
        return ("success", "ignore"), None
    if name == "pam_succeed_if.so":
        return _succeed_if(handler, facts) or ALL_VALUES, None
    if stack == "account" and name in ("pam_unix.so", "pam_unix2.so"):
        if facts.shadow is None:
            return ALL_VALUES, None
        expired, pw_state = aging(facts.shadow, facts.today)
        if expired:
            return ("acct_expired",), ("account_expired", None)
        if pw_state == "inactive":
            return ("acct_expired",), ("password_inactive", None)
        return ("success",), None
    if stack == "auth" and name in PASSWORD_MODULES:
        if name not in ("pam_unix.so", "pam_unix2.so") or facts.shadow is None:
            return ALL_VALUES, None
        state = facts.shadow.get("state")
        if state == "locked":
            return ("auth_err",), ("account_locked", None)
        if state == "no_password":
            return ("auth_err",), ("no_password", None)
        if state == "empty":
            return (("success",), None) if "nullok" in handler.args else (("auth_err",), ("empty_password", None))
        return ("success", "auth_err"), None
    if stack == "auth" and name == "pam_google_authenticator.so":
        info = pam.get("totp", {}).get(index) or {}
        nullok = "nullok" in handler.args
        state = info.get("state", "ok")
        if state == "unknown":
            return ALL_VALUES, None
        if state == "missing":
            return (("ignore",), None) if nullok else (("auth_err",), ("totp_missing", index))
        if state == "unusable":
            return ("auth_err",), ("totp_unusable", index)
        if method == "password":
            return ("auth_err",), ("totp_via_password", index)
        return ("success", "auth_err"), None
    return ALL_VALUES, None


def pam_blockers(facts, stack, method=None):
    """``(ok, tags)`` for one PAM stack: ok is True/False/None (not read); tags the problems that make it fail.

    A tag counts as a cause when fixing it alone would let the stack succeed; when no
    single one does but all together do, all are causes; otherwise the stack itself fails.
    """
    pam = facts.pam
    if not pam or pam.get("error") or pam.get(stack) is None:
        return None, []
    handlers = pam[stack]
    cache = {}

    def values(index):
        if index not in cache:
            cache[index] = _outcome(handlers[index], index, facts, method, stack)
        return cache[index]

    positions = {id(h): i for i, h in enumerate(handlers)}

    def run(fixed):
        def outcomes(handler):
            vals, tag = values(positions[id(handler)])
            if tag is not None and tag in fixed:
                return ("success",)
            return vals

        return _pam.can_succeed(handlers, outcomes)

    if run(frozenset()):
        return True, []
    tags = []
    for index in range(len(handlers)):
        tag = values(index)[1]
        if tag is not None and tag not in tags:
            tags.append(tag)
    single = [tag for tag in tags if run(frozenset([tag]))]
    if single:
        return False, single
    if tags and run(frozenset(tags)):
        return False, tags
    return False, [("stack_fails", stack)]


def _handler_where(facts, stack, index):
    handlers = (facts.pam or {}).get(stack) or []
    if index is None or index >= len(handlers):
        return None
    return handlers[index].describe()


def pam_tag_finding(facts, tag, stack, method):
    kind, detail = tag
    user = facts.user
    methods = [method] if method else ["all"]
    pam_path = (facts.pam or {}).get("path", "/etc/pam.d/sshd")
    if kind == "account_locked":
        return locked_finding(facts, methods)
    if kind == "account_expired":
        return expired_finding(facts)
    if kind == "password_inactive":
        return password_aging_findings(facts, "inactive")
    if kind == "no_password":
        return finding(
            "no_password",
            "no password set",
            "%s has no password (/etc/shadow holds '!' or '*' alone)" % user,
            "%s asks PAM (pam_unix) for the password, which can never match" % method,
            "passwd %s, or log in with a key" % user,
            methods=methods,
        )
    if kind == "empty_password":
        return finding(
            "empty_password",
            "empty password refused",
            "%s has an empty password and pam_unix is used without nullok" % user,
            "pam_unix refuses empty passwords without nullok",
            "passwd %s (set a password)" % user,
            methods=methods,
        )
    if kind in ("totp_missing", "totp_unusable"):
        info = (facts.pam or {}).get("totp", {}).get(detail) or {}
        where = _handler_where(facts, stack, detail)
        path = info.get("path") or "~/.google_authenticator"
        if kind == "totp_missing":
            return finding(
                "totp_secret_missing",
                "no TOTP secret",
                "%s has no TOTP secret: %s does not exist" % (user, path),
                "pam_google_authenticator is in the auth stack without nullok (%s), so it fails every user without a secret file" % (where or pam_path),
                "have %s enrol: run `google-authenticator` as %s (it writes %s, mode 0400); during a rollout add nullok to %s"
                % (user, user, path, where or "the pam_google_authenticator line"),
                methods=methods,
                where=where,
            )
        return finding(
            "totp_secret_unusable",
            "TOTP secret unusable",
            info.get("reason") or "%s cannot be used" % path,
            "pam_google_authenticator refuses a secret file that is not a regular file owned by the user with mode 0400 or 0600, so the code step always fails",
            "chown %s %s && chmod 0400 %s" % (user, path, path),
            methods=methods,
            where=where,
        )
    if kind == "totp_via_password":
        where = _handler_where(facts, stack, detail)
        return finding(
            "totp_needs_kbdint",
            "password authentication cannot pass the TOTP step",
            "the PAM auth stack asks for a verification code (%s)" % (where or pam_path),
            "with the password method sshd answers every PAM prompt with the password, so the code check fails; only keyboard-interactive can answer it",
            "log in with keyboard-interactive (ssh -o PreferredAuthentications=keyboard-interactive), and enable it: %s"
            % _setting_fix(facts, facts.kbd_keyword, "yes", "kbdinteractiveauthentication"),
            severity="medium",
            methods=methods,
            where=where,
        )
    if kind == "module_missing":
        base = _pam.module_basename(detail)
        lines = [h.describe() for h in (facts.pam or {}).get(stack) or [] if h.module == detail]
        hint = MODULE_PACKAGES.get(base)
        return finding(
            "pam_module_missing",
            "PAM module missing",
            "%s is not installed (%s)" % (detail, "; ".join(lines[:2]) or pam_path),
            "libpam cannot load it, so that %s line fails and the %s stack with it" % (stack, stack),
            ("install %s" % hint) if hint else "install the package that provides %s, or remove the line from %s" % (base, pam_path),
            methods=methods,
            where=lines[0] if lines else None,
        )
    if kind == "include_missing":
        where = _handler_where(facts, stack, detail)
        return finding(
            "pam_include_missing",
            "PAM include missing",
            "an included PAM file does not exist (%s)" % (where or pam_path),
            "libpam replaces a missing include with a line that always fails",
            "restore the included file, or remove the include from %s" % pam_path,
            methods=methods,
            where=where,
        )
    if kind == "nologin":
        return finding(
            "nologin_file",
            "logins disabled by a nologin file",
            "%s exists" % ", ".join(facts.nologin),
            "pam_nologin refuses every user but root while it exists (systemd keeps /run/nologin until boot has finished)",
            "rm %s (or wait for the boot to finish)" % " ".join(facts.nologin),
            methods=methods,
        )
    handlers = (facts.pam or {}).get(stack) or []
    return finding(
        "pam_stack_fails",
        "PAM %s stack always fails" % stack,
        "no path through the %s stack of %s ends in success for %s: %s" % (stack, pam_path, user, " | ".join(h.describe() for h in handlers[:8])),
        "sshd runs this stack for %s and refuses the login when it fails" % (method or "every method"),
        "fix %s (for example a pam_deny.so reached before any success)" % pam_path,
        methods=methods,
    )


def _stack_findings(facts, stack, method):
    ok, tags = pam_blockers(facts, stack, method)
    return ok, [pam_tag_finding(facts, tag, stack, method) for tag in tags]


def second_factor_in_stack(facts):
    handlers = (facts.pam or {}).get("auth") or []
    return any(h.kind == "module" and h.name in SECOND_FACTOR_MODULES for h in handlers)


def password_in_stack(facts):
    handlers = (facts.pam or {}).get("auth") or []
    return not handlers or any(h.kind == "module" and h.name in PASSWORD_MODULES for h in handlers)


# ------------------------------------------------------------------ methods


class MethodState:
    """Whether one authentication method can let this user in: usable True/False/None (cannot tell)."""

    def __init__(self, name, usable=True, findings=None, credential=True, note=None):
        self.name = name
        self.usable = usable
        self.findings = list(findings or [])
        self.credential = credential
        self.note = note

    def as_dict(self):
        out = {"usable": self.usable, "credential": self.credential, "problems": [f["id"] for f in self.findings]}
        if self.note:
            out["note"] = self.note
        return out


def _disabled(facts, fid, title, keyword, lower, method):
    where = facts.where(lower)
    title = "%s (%s no)" % (title, keyword)
    chains, explicit = chains_of(facts)
    needing = [",".join(chain) for chain in chains if method in chain] if explicit else []
    why = "sshd does not offer %s to this user" % method
    if needing:
        why += "; AuthenticationMethods %s requires it, so those logins cannot complete (sshd logs 'no authentication methods enabled')" % " ".join(needing)
    return finding(
        fid,
        title,
        "%s no for %s%s" % (keyword, facts.user, _at(where, keyword)),
        why,
        _setting_fix(facts, keyword, "yes", lower),
        methods=[method],
        where=where,
    )


def key_evidence(facts):
    """Whether the user evidently logs in with keys (a key was given, or their files hold key lines)."""
    if facts.wanted:
        return True
    keys = facts.keys or {}
    if keys.get("entries"):
        return True
    return any(f.get("fingerprint") for f in keys.get("findings", []) if f.get("kind") == "invalid")


def key_traces(facts):
    """Weaker signs that the user meant to use keys: a key file (even empty) or the directory that should hold it exists."""
    keys = facts.keys or {}
    return key_evidence(facts) or bool(keys.get("files")) or bool(keys.get("key_dir"))


def _strict_fix(facts, item):
    path = item.get("path") or item.get("file")
    mode = int(item.get("mode") or "0", 8)
    uid = (facts.account or {}).get("uid")
    steps = []
    if item.get("owner_uid") not in (0, uid, None):
        steps.append("chown %s %s" % (facts.user, path))
    if mode & 0o022:
        steps.append("chmod go-w %s" % path)
    return " && ".join(steps) or "make %s owned by %s or root and not group/world-writable" % (path, facts.user)


def _file_findings(facts, path):
    """Findings of the key audit that make sshd ignore the whole file *path*."""
    keys = facts.keys or {}
    out = []
    strict = [f for f in keys.get("findings", []) if f.get("kind") == "strict_modes" and f.get("file") == path]
    if strict:
        fixes = []
        for item in strict:
            fix = _strict_fix(facts, item)
            if fix not in fixes:
                fixes.append(fix)
        out.append(
            finding(
                "wrong_permissions",
                "wrong permissions",
                "; ".join(item["message"] for item in strict[:3]),
                "with StrictModes yes sshd ignores an authorized_keys file when it, or any directory from it up to the home directory, "
                "is owned by someone else or writable by group/others (%s rule); it logs 'Authentication refused: bad ownership or modes'"
                % keys.get("strict_rule", "upstream"),
                " && ".join(fixes) + " (or fleetauth.ssh.authorized_key_audit with state=enforce fixes it)",
                methods=["publickey"],
                where=path,
            )
        )
    for item in keys.get("findings", []):
        if item.get("file") != path:
            continue
        kind = item.get("kind")
        if kind == "unreadable_by_user":
            out.append(
                finding(
                    "key_file_unreadable",
                    "key file unreadable for the user",
                    item["message"],
                    "sshd reads the key file with the user's rights",
                    "chmod 0600 %s && chown %s %s (and make every directory above it searchable by %s)" % (path, facts.user, path, facts.user),
                    methods=["publickey"],
                    where=path,
                )
            )
        elif kind == "symlink" and item.get("reason") == "untrusted_link":
            out.append(
                finding(
                    "key_file_symlink",
                    "key file behind a symbolic link",
                    item["message"],
                    "the link was not followed here, so its keys could not be checked; sshd applies StrictModes to the link's target",
                    "replace the link with a regular file owned by %s, mode 0600" % facts.user,
                    severity="medium",
                    methods=["publickey"],
                    where=path,
                )
            )
        elif kind == "not_regular_file":
            out.append(
                finding(
                    "key_file_not_regular",
                    "key file is not a regular file",
                    item["message"],
                    "sshd only reads regular files",
                    "replace %s with a regular file owned by %s, mode 0600" % (path, facts.user),
                    methods=["publickey"],
                    where=path,
                )
            )
    return out


def _entry_findings(facts, entry):
    """Why sshd would not accept the key on this authorized_keys line."""
    problems = set(entry.get("problems") or [])
    path, line = entry.get("file"), entry.get("line")
    loc = "%s line %s" % (path, line)
    messages = {f.get("kind"): f["message"] for f in (facts.keys or {}).get("findings", []) if f.get("file") == path and f.get("line") == line}
    where = facts.where("pubkeyacceptedalgorithms")
    key_type = entry.get("type")
    table = (
        (
            "refused_by_server",
            "key_type_refused",
            "key type refused by the server",
            "sshd refuses this key type",
            "sshd only accepts key types allowed by PubkeyAcceptedAlgorithms (and RSA keys of at least RequiredRSASize bits)",
            "use an ed25519 key, or allow the type: add `PubkeyAcceptedAlgorithms +%s`%s" % (key_type, " at " + where if where else " in a drop-in read first"),
        ),
        (
            "expired",
            "key_expired",
            "key expired (expiry-time)",
            "expiry-time has passed",
            "sshd refuses a key whose expiry-time option has passed",
            "remove or extend the expiry-time option on %s" % loc,
        ),
        (
            "invalid",
            "key_line_invalid",
            "authorized_keys line invalid",
            "the line is invalid",
            "sshd skips lines it cannot parse",
            "rewrite %s as one valid line: [options] type base64 [comment]" % loc,
        ),
    )
    out = []
    for kind, fid, title, default, why, fix in table:
        if kind in problems:
            found = "%s: %s" % (loc, messages.get(kind, default))
            if kind == "refused_by_server":
                found += " (%s)" % key_type
            out.append(finding(fid, title, found, why, fix, methods=["publickey"], where=loc))
    return out


def _from_check(facts, entry):
    """None when the key's from= allows the client, else a finding (or a note when the address is unknown)."""
    options = entry.get("options") or []
    pattern = None
    for option in options:
        if option.lower().startswith("from="):
            pattern = option[5:].strip('"')
    if pattern is None:
        return None, None
    addr, host = facts.context.get("addr"), facts.context.get("host")
    if facts.context.get("neutral"):
        return None, "the key on %s line %s only works from %s; set diagnose_from_addr to check the client" % (entry.get("file"), entry.get("line"), pattern)
    by_name = match_pattern_list((host or "").lower(), pattern, lower=True) if host else 0
    by_addr = addr_match_list(addr, pattern) if addr else 0
    if -1 not in (by_name, by_addr) and 1 in (by_name, by_addr):
        return None, None
    loc = "%s line %s" % (entry.get("file"), entry.get("line"))
    return (
        finding(
            "key_from_mismatch",
            "key restricted to other client addresses",
            '%s has from="%s", which does not match %s' % (loc, pattern, addr),
            "sshd refuses a key whose from= option does not match the client's address or name",
            "add the client's address to from= on %s" % loc,
            methods=["publickey"],
            where=loc,
        ),
        None,
    )


def publickey_state(facts):
    user = facts.user
    keys = facts.keys or {}
    evidence = key_evidence(facts)
    state = MethodState("publickey", credential=evidence)
    if not facts.flag("pubkeyauthentication"):
        state.usable = False
        state.findings.append(_disabled(facts, "pubkey_off", "public key authentication is off", "PubkeyAuthentication", "pubkeyauthentication", "publickey"))
        return state
    if keys.get("error"):
        state.usable = None
        state.note = "key files not checked: %s" % keys["error"]
        return state
    paths = keys.get("paths") or []
    entries = [e for e in keys.get("entries") or [] if not e.get("cert_authority")]
    root_forced = normalize_root(str(facts.value("permitrootlogin", ""))) == "forced-commands-only" and (facts.account or {}).get("uid") == 0
    unknown_sources = ["AuthorizedKeysCommand %s" % keys["command"]] if keys.get("command") else []
    if _none(facts.value("trustedusercakeys")):
        unknown_sources.append("a certificate signed by TrustedUserCAKeys %s" % facts.value("trustedusercakeys"))
    unchecked = [f["path"] for f in keys.get("files") or [] if f.get("status") in ("symlink", "error", "oversized")]
    unknown_sources += ["%s (not read here)" % path for path in unchecked]
    wanted = facts.wanted
    if wanted:
        fingerprint = wanted["fingerprint"]
        mine = [e for e in entries if e.get("fingerprint") == fingerprint]
        notes = []
        for entry in mine:
            if not entry.get("usable"):
                continue
            problem, note = _from_check(facts, entry)
            if note:
                notes.append(note)
            if problem is None and not (root_forced and not any(o.startswith("command=") for o in entry.get("options") or [])):
                state.note = "; ".join(notes) or None
                return state
            if problem is not None:
                state.findings.append(problem)
        if mine and not state.findings:
            for entry in mine:
                state.findings.extend(_file_findings(facts, entry["file"]) or _entry_findings(facts, entry))
                if state.findings:
                    break
        if not mine:
            split = [f for f in keys.get("findings", []) if f.get("fingerprint") == fingerprint and f.get("kind") == "invalid"]
            if split:
                state.findings.append(_split_finding(facts, split[0]))
        if not state.findings and not mine:
            if unknown_sources:
                state.usable = None
                state.note = "the key is in no file read here; %s may hold it" % " or ".join(unknown_sources)
                return state
            state.findings.append(_missing_finding(facts, fingerprint, paths, unchecked))
        if not state.findings:
            state.findings.append(
                finding(
                    "key_unusable",
                    "key not usable",
                    "the key %s is in %s but sshd would not use it" % (fingerprint, mine[0]["file"]),
                    "see the key audit for %s" % mine[0]["file"],
                    "run fleetauth.ssh.authorized_key_audit for %s" % user,
                    methods=["publickey"],
                )
            )
        state.usable = False
        return state
    usable = [e for e in entries if e.get("usable")]
    if usable:
        return state
    if not evidence:
        if unknown_sources:
            state.usable = None
            state.note = "no key found here; %s may hold keys" % " or ".join(unknown_sources)
            return state
        state.usable = False
        state.findings.append(_missing_finding(facts, None, paths, unchecked))
        return state
    state.usable = False
    for path in paths:
        state.findings.extend(_file_findings(facts, path))
    splits = [f for f in keys.get("findings", []) if f.get("kind") == "invalid" and f.get("reason") == "split_key"]
    if splits and not state.findings:
        state.findings.append(_split_finding(facts, splits[0]))
    if not state.findings:
        for entry in entries:
            state.findings.extend(_entry_findings(facts, entry))
    if not state.findings and unknown_sources:
        state.usable = None
        state.note = "no usable key found here; %s may hold keys" % " or ".join(unknown_sources)
    elif not state.findings:
        state.findings.append(_missing_finding(facts, None, paths, unchecked))
    return state


def _none(value):
    return None if value in (None, "", "none") else value


def _split_finding(facts, item):
    path = item.get("file")
    first, last = item.get("line"), item.get("end_line") or item.get("line")
    return finding(
        "key_split",
        "key split over several lines",
        item.get("message") or "a key in %s is split over lines %s-%s" % (path, first, last),
        "sshd reads authorized_keys one line per key; the pieces of a key broken by a paste are not keys at all, so the key never matches",
        "join lines %s-%s of %s into one line (no line break inside the base64), or remove them and add the key again as one line "
        "(fleetauth.ssh.authorized_key_audit with state=enforce removes the broken lines)" % (first, last, path),
        methods=["publickey"],
        where="%s lines %s-%s" % (path, first, last),
    )


def _missing_finding(facts, fingerprint, paths, unchecked):
    keys = facts.keys or {}
    user = facts.user
    read = ", ".join(paths) or "(none: AuthorizedKeysFile none)"
    elsewhere = keys.get("elsewhere") or []
    extra = ""
    if elsewhere:
        extra = "; it is in %s, which sshd does not read for %s (AuthorizedKeysFile %s)" % (
            ", ".join(elsewhere),
            user,
            " ".join(keys.get("templates") or []),
        )
    if unchecked:
        extra += "; not checked here: %s" % ", ".join(unchecked)
    target = paths[0] if paths else "~%s/.ssh/authorized_keys" % user
    type_note = ""
    wanted = facts.wanted or {}
    if wanted.get("refused"):
        type_note = " Note: %s." % wanted["refused"]
    if fingerprint:
        found = "the key %s is not in the files sshd reads for %s: %s%s" % (fingerprint, user, read, extra)
        why = "sshd accepts only keys listed in AuthorizedKeysFile (or given by AuthorizedKeysCommand)"
        fix = "add the public key as one line to %s (owned by %s, mode 0600; e.g. ssh-copy-id)%s" % (target, user, type_note)
        title = "key missing"
    else:
        existing = [f for f in keys.get("files") or [] if f.get("status") == "ok"]
        found = "%s has no usable key: %s%s" % (user, "the files are empty" if existing else "none of %s exists" % read, extra)
        why = "publickey needs a key listed in AuthorizedKeysFile"
        fix = "add the user's public key to %s (owned by %s, mode 0600; e.g. ssh-copy-id)" % (target, user)
        title = "key missing (no authorized key)"
    return finding("key_missing", title, found, why, fix, methods=["publickey"], where=target)


def password_state(facts, root_refusals):
    state = MethodState("password", credential=facts.shadow is None or facts.shadow.get("state") != "no_password")
    if not facts.flag("passwordauthentication"):
        state.usable = False
        state.findings.append(
            _disabled(facts, "password_auth_off", "password authentication is off", "PasswordAuthentication", "passwordauthentication", "password")
        )
        return state
    if "password" in root_refusals:
        state.usable = False
        state.findings.append(root_refusals["password"])
        return state
    if facts.use_pam:
        ok, findings = _stack_findings(facts, "auth", "password")
        state.usable = ok
        state.findings.extend(findings)
        if ok is None:
            state.note = "PAM stack not checked"
        return state
    shadow = facts.shadow
    if shadow is None:
        state.usable = None
        state.note = "/etc/shadow not readable"
        return state
    if shadow["state"] == "locked":
        state.findings.append(locked_finding(facts, ["password"]))
    elif shadow["state"] == "no_password":
        state.findings.append(pam_tag_finding(facts, ("no_password", None), "auth", "password"))
    elif shadow["state"] == "empty" and not facts.flag("permitemptypasswords", "no"):
        state.findings.append(
            finding(
                "empty_password",
                "empty password refused",
                "%s has an empty password and PermitEmptyPasswords is no" % facts.user,
                "sshd refuses empty passwords unless PermitEmptyPasswords yes",
                "passwd %s (set a password)" % facts.user,
                methods=["password"],
            )
        )
    state.usable = not state.findings
    return state


def kbdint_state(facts, root_refusals):
    method = "keyboard-interactive"
    credential = True
    if password_in_stack(facts) and facts.shadow is not None and facts.shadow.get("state") == "no_password":
        credential = False
    state = MethodState(method, credential=credential)
    if not facts.kbd_enabled:
        state.usable = False
        lower = "challengeresponseauthentication" if facts.kbd_keyword == "ChallengeResponseAuthentication" else "kbdinteractiveauthentication"
        state.findings.append(_disabled(facts, "kbdint_off", "keyboard-interactive authentication is off", facts.kbd_keyword, lower, method))
        return state
    if not facts.use_pam:
        where = facts.where("usepam")
        state.usable = False
        state.findings.append(
            finding(
                "kbdint_without_pam",
                "keyboard-interactive without PAM",
                "UsePAM no%s while keyboard-interactive is on" % _at(where, "UsePAM"),
                "on Linux keyboard-interactive has no other backend than PAM, so it never succeeds",
                _setting_fix(facts, "UsePAM", "yes", "usepam"),
                methods=[method],
                where=where,
            )
        )
        return state
    if method in root_refusals:
        state.usable = False
        state.findings.append(root_refusals[method])
        return state
    ok, findings = _stack_findings(facts, "auth", method)
    state.usable = ok
    state.findings.extend(findings)
    if ok is None:
        state.note = "PAM stack not checked"
    return state


# ------------------------------------------------------------------ chains and ranking


def chains_of(facts):
    """The alternatives sshd offers: lists of method names (``any`` gives each method alone)."""
    value = str(facts.value("authenticationmethods", "any") or "any").strip()
    if value.lower() == "any" or not value:
        return [[m] for m in METHODS], False
    chains = []
    for alternative in value.split():
        chain = [m.split(":", 1)[0] for m in alternative.split(",") if m]
        if chain and chain not in chains:
            chains.append(chain)
    return chains, True


def _chain_state(chain, states):
    blocked = []
    unknown = False
    for method in chain:
        state = states.get(method)
        if state is None:
            unknown = True
            continue
        if state.usable is False:
            blocked.append(state)
        elif state.usable is None:
            unknown = True
    if blocked:
        return False, blocked
    return (None if unknown else True), []


def _method_rank(facts, method):
    """Which blocked method names the cause when several ways in fail: keys first, then what the user would type a password into
    (keyboard-interactive first when the PAM stack asks for a second factor, which the password method cannot answer)."""
    if method == "publickey":
        return 0
    kbd_first = second_factor_in_stack(facts)
    order = ("keyboard-interactive", "password") if kbd_first else ("password", "keyboard-interactive")
    return 1 + order.index(method) if method in order else 9


def _relevant(facts, chain, states):
    if facts.wanted:
        return "publickey" in chain
    return all(states[m].credential for m in chain if m in states)


def _chain_key(facts, chain, states):
    missing_credentials = sum(1 for m in chain if m in states and not states[m].credential)
    first_blocked = next((m for m in chain if m in states and states[m].usable is False), None)
    return (
        0 if _relevant(facts, chain, states) else 1,
        missing_credentials,
        _method_rank(facts, first_blocked) if first_blocked else 0,
        len(chain),
    )


def _not_needed(item, ways):
    out = dict(item, severity="info" if item.get("severity") == "high" else item.get("severity"))
    out["why"] = item["why"] + " (not needed: the user gets in with %s)" % " or ".join(",".join(w) for w in ways)
    return out


def _dedupe(findings):
    out, seen = [], set()
    for item in findings:
        key = (item["id"], item["found"])
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out


# ------------------------------------------------------------------ logs


_LOG_HINTS = (
    (re.compile(r"bad ownership or modes"), "wrong_permissions"),
    (re.compile(r"listed in DenyUsers"), "user_in_denyusers"),
    (re.compile(r"not listed in AllowUsers"), "user_not_in_allowusers"),
    (re.compile(r"listed in DenyGroups"), "group_in_denygroups"),
    (re.compile(r"listed in AllowGroups"), "group_not_in_allowgroups"),
    (re.compile(r"account is locked"), "account_locked"),
    (re.compile(r"shell \S+ does not exist"), "shell_missing"),
    (re.compile(r"(?i)account (has )?expired"), "account_expired"),
    (re.compile(r"google_authenticator.*(No such file|Failed to read)|Failed to read \S*google_authenticator"), "totp_secret_missing"),
    (re.compile(r"maximum authentication attempts exceeded|Too many authentication failures"), "too_many_attempts"),
)


def sanitize_log_line(line):
    line = _CONTROL.sub("?", line.rstrip("\n"))
    line = _LOG_SECRETISH.sub(r"\1***", line)
    return line if len(line) <= MAX_LOG_LINE else line[: MAX_LOG_LINE - 1] + "\u2026"


_SSHD_IDENT = re.compile(r"\ssshd(?:-session|-auth)?(?:\([^)]*\))?\[\d+\]:")


def filter_log_lines(lines, user, limit):
    """The last *limit* lines sshd (or a PAM module inside it) logged that name *user* as a whole word, sanitised."""
    word = re.compile(r"(?<![\w.@-])" + re.escape(user) + r"(?![\w.@-])")
    picked = [sanitize_log_line(line) for line in lines if _SSHD_IDENT.search(line) and word.search(line)]
    return picked[-limit:] if limit else []


_FAILED = re.compile(
    r"Failed (?:publickey|password|keyboard-interactive\S*) for|Connection closed by authenticating user|"
    r"Disconnecting authenticating user|error: PAM: Authentication failure|maximum authentication attempts exceeded"
)
_ACCEPTED = re.compile(r"Accepted \S+ for ")


def failures_since_success(lines):
    """Log lines of failed attempts after the last accepted login."""
    out = []
    for line in lines:
        if _ACCEPTED.search(line):
            out = []
        elif _FAILED.search(line):
            out.append(line)
    return out


def log_hints(lines):
    found = []
    for line in lines:
        for pattern, fid in _LOG_HINTS:
            if pattern.search(line) and fid not in found:
                found.append(fid)
    return found


# ------------------------------------------------------------------ the diagnosis


def _pam_module_warnings(facts, reported):
    """Every module of the sshd PAM stacks that is not on disk, also those whose line does not stop the login."""
    pam = facts.pam or {}
    if pam.get("error"):
        return []
    named = " ".join(f["found"] for f in reported if f["id"] == "pam_module_missing")
    out = []
    for stack in ("auth", "account", "session"):
        for handler in pam.get(stack) or []:
            if handler.kind != "module" or pam.get("exists", {}).get(handler.module, True) or handler.module in named:
                continue
            named += " " + handler.module
            out.append(
                finding(
                    "pam_module_missing",
                    "PAM module missing (harmless here)",
                    "%s is not installed (%s)" % (handler.module, handler.describe()),
                    "its line is optional or its failure is ignored, so it does not stop the login; it does nothing either",
                    "install it, or remove the line from %s" % pam.get("path", "/etc/pam.d/sshd"),
                    severity="low",
                    where=handler.describe(),
                )
            )
    return out


def _key_file_warnings(facts, reported):
    """Key files that could not be checked (links, special files, too large, unreadable) and hard-linked ones."""
    keys = facts.keys or {}
    seen = " ".join(f["found"] for f in reported)
    out = []
    for item in keys.get("findings") or []:
        if item.get("kind") not in ("symlink", "not_regular_file", "oversized_file", "read_error", "hardlink") or item["message"] in seen:
            continue
        out.append(
            finding(
                "key_file_" + item["kind"],
                "key file not checked" if item["kind"] != "hardlink" else "key file has several hard links",
                item["message"],
                "what sshd makes of this file could not be checked here",
                "make %s a regular file owned by %s, mode 0600, not a link" % (item.get("file"), facts.user),
                severity="medium" if item.get("severity") == "high" else "low",
                methods=["publickey"],
                where=item.get("file"),
            )
        )
    return out


def _max_auth_tries(facts, states):
    try:
        tries = int(facts.value("maxauthtries", 6))
    except (TypeError, ValueError):
        return None
    keys = len((facts.keys or {}).get("entries") or [])
    if tries >= 6 and keys < tries:
        return None
    where = facts.where("maxauthtries")
    return finding(
        "max_auth_tries",
        "MaxAuthTries is low for agents with many keys",
        "MaxAuthTries %d%s; %s has %d authorized key(s)" % (tries, _at(where, "MaxAuthTries"), facts.user, keys),
        "every key an agent offers that the server does not accept counts as a failed attempt: a client whose agent holds %d or more "
        "other keys is cut off ('Too many authentication failures') before it offers the right one" % max(tries - 1, 1),
        "on the client use `IdentitiesOnly yes` with `IdentityFile` for this host (ssh -o IdentitiesOnly=yes -i KEY), or raise MaxAuthTries%s"
        % (" at " + where if where else ""),
        severity="low",
        methods=["publickey"],
        where=where,
    )


def diagnose(facts):
    """The verdict for one host: ``{status, cause, verdict, findings, methods, chains, ...}`` (pure)."""
    user = facts.user
    blocking, warnings, notes = [], [], list(facts.notes)
    states = {}
    chains, explicit = [], False
    if facts.sshd_error:
        warnings.append(
            finding(
                "sshd_config_unreadable",
                "effective sshd settings unknown",
                "sshd -T failed: %s" % facts.sshd_error,
                "sshd's own settings for this user could not be read; a configuration sshd rejects also makes the next reload fail",
                "run `sshd -t` on the host and fix what it reports",
                severity="medium",
            )
        )
    if facts.account is None:
        blocking.append(
            finding(
                "no_such_user",
                "no such user",
                "there is no account %s in the passwd database" % user,
                "sshd refuses unknown users ('Invalid user') whatever the method",
                "create the account (useradd -m %s) or log in with the right user name" % user,
            )
        )
    else:
        blocking.extend(access_findings(facts))
        shell = shell_findings(facts)
        blocking.extend(shell)
        root_block, root_refusals = root_findings(facts)
        blocking.extend(root_block)
        expired, pw_aging = aging(facts.shadow, facts.today)
        if facts.use_pam:
            ok, account_findings = _stack_findings(facts, "account", None)
            blocking.extend(account_findings)
            if pw_aging == "must_change":
                warnings.append(password_aging_findings(facts, pw_aging))
            _ok, session_findings = _stack_findings(facts, "session", None)
            for item in session_findings:
                item["why"] += " (the login closes right after authentication)"
            blocking.extend(session_findings)
            if ok is None and facts.pam is not None and facts.pam.get("error"):
                notes.append("PAM not checked: %s" % facts.pam["error"])
        else:
            if facts.shadow and facts.shadow.get("state") == "locked":
                blocking.append(locked_finding(facts, ["all"], blocking_all=True))
            if expired:
                blocking.append(expired_finding(facts))
            elif pw_aging:
                warnings.append(password_aging_findings(facts, pw_aging))
            if facts.nologin and (facts.account or {}).get("uid") != 0:
                blocking.append(pam_tag_finding(facts, ("nologin", None), "account", None))
        states = {
            "publickey": publickey_state(facts),
            "password": password_state(facts, root_refusals),
            "keyboard-interactive": kbdint_state(facts, root_refusals),
        }
        chains, explicit = chains_of(facts)
    # -- the ways in
    chain_info = []
    for chain in chains:
        ok, blocked = _chain_state(chain, states)
        chain_info.append({"methods": chain, "ok": ok, "blocked_by": [f["id"] for s in blocked for f in s.findings]})
    working = [c for c, info in zip(chains, chain_info) if info["ok"] is not False]
    relevant_working = [c for c in working if _relevant(facts, c, states)]
    broken = [c for c, info in zip(chains, chain_info) if info["ok"] is False]
    broken.sort(key=lambda c: _chain_key(facts, c, states))
    path_blockers = []
    for chain in broken:
        for method in chain:
            state = states.get(method)
            if state is not None and state.usable is False:
                for item in state.findings:
                    if _relevant(facts, chain, states) or (not working and chain is broken[0]):
                        path_blockers.append(item)
                    else:
                        info = dict(item, severity="info")
                        info["why"] = item["why"] + " (this user does not use %s here)" % method
                        warnings.append(info)
    if not blocking and not chains and facts.account is not None:
        notes.append("no authentication method is offered")
    pubkey = states.get("publickey")
    if relevant_working:
        # a way in works for credentials the user holds: the other alternatives do not stop it
        warnings += [_not_needed(item, relevant_working) for item in path_blockers]
        path_blockers = []
        status = "ok"
        if pubkey is not None and key_traces(facts) and pubkey.usable is False:
            status = "problem"
            path_blockers = list(pubkey.findings)
    elif working:
        status = "problem" if any(_relevant(facts, c, states) for c in broken) else "ok"
        if status == "ok":
            warnings += [_not_needed(item, working) for item in path_blockers]
            path_blockers = []
    else:
        status = "denied"
    if blocking:
        status = "denied"
    # a locked account is worth naming even when a key still gets the user in
    if facts.shadow and facts.shadow.get("state") == "locked" and not any(f["id"] == "account_locked" for f in blocking + path_blockers):
        locked = locked_finding(facts, ["password", "keyboard-interactive"])
        locked["severity"] = "medium"
        if status == "ok":
            status = "problem"
            path_blockers.append(locked)
        else:
            warnings.append(locked)
    warnings += _pam_module_warnings(facts, blocking + path_blockers) + _key_file_warnings(facts, blocking + path_blockers)
    warnings = [w for w in warnings if not any(w["id"] == b["id"] and w["found"] == b["found"] for b in blocking + path_blockers)]
    tries = _max_auth_tries(facts, states) if facts.account is not None else None
    if tries:
        warnings.append(tries)
    for note in [s.note for s in states.values() if s.note]:
        notes.append(note)
    command = (facts.keys or {}).get("command")
    if command:
        notes.append("sshd also asks AuthorizedKeysCommand %s for %s's keys; it was not run here, so keys it supplies are not checked" % (command, user))
    for block in facts.match_blocks:
        if block.get("applies"):
            notes.append("Match %s (%s) applies to %s" % (block["criteria"], block["where"], user))
        elif block.get("connection"):
            notes.append(
                "Match %s (%s) depends on the client (assumed %s): set diagnose_from_addr to the real address to evaluate it"
                % (block["criteria"], block["where"], facts.context.get("addr"))
            )
    blocking = _dedupe(blocking + path_blockers)
    for item in blocking:
        item["blocking"] = True
        if SEVERITY_ORDER.get(item["severity"], 3) > 0 and status == "denied":
            item["severity"] = "high"
    warnings = _dedupe(warnings)
    warnings.sort(key=lambda f: SEVERITY_ORDER.get(f["severity"], 3))
    lines = (facts.logs or {}).get("lines") or []
    hints = log_hints(lines)
    for item in blocking + warnings:
        if item["id"] in hints:
            item["log_evidence"] = True
    if "too_many_attempts" in hints and not blocking:
        warnings.insert(
            0,
            finding(
                "too_many_attempts",
                "too many authentication attempts",
                "the sshd log shows 'Too many authentication failures' for %s" % user,
                "the client offered more keys or passwords than MaxAuthTries allows before the right one",
                "on the client use `IdentitiesOnly yes` with the right `IdentityFile`",
                severity="medium",
            ),
        )
    works = [",".join(c) for c in relevant_working or working]
    failed = failures_since_success(lines) if status == "ok" else []
    if failed:
        accepted = [e.get("fingerprint") for e in (facts.keys or {}).get("entries") or [] if e.get("usable")]
        warnings.insert(
            0,
            finding(
                "recent_failures",
                "failed logins in the log",
                "the sshd log shows %d failed attempt(s) for %s since its last successful login (latest: %s)" % (len(failed), user, failed[-1]),
                "this server lets %s in with %s, so the failing client offers something else: most often a key that is not authorized, "
                "or it gives up before the second step" % (user, " or ".join(works)),
                "run the diagnosis again with the client's public key (diagnose_public_key, or diagnose_fingerprint from `ssh-keygen -lf KEY.pub`); "
                "keys sshd accepts for %s: %s" % (user, ", ".join(accepted) or "none"),
                severity="medium",
            ),
        )
    findings = blocking + warnings
    primary = blocking[0] if blocking else None
    result = {
        "user": user,
        "status": status,
        "cause": primary["id"] if primary else None,
        "verdict": verdict_line(user, status, blocking, works, len(failed)),
        "findings": findings,
        "methods": {name: state.as_dict() for name, state in states.items()},
        "chains": chain_info,
        "authentication_methods": str(facts.value("authenticationmethods", "any")) if explicit else "any",
        "effective": {k: (facts.effective or {})[k] for k in EFFECTIVE_KEYS if k in (facts.effective or {})},
        "context": {k: v for k, v in facts.context.items() if k != "neutral"},
        "logs": {"source": (facts.logs or {}).get("source"), "lines": lines, "error": (facts.logs or {}).get("error")},
        "notes": notes,
    }
    if facts.wanted:
        result["key"] = {k: v for k, v in facts.wanted.items() if k in ("fingerprint", "type", "given")}
    return result


def verdict_line(user, status, blocking, works, failed=0):
    if status == "ok":
        text = "no problem found: %s can log in with %s" % (user, " or ".join(works) if works else "the methods sshd offers")
        if failed:
            text += " (but the sshd log shows %d failed attempt(s) since the last success: check the client's key with diagnose_public_key)" % failed
        return text
    primary = blocking[0]
    head = "login denied" if status == "denied" else "problem"
    text = "%s for %s: %s [%s, %s] - %s. Fix: %s." % (head, user, primary["title"], primary["severity"], primary["id"], primary["found"], primary["fix"])
    others = ["%s (%s)" % (f["title"], f["id"]) for f in blocking[1:] if f["title"] != primary["title"]]
    if others:
        text += " Also blocking: %s." % "; ".join(dict.fromkeys(others))
    if status == "problem" and works:
        text += " (%s can still log in with %s.)" % (user, " or ".join(works))
    return text


# ------------------------------------------------------------------ the request


def parse_wanted(public_key=None, fingerprint=None):
    """``{fingerprint, type, given}`` from a public key line or a SHA256 fingerprint (DiagnoseError when invalid)."""
    if public_key and fingerprint:
        raise DiagnoseError("give public_key or fingerprint, not both")
    if fingerprint:
        text = fingerprint.strip()
        if not _FINGERPRINT.fullmatch(text):
            raise DiagnoseError("fingerprint %r is not a SHA256 fingerprint as `ssh-keygen -lf` prints it (SHA256: and 43 base64 characters)" % text[:60])
        return {"fingerprint": text, "type": None, "given": "fingerprint"}
    if public_key:
        lines = [line.strip() for line in public_key.strip().splitlines() if line.strip()]
        if len(lines) != 1:
            raise DiagnoseError("public_key must be one line (type, base64 and an optional comment); got %d lines" % len(lines))
        line = ak.parse_line(1, lines[0].encode("utf-8", "surrogateescape"))
        if line.kind != ak.KEY or line.key is None:
            raise DiagnoseError("public_key is not a public key sshd can read: %s" % (line.message or "no key found"))
        return {"fingerprint": line.key.fingerprint, "type": line.key.type_name, "given": "public_key"}
    return None


def connection_context(user, from_addr=None, from_host=None, local_addr=None, local_port=None):
    """The ``sshd -T -C`` context: the client address (a neutral one when unknown), its name (sshd uses the address with UseDNS no)."""
    neutral = not from_addr
    addr = from_addr or NEUTRAL_ADDR
    context = {"user": user, "host": from_host or addr, "addr": addr}
    if local_addr:
        context["laddr"] = local_addr
    if local_port:
        context["lport"] = int(local_port)
    context["neutral"] = neutral
    return context


# ------------------------------------------------------------------ gathering (I/O)


class _MemoRuntime(SshdRuntime):
    """SshdRuntime that runs ``sshd -T`` once per context (the key audit asks for the same one)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._effective = {}

    def effective(self, config_path=None, context=None):
        key = (config_path, tuple(sorted((context or {}).items())))
        if key not in self._effective:
            self._effective[key] = super().effective(config_path=config_path, context=context)
        return self._effective[key]


def _account(user):
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        return None
    return {"name": entry.pw_name, "uid": entry.pw_uid, "gid": entry.pw_gid, "home": entry.pw_dir, "shell": entry.pw_shell or "/bin/sh"}


def _shell(path):
    try:
        st = os.stat(path)
    except OSError:
        return {"path": path, "exists": False, "regular": False, "executable": False}
    return {"path": path, "exists": True, "regular": stat.S_ISREG(st.st_mode), "executable": bool(st.st_mode & 0o111)}


def _shadow(user, notes):
    try:
        data = read_bytes("/etc/shadow", max_bytes=64 << 20)
    except (AtomicWriteError, OSError) as exc:
        notes.append("/etc/shadow not read (%s): password state, locks and expiry not checked; run with become" % exc)
        return None
    if data is None:
        return None
    return parse_shadow(data, user)


def _origins(tree, effective, matcher, version):
    """Where each keyword's effective value comes from (file and line, and its Match block)."""
    origins = {}
    names = {
        "pubkeyauthentication": ["pubkeyauthentication"],
        "passwordauthentication": ["passwordauthentication"],
        "kbdinteractiveauthentication": ["kbdinteractiveauthentication", "challengeresponseauthentication"]
        if version is None or version >= (8, 7)
        else ["kbdinteractiveauthentication"],
        "challengeresponseauthentication": ["challengeresponseauthentication"],
        "authenticationmethods": ["authenticationmethods"],
        "usepam": ["usepam"],
        "permitrootlogin": ["permitrootlogin"],
        "maxauthtries": ["maxauthtries"],
        "pubkeyacceptedalgorithms": ["pubkeyacceptedalgorithms", "pubkeyacceptedkeytypes"],
        "authorizedkeysfile": ["authorizedkeysfile"],
        "strictmodes": ["strictmodes"],
    }
    for key, spellings in names.items():
        occ = tree.effective(spellings, matcher)
        if occ is None:
            continue
        where = occ.where()
        if occ.block is not None and not occ.block.is_all:
            where += " inside Match %s (line %d)" % (occ.block.criteria, occ.block.lineno)
        value = " ".join(occ.args).lower()
        seen = str((effective or {}).get(key, "")).lower()
        if key in ("pubkeyauthentication", "passwordauthentication", "kbdinteractiveauthentication", "usepam", "maxauthtries") and seen and value != seen:
            where = "not from the configuration files: sshd's command line (-o, e.g. SSHD_OPTS in /etc/default/ssh) sets it"
        origins[key] = where
    lists = {}
    for key in ("allowusers", "denyusers", "allowgroups", "denygroups"):
        for occ in tree.find([key]):
            if occ.chain and not all(matcher(block) for block in occ.chain):
                continue
            where = occ.where() + (" inside Match %s (line %d)" % (occ.block.criteria, occ.block.lineno) if occ.block is not None else "")
            for pattern in occ.args:
                lists.setdefault(key, []).append((pattern, where))
    return origins, lists


def _match_blocks(tree, matcher):
    out = []
    for block in tree.blocks():
        if block.is_all:
            continue
        attrs = {a.lower() for a in block.args[0::2]}
        out.append(
            {
                "criteria": block.criteria,
                "where": "%s line %d" % (block.path, block.lineno),
                "applies": bool(matcher(block)),
                "connection": bool(attrs & {"address", "host", "localaddress", "localport", "rdomain"}),
            }
        )
    return out


def _keys(facts_account, runtime, context, sshd_config, wanted, effective):
    """The key audit of :mod:`._key_audit` for one account, reduced to plain data."""
    account = Account(facts_account["name"], facts_account["uid"], facts_account["gid"], facts_account["home"])
    connection = {k: v for k, v in context.items() if k not in ("user", "neutral")}
    policy = Policy(
        min_rsa_bits=1024, remove=(), fix_permissions=False, key_report="full", connection=connection, effective_config="per_user", sshd_config=sshd_config
    )
    auditor = Auditor(policy, runtime=runtime)
    try:
        configs = auditor.configure([account])
        auditor.audit([account], configs)
    except AuditError as exc:
        return {"error": str(exc)}
    finally:
        auditor.walker.close()
    report = auditor.reports[0] if auditor.reports else None
    cfg = configs.get(account.name) or EffectiveConfig(effective)
    paths = [fr.path for fr in report.files] if report is not None else []
    out = {
        "paths": paths,
        "templates": list(cfg.authorized_keys_files),
        "files": report.file_summaries if report is not None else [],
        "entries": [e for e in (report.keys if report is not None else []) if isinstance(e, dict)],
        "findings": [f for f in auditor.findings if f.get("user") == account.name],
        "command": cfg.command,
        "strict_rule": auditor.strict_rule,
        "key_dir": _is_dir(os.path.dirname(paths[0])) if paths else False,
        "notes": list(auditor.notes),
    }
    if report is not None:
        for fr in report.files:
            if fr.status in ("symlink", "error", "oversized", "not_regular"):
                for summary in out["files"]:
                    if summary["path"] == fr.path:
                        break
                else:
                    out["files"].append({"path": fr.path, "status": fr.status})
    if wanted and not any(e.get("fingerprint") == wanted["fingerprint"] for e in out["entries"]):
        out["elsewhere"] = _look_elsewhere(account, paths, wanted["fingerprint"], runtime, policy)
    if wanted and wanted.get("type") and cfg.accepted_algorithms is not None and not ak.algorithm_accepted(wanted["type"], cfg.accepted_algorithms):
        wanted["refused"] = "sshd does not accept %s keys (PubkeyAcceptedAlgorithms): use another key type or allow it" % wanted["type"]
    return out


def _is_dir(path):
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def _look_elsewhere(account, paths, fingerprint, runtime, policy):
    """Usual key files sshd does not read for this user that hold the key (so the fix can say so)."""
    candidates = []
    for template in DEFAULT_AUTHORIZED_KEYS_FILES:
        try:
            path = normalize(expand_tokens(template, account))
        except AuditError:
            continue
        if path not in paths:
            candidates.append(template)
    if not candidates:
        return []
    cfg = EffectiveConfig({"authorizedkeysfile": " ".join(candidates), "strictmodes": "no"})
    auditor = Auditor(policy, runtime=None)
    try:
        auditor.audit([account], {account.name: cfg})
    except AuditError:
        return []
    finally:
        auditor.walker.close()
    report = auditor.reports[0] if auditor.reports else None
    if report is None:
        return []
    return sorted({e["file"] for e in report.keys if isinstance(e, dict) and e.get("fingerprint") == fingerprint})


def _read_pam(facts_account, pam_path, user, notes):
    host = PamHost()
    out = {"path": pam_path, "error": None, "exists": {}, "totp": {}}
    try:
        data = host.read_system(pam_path)
    except (AtomicWriteError, OSError) as exc:
        out["error"] = "cannot read %s: %s" % (pam_path, exc)
        return out
    if data is None:
        out["error"] = "%s does not exist (libpam then uses /etc/pam.d/other)" % pam_path
        return out
    try:
        records = _pam.parse(data.decode("utf-8", "surrogateescape"), source=pam_path)
        loader = host.loader(os.path.dirname(pam_path))
        for stack in ("auth", "account", "session"):
            out[stack] = _pam.resolve(records, stack, loader, pam_path)
    except (_pam.PamSyntaxError, Refusal) as exc:
        out["error"] = "cannot read the PAM stack: %s" % exc
        return out
    directory, how = host.security_dir()
    out["security_dir"] = directory
    if directory is None:
        notes.append("PAM module directory not found (%s): modules not checked" % how)
    for stack in ("auth", "account", "session"):
        for handler in out[stack]:
            if handler.kind == "module" and handler.module not in out["exists"]:
                out["exists"][handler.module] = True if directory is None and not handler.module.startswith("/") else host.module_exists(handler.module)
    if facts_account is not None:
        for index, handler in enumerate(out["auth"]):
            if handler.kind != "module" or handler.name != "pam_google_authenticator.so":
                continue
            out["totp"][index] = _totp(handler, facts_account, user)
    return out


def _totp(handler, account, user):
    spec = SECRET_DEFAULT
    owner = account
    for arg in handler.args:
        if arg.startswith("secret="):
            spec = arg[len("secret=") :]
        elif arg.startswith("user="):
            try:
                entry = pwd.getpwnam(arg[len("user=") :])
                owner = {"uid": entry.pw_uid, "home": entry.pw_dir}
            except KeyError:
                pass
    home = account["home"]
    path = expand_secret_path(spec, user, home)
    try:
        os.lstat(path)
    except PermissionError:
        return {"path": path, "state": "unknown", "reason": "%s could not be checked (permission denied: run with become)" % path}
    except OSError:
        pass
    state, reason = secret_state(path, owner["uid"])
    return {"path": path, "state": state, "reason": reason}


def _nologin():
    found = []
    for path in NOLOGIN_FILES:
        try:
            os.lstat(path)
        except OSError:
            continue
        real = os.path.realpath(path)
        if all(os.path.realpath(p) != real for p in found):
            found.append(path)
    return found


def read_logs(run, user, since, limit):
    """Recent sshd log lines naming *user*: journalctl first, then /var/log/auth.log or /var/log/secure."""
    journalctl = shutil.which("journalctl") or ("/usr/bin/journalctl" if os.path.exists("/usr/bin/journalctl") else None)
    error = None
    if journalctl:
        # By the syslog identifier (part of the message), or by unit: journald may miss the unit of a short-lived sshd child.
        args = [journalctl, "--no-pager", "--quiet", "--output", "short-iso", "--since", since, "--lines", "5000"]
        args += ["SYSLOG_IDENTIFIER=%s" % ident for ident in JOURNAL_IDENTIFIERS]
        args += ["+", "_SYSTEMD_UNIT=ssh.service", "+", "_SYSTEMD_UNIT=sshd.service"]
        rc, out, err = run(args)
        if rc == 0 and out.strip():
            return {"source": "journalctl (sshd) --since %s" % since, "lines": filter_log_lines(out.splitlines(), user, limit), "error": None}
        error = (err or "").strip()[:200] or None
    for path in AUTH_LOGS:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno not in (errno.ENOENT, errno.ENOTDIR):
                error = "%s: %s" % (path, exc.strerror)
            continue
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                continue
            os.lseek(fd, max(0, st.st_size - MAX_LOG_BYTES), os.SEEK_SET)
            chunks, total = [], 0
            while total < MAX_LOG_BYTES:
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    break
                chunks.append(chunk)
                total += len(chunk)
        finally:
            os.close(fd)
        text = b"".join(chunks).decode("utf-8", "replace")
        return {"source": path, "lines": filter_log_lines(text.splitlines(), user, limit), "error": None}
    return {"source": None, "lines": [], "error": error or "no journal and no /var/log/auth.log or /var/log/secure"}


def gather(params, run):
    """Read everything :func:`diagnose` needs from this host (read-only)."""
    user = params["user"]
    notes = []
    if os.geteuid() != 0:
        notes.append("not running as root (use become): other users' files, /etc/shadow and the journal may be unreadable")
    wanted = parse_wanted(params.get("public_key"), params.get("fingerprint"))
    context = connection_context(user, params.get("from_addr"), params.get("from_host"), params.get("local_addr"), params.get("local_port"))
    account = _account(user)
    groups = user_groups(user) if account else []
    if account and not groups:
        try:
            groups = [grp.getgrgid(account["gid"]).gr_name]
        except KeyError:
            groups = []
    runtime = _MemoRuntime(run, sshd_path=params.get("sshd_path"))
    sshd_context = {k: v for k, v in context.items() if k != "neutral"}
    version = effective = sshd_error = None
    try:
        version = runtime.version()
        effective = runtime.effective(config_path=params.get("sshd_config"), context=sshd_context)
    except SshdError as exc:
        sshd_error = str(exc)
    notes.extend(runtime.notes)
    origins, lists, blocks = {}, {}, []
    main = params.get("sshd_config") or "/etc/ssh/sshd_config"
    try:
        tree = ConfigTree.load(main, read_config, list_dir, legacy=version is not None and version < (8, 7))
        matcher = context_matcher(sshd_context, groups=groups)
        origins, lists = _origins(tree, effective, matcher, version)
        blocks = _match_blocks(tree, matcher)
    except (ConfigError, AtomicWriteError, OSError) as exc:
        notes.append("where settings come from is not shown: %s" % exc)
    facts = Facts(
        user,
        account=account,
        groups=groups,
        shell=_shell(account["shell"]) if account else None,
        shadow=_shadow(user, notes) if account else None,
        version=version,
        effective=effective,
        sshd_error=sshd_error,
        context=context,
        origins=origins,
        lists=lists,
        match_blocks=blocks,
        wanted=wanted,
        nologin=_nologin(),
        notes=notes,
    )
    if account is not None and effective is not None:
        facts.keys = _keys(account, runtime, sshd_context, params.get("sshd_config"), wanted, effective)
        notes.extend(facts.keys.get("notes", []))
    if account is not None and facts.use_pam:
        facts.pam = _read_pam(account, params.get("pam_file") or "/etc/pam.d/sshd", user, notes)
    facts.logs = read_logs(run, user, params.get("log_since") or "-24h", params.get("log_lines", 10))
    return facts


def run_module(module):
    """The body of fleetauth.ssh.ssh_login_diagnose: gather, diagnose, report; never changes anything."""
    try:
        facts = gather(module.params, module.run_command)
    except DiagnoseError as exc:
        module.fail_json(msg=str(exc), changed=False)
    result = diagnose(facts)
    module.exit_json(changed=False, **result)
