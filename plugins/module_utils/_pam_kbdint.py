# -*- coding: utf-8 -*-
# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The logic of fleetauth.ssh.pam_kbdint: plan the sshd PAM stack, refuse what locks people out.

Layers, top to bottom:

* :func:`strip_managed` (text only): the file as it was before this module
  touched it. Lines the module adds end with the comment
  ``# managed by fleetauth.ssh.pam_kbdint``; a line it takes away (the password
  step) stays in the file as ``# disabled by fleetauth.ssh.pam_kbdint: <the
  original line>``. Dropping the first kind and un-prefixing the second gives
  back the original bytes, and survives people reformatting, moving or adding
  arguments to a managed line.
* :func:`plan` (pure): the wanted file from that baseline and a
  :class:`Request`, placed structurally (before/after the password step).
* :func:`analyze` (pure): resolves the resulting auth stack through its
  includes and explores it with libpam's dispatch rules (``_pam.can_succeed``)
  to refuse an empty or always-failing stack, a stack that needs no credential
  at all, a second factor that can be skipped, and users who could no longer
  log in.
* :class:`Host`: everything read from the managed host (module directory,
  accounts, secret files, sshd's effective configuration); replaceable in tests.
* :func:`run`: the module's body.

Secrets are never read into results: a TOTP secret file is only stat()ed and an
OATH users file only yields its user names.
"""

from __future__ import annotations

import errno
import glob
import grp
import os
import pwd
import re
import stat
import sys

from . import _pam
from ._atomic import AtomicWriteError, read_bytes
from ._changes import ChangeSet
from ._sshd_runtime import SshdError, SshdRuntime

# The package that provides a second-factor PAM module, for "is not installed" messages.
MODULE_PACKAGES = {
    "pam_google_authenticator.so": "libpam-google-authenticator (Debian/Ubuntu) or google-authenticator (EPEL)",
    "pam_oath.so": "libpam-oath (Debian/Ubuntu) or pam_oath (EPEL)",
}

MARK = "fleetauth.ssh.pam_kbdint"
ADDED_COMMENT = "managed by " + MARK
DISABLED_PREFIX = "# disabled by " + MARK + ": "
_DISABLED_RE = re.compile(r"^[ \t]*# disabled by " + re.escape(MARK) + r": ")

DEFAULT_PATH = "/etc/pam.d/sshd"
REMOVE = "remove"
MAX_PAM_FILE = 1 << 20
MAX_USERSFILE = 4 << 20

FACTOR_MODULES = {"totp": "pam_google_authenticator.so", "oath": "pam_oath.so"}
KNOWN_FACTOR_MODULES = ("pam_google_authenticator.so", "pam_oath.so")
PROMPTS = {"totp": "Verification code: ", "totp_forward": "Password & verification code: ", "oath": "One-time password (OATH) for `USER': "}
# Modules that check a password (the "password step" is the line that brings one in).
PASSWORD_MODULES = ("pam_unix.so", "pam_unix2.so", "pam_sss.so", "pam_ldap.so", "pam_krb5.so", "pam_winbind.so", "pam_pwdb.so", "pam_userdb.so")
PASSWORD_INCLUDES = ("common-auth", "password-auth", "system-auth", "system-remote-login", "system-login")
# Modules that decide something without asking for any credential (for the "no credential needed" check).
NON_CREDENTIAL_MODULES = frozenset(
    (
        "pam_permit.so",
        "pam_env.so",
        "pam_faildelay.so",
        "pam_sepermit.so",
        "pam_nologin.so",
        "pam_succeed_if.so",
        "pam_usertype.so",
        "pam_localuser.so",
        "pam_echo.so",
        "pam_warn.so",
        "pam_motd.so",
        "pam_shells.so",
        "pam_keyinit.so",
        "pam_loginuid.so",
        "pam_limits.so",
        "pam_umask.so",
        "pam_lastlog.so",
        "pam_lastlog2.so",
        "pam_selinux.so",
        "pam_systemd.so",
        "pam_mail.so",
        "pam_group.so",
        "pam_rootok.so",
        "pam_access.so",
        "pam_time.so",
        "pam_tally.so",
        "pam_tally2.so",
        "pam_faillock.so",
        "pam_cap.so",
        "pam_mkhomedir.so",
        "pam_xauth.so",
        "pam_listfile.so",
        "pam_securetty.so",
        "pam_wheel.so",
        "pam_issue.so",
        "pam_gnome_keyring.so",
        "pam_kwallet5.so",
        "pam_deny.so",
        "pam_canonicalize_user.so",
        "pam_namespace.so",
        "pam_reauthorize.so",
        "pam_fprintd.so",
    )
)
ALL_VALUES = _pam.RETURN_CODES
NOLOGIN_SHELLS = ("nologin", "false", "sync", "shutdown", "halt")
SECRET_DEFAULT = "~/" + ".google_authenticator"
SECRET_MAX = 64 * 1024
USERSFILE_DEFAULT = "/etc/users.oath"

_NAME_RE = re.compile(r"^[A-Za-z0-9_.][A-Za-z0-9_.@$-]*$")


class Refusal(Exception):
    """The request is refused; nothing was written. The message says what, why and what to do."""


# ---------------------------------------------------------------- the request


class Request:
    """Validated module options."""

    def __init__(self, params):
        self.path = params.get("path") or DEFAULT_PATH
        self.second_factor = params["second_factor"]
        self.password_factor = params.get("password_factor") or "keep"
        self.order = params.get("order") or "after"
        totp = params.get("totp") or {}
        oath = params.get("oath") or {}
        exempt = params.get("exempt") or {}
        self.nullok = bool(totp.get("nullok")) and self.second_factor == "totp"
        self.secret = totp.get("secret")
        self.forward_pass = bool(totp.get("forward_pass")) and self.second_factor == "totp"
        self.usersfile = oath.get("usersfile") or USERSFILE_DEFAULT
        # exempt only means something next to a second factor (none removes those lines too)
        self.exempt_users = sorted(set(exempt.get("users") or [])) if self.second_factor != "none" else []
        self.exempt_groups = sorted(set(exempt.get("groups") or [])) if self.second_factor != "none" else []
        self.module_path = params.get("module_path") or FACTOR_MODULES.get(self.second_factor)
        self.args = []
        errors = []
        if not os.path.isabs(self.path):
            errors.append("path must be absolute, got %r" % self.path)
        if self.second_factor == "totp":
            self.args = self._totp_args(totp, errors)
        elif self.second_factor == "oath":
            self.args = self._oath_args(oath, errors)
        for kind, names in (("exempt.users", self.exempt_users), ("exempt.groups", self.exempt_groups)):
            for name in names:
                if not isinstance(name, str) or not _NAME_RE.match(name):
                    errors.append("%s: %r is not a valid name (letters, digits, '.', '_', '-', '@', '$'; no blanks or ':')" % (kind, name))
        if self.module_path is not None:
            if not self.module_path.endswith(".so") and "/" not in self.module_path:
                errors.append("module_path %r must name a PAM module file (e.g. pam_google_authenticator.so) or be an absolute path" % self.module_path)
            if any(ch in self.module_path for ch in " \t#[") or _pam.BAD_CHAR_RE.search(self.module_path):
                errors.append("module_path %r cannot contain blanks, '#', '[' or control characters" % self.module_path)
        if self.forward_pass and self.removes_password:
            errors.append("totp.forward_pass hands the password on to the password step, which password_factor=remove takes away; use one or the other")
        if self.forward_pass and self.order != "before":
            errors.append("totp.forward_pass asks for password and code in one prompt and passes the password on: it needs order=before")
        for arg in self.args:
            try:
                _pam.quote_arg(arg)
            except ValueError as exc:
                errors.append(str(exc))
        if errors:
            raise Refusal("invalid options: " + "; ".join(errors))

    @property
    def removes_password(self):
        return self.password_factor == REMOVE

    @property
    def factor(self):
        return self.second_factor != "none"

    @property
    def exempt(self):
        return bool(self.exempt_users or self.exempt_groups)

    @property
    def module_name(self):
        return _pam.module_basename(self.module_path) if self.module_path else None

    @property
    def adds_permit(self):
        """In remove mode nothing else can make the stack succeed for an exempt user or a nullok skip."""
        return self.factor and self.removes_password and (self.nullok or self.exempt)

    @staticmethod
    def _totp_args(totp, errors):
        args = []
        if totp.get("nullok"):
            args.append("nullok")
        secret = totp.get("secret")
        if secret:
            if not (secret.startswith("/") or secret.startswith("~") or secret.startswith("${HOME}")):
                errors.append("totp.secret must be an absolute path or start with ~ or ${HOME} (may contain ${USER}), got %r" % secret)
            args.append("secret=" + secret)
        for flag in ("echo_verification_code", "forward_pass", "no_increment_hotp", "noskewadj"):
            if totp.get(flag):
                args.append(flag)
        prompt = totp.get("authtok_prompt")
        if prompt:
            args.append("authtok_prompt=" + prompt)
        return args

    @staticmethod
    def _oath_args(oath, errors):
        usersfile = oath.get("usersfile") or USERSFILE_DEFAULT
        if not (usersfile.startswith("/") or usersfile.startswith("${HOME}")):
            errors.append("oath.usersfile must be an absolute path (may contain ${USER} or start with ${HOME}), got %r" % usersfile)
        args = ["usersfile=" + usersfile]
        window = oath.get("window")
        if window is not None:
            if not isinstance(window, int) or window < 1 or window > 1000:
                errors.append("oath.window must be between 1 and 1000, got %r" % window)
            args.append("window=%d" % window)
        digits = oath.get("digits")
        if digits is not None:
            if digits not in (6, 7, 8):
                errors.append("oath.digits must be 6, 7 or 8, got %r" % digits)
            args.append("digits=%d" % digits)
        return args


# ---------------------------------------------------------------- markers (text level)


def _logical_groups(lines):
    """Physical lines grouped into logical lines (continuations joined); text only."""
    groups = []
    current = []
    for line in lines:
        current.append(line)
        _piece, _comment, continued = _pam.physical_line(line)
        if not continued:
            groups.append(current)
            current = []
    if current:
        groups.append(current)
    return groups


def _is_managed(group):
    _piece, comment, _continued = _pam.physical_line(group[-1])
    return comment is not None and MARK in comment


def strip_managed(text):
    """The file as it was before this module: ``(text, added, disabled)`` counts included.

    Works on text alone (no parsing), so it also cleans up after a managed line
    someone broke by hand.
    """
    lines = _pam.split_lines(text)
    restored = 0
    for index, line in enumerate(lines):
        match = _DISABLED_RE.match(line)
        if match:
            lines[index] = line[match.end() :]
            restored += 1
    kept = []
    dropped = 0
    last_dropped_without_newline = False
    for group in _logical_groups(lines):
        if _is_managed(group):
            dropped += 1
            last_dropped_without_newline = not group[-1].endswith("\n")
            continue
        kept.extend(group)
        last_dropped_without_newline = False
    if last_dropped_without_newline and kept and kept[-1].endswith("\n"):
        kept[-1] = kept[-1][:-1]
    return "".join(kept), dropped, restored


def managed_lines(text):
    """Line numbers (1-based) of the lines this module added or disabled, in *text*."""
    found = []
    number = 1
    for group in _logical_groups(_pam.split_lines(text)):
        for offset, line in enumerate(group):
            if _DISABLED_RE.match(line) or (offset == len(group) - 1 and _is_managed(group)):
                found.append(number + offset)
        number += len(group)
    return found


# ---------------------------------------------------------------- the plan (pure)


class Plan:
    """The wanted records, and what was decided on the way."""

    def __init__(self, records, password_steps, disabled, added, notes):
        self.records = records
        self.password_steps = password_steps  # records (from the baseline) that are the password step
        self.disabled = disabled
        self.added = added  # rendered lines this module adds
        self.notes = notes

    @property
    def text(self):
        return _pam.render(self.records)


def _one_record(line):
    records = _pam.parse(line)
    if len(records) != 1:  # pragma: no cover - render_rule makes exactly one line
        raise Refusal("internal error: rendered line %r did not parse as one rule" % line)
    return records[0]


def factor_lines(request):
    """The lines this module adds for *request*, in order (text, newline-terminated)."""
    if not request.factor:
        return []
    conditions = []
    if request.exempt_users:
        conditions.append(["quiet", "user", "in", ":".join(request.exempt_users)])
    if request.exempt_groups:
        conditions.append(["quiet", "user", "ingroup", ":".join(request.exempt_groups)])
    lines = []
    for index, args in enumerate(conditions):
        skip = len(conditions) - index  # the remaining conditions and the factor line
        control = _pam.format_control([("success", str(skip)), ("default", "ignore")])
        lines.append(_pam.render_rule("auth", control, "pam_succeed_if.so", args, ADDED_COMMENT))
    lines.append(_pam.render_rule("auth", "required", request.module_path, request.args, ADDED_COMMENT))
    if request.adds_permit:
        lines.append(_pam.render_rule("auth", "required", "pam_permit.so", (), ADDED_COMMENT))
    return lines


def auth_tops(records, loader, source):
    """``{index: [handlers]}`` for the top-level records that put something on the auth stack."""
    tops = {}
    for handler in _pam.resolve(records, "auth", loader, source):
        tops.setdefault(handler.top, []).append(handler)
    return tops


def password_steps(records, tops):
    """Indices of the records that bring in the password check (pam_unix & co.)."""
    steps = []
    for index in sorted(tops):
        record = records[index]
        handlers = tops[index]
        brings_module = any(h.kind == "module" and h.name in PASSWORD_MODULES for h in handlers)
        unreadable_known = record.target in PASSWORD_INCLUDES and all(h.kind == "mustfail" for h in handlers if h.kind != "substack")
        if brings_module or unreadable_known:
            steps.append(index)
    return steps


def plan(baseline, request, loader, source):
    """The wanted records for *request* on the *baseline* records (the file without our lines)."""
    notes = []
    tops = auth_tops(baseline, loader, source)
    steps = password_steps(baseline, tops)
    if request.factor:
        existing = [h for handlers in tops.values() for h in handlers if h.kind == "module" and h.name in set(KNOWN_FACTOR_MODULES) | {request.module_name}]
        if existing:
            raise Refusal(
                "%s already has a second factor this module did not add: %s. Adding another would ask twice; remove that line, "
                "or let this module manage it by ending the line with the comment '# %s' (it will then be replaced)"
                % (source, "; ".join(h.describe() for h in existing), ADDED_COMMENT)
            )
    disabled = []
    replaced = {}
    if request.removes_password:
        for index in steps:
            record = baseline[index]
            if record.kind == "include" and loader(record.target) is None:
                raise Refusal(
                    "%s line %d includes %s, which does not exist, so what removing it would take away cannot be checked; nothing was written"
                    % (source, record.lineno, record.target)
                )
            if record.kind == "include":
                others = [t for t in ("account", "password", "session") if _pam.resolve([record], t, loader, source)]
                if others:
                    raise Refusal(
                        "%s line %d (%s) also brings %s lines, which password_factor=remove must keep; replace it by "
                        "'auth include %s' plus the other types you need, then run again"
                        % (source, record.lineno, record.text.strip(), "/".join(others), record.target)
                    )
            replaced[index] = _pam.Record([DISABLED_PREFIX + line for line in record.lines], record.lineno, "comment", None)
            disabled.append(record)
        if not steps:
            notes.append("no password step found in %s; nothing to remove" % source)
    added = factor_lines(request)
    if steps:
        at = steps[0] if request.order == "before" else steps[-1] + 1
    elif tops:
        at = min(tops) if request.order == "before" else max(tops) + 1
    else:
        firsts = [i for i, r in enumerate(baseline) if r.kind in ("rule", "include")]
        at = firsts[0] if firsts else len(baseline)
    if request.factor and not steps:
        notes.append("no password step found in %s; the second factor goes %s the auth lines" % (source, request.order))
    out = [replaced.get(index, record) for index, record in enumerate(baseline)]
    texts = list(added)
    if texts and at == len(out) and out and not out[-1].ends_with_newline:
        # The file ends without a newline: give its last line one and leave our last line without,
        # so that taking our lines out again gives back the same bytes.
        last = out[-1]
        out[-1] = last.copy(lines=last.lines[:-1] + [last.lines[-1] + "\n"])
        texts[-1] = texts[-1][:-1]
    out[at:at] = [_one_record(text) for text in texts]
    out = _pam.renumber(out)
    return Plan(out, [baseline[i] for i in steps], disabled, added, notes)


# ---------------------------------------------------------------- analysis (pure)


class Account:
    """A user who may log in, as far as the PAM stack is concerned."""

    __slots__ = ("exempt", "name", "reason", "state")

    def __init__(self, name, exempt=False, state="ok", reason=None):
        self.name = name
        self.exempt = exempt
        self.state = state  # ok | missing | unusable (the second factor's secret)
        self.reason = reason


def _is_ours(handler, source):
    record = handler.record
    return record is not None and handler.source == source and record.comment is not None and MARK in record.comment


def make_outcomes(request, source, module_exists, factor=None, exempt=None, credentials_fail=False):
    """The return values each handler may give in one scenario (see :func:`analyze`)."""

    def outcomes(handler):
        name = handler.name
        if _is_ours(handler, source):
            if name == request.module_name and factor is not None:
                return factor
            if name == "pam_succeed_if.so" and exempt is not None:
                return exempt
        if not module_exists(handler.module):
            return ("module_unknown",)
        if name == "pam_deny.so":
            return ("auth_err",)
        if name == "pam_permit.so":
            return ("success",)
        if credentials_fail and name not in NON_CREDENTIAL_MODULES:
            return ("auth_err", "user_unknown", "authinfo_unavail")
        return ALL_VALUES

    return outcomes


def analyze(records, request, loader, source, module_exists, accounts=None):
    """Refuse (raise :class:`Refusal`) what would lock people out or not protect anything.

    Returns a dict describing the resulting auth stack and who was checked.
    """
    handlers = _pam.resolve(records, "auth", loader, source)
    info = {"auth_stack": [h.describe() for h in handlers if h.kind != "substack"]}
    if not handlers or all(h.kind == "substack" for h in handlers):
        raise Refusal(
            "the auth stack of %s would be empty%s: nobody could log in with keyboard-interactive or password through PAM. "
            "Keep the password (password_factor=keep) or add a second factor"
            % (source, " after removing the password step" if request.removes_password else "")
        )

    def run(**scenario):
        return _pam.can_succeed(handlers, make_outcomes(request, source, module_exists, **scenario))

    if not run():
        missing = sorted({h.module for h in handlers if h.kind == "module" and not module_exists(h.module)})
        hint = " (modules not installed: %s)" % ", ".join(missing) if missing else ""
        raise Refusal(
            "the auth stack of %s would always fail%s: no path through it ends in success, so nobody could log in through PAM. Stack: %s"
            % (source, hint, " | ".join(info["auth_stack"]))
        )
    fail = ("auth_err",)
    if run(factor=fail, exempt=fail, credentials_fail=True):
        raise Refusal(
            "the auth stack of %s would let a user in without checking any credential (every password or code check can fail and it still succeeds). Stack: %s"
            % (source, " | ".join(info["auth_stack"]))
        )
    if request.factor and run(factor=fail, exempt=fail):
        raise Refusal(
            "the second factor in %s could be skipped: a line that runs before %s can end the auth stack with success (for example a "
            "'sufficient' module reached through 'include'). Use order=%s, or include the password file with 'substack' instead of 'include'. Stack: %s"
            % (source, request.module_name, "before" if request.order == "after" else "after", " | ".join(info["auth_stack"]))
        )
    if request.factor and request.exempt and not run(factor=ALL_VALUES, exempt=("success",)):
        raise Refusal("internal check failed: exempt users could not log in with the planned stack of %s; nothing was written" % source)
    if request.factor and accounts is not None:
        _check_accounts(accounts, request, source, run, info)
    return info


def _factor_values(request, state):
    if state == "ok":
        return ("success", "auth_err")
    if request.second_factor == "oath":
        return ("user_unknown",) if state == "missing" else ("auth_err",)
    if state == "missing" and request.nullok:
        return ("ignore",)
    return ("auth_err",)


def _check_accounts(accounts, request, source, run, info):
    results = {}
    locked = []
    for account in accounts:
        if account.exempt:
            key = ("exempt",)
            if key not in results:
                results[key] = run(factor=ALL_VALUES, exempt=("success",))
        else:
            key = ("user", account.state)
            if key not in results:
                results[key] = run(factor=_factor_values(request, account.state), exempt=("auth_err",))
        if not results[key]:
            locked.append(account)
    info["checked_users"] = sorted(a.name for a in accounts)
    info["exempt_users"] = sorted(a.name for a in accounts if a.exempt)
    info["users_without_second_factor"] = sorted(a.name for a in accounts if not a.exempt and a.state != "ok")
    if locked:
        what = {"totp": "TOTP (pam_google_authenticator)", "oath": "OATH (pam_oath)"}[request.second_factor]
        detail = ", ".join("%s (%s)" % (a.name, a.reason or a.state) for a in sorted(locked, key=lambda a: a.name))
        fixes = [
            "give them a usable secret" if request.second_factor == "totp" else "give them an entry in the users file",
            "add them to exempt.users or exempt.groups",
        ]
        if request.second_factor == "totp" and not request.nullok:
            fixes.append("set totp.nullok=true for a gradual rollout (users without a secret file then get in without a code)")
        raise Refusal(
            "%s would be required in %s%s, but these users, whom sshd lets in, could no longer log in: %s. Nothing was written. To go ahead: %s"
            % (what, source, " without nullok" if request.second_factor == "totp" and not request.nullok else "", detail, "; or ".join(fixes))
        )


# ---------------------------------------------------------------- what sshd must say (pure)


def _methods(value):
    if not value or value.strip().lower() == "any":
        return None
    return [alt.split(",") for alt in value.split()]


def _has_kbdint(chain):
    return any(m == "keyboard-interactive" or m.startswith("keyboard-interactive:") for m in chain)


def sshd_requirements(request, version, effective, error=None):
    """What sshd must say for this stack to take effect, and whether it does (``sshd -T``)."""
    report = {"version": "%d.%d" % version if version else None}
    if not request.factor:
        report.update({"settings": {}, "sshd_auth_methods": {}, "unmet": [], "satisfied": True})
        if error:
            report["error"] = error
        return report
    keyword = "KbdInteractiveAuthentication" if version is None or version >= (8, 7) else "ChallengeResponseAuthentication"
    methods = [["publickey", "keyboard-interactive"]]
    report["kbdint_keyword"] = keyword
    report["settings"] = {"UsePAM": "yes", keyword: "yes", "AuthenticationMethods": ",".join(methods[0])}
    report["sshd_auth_methods"] = {"use_pam": True, "kbdint": "enabled", "authentication_methods": methods}
    report["prompts"] = _prompts(request)
    if error or effective is None:
        report["error"] = error or "sshd -T was not run"
        report["unmet"] = None
        report["satisfied"] = None
        return report
    keys = (
        "usepam",
        "kbdinteractiveauthentication",
        "challengeresponseauthentication",
        "authenticationmethods",
        "passwordauthentication",
        "pubkeyauthentication",
    )
    report["effective"] = {k: effective[k] for k in keys if k in effective}
    unmet = []
    if effective.get("usepam", "").lower() != "yes":
        unmet.append("UsePAM yes (sshd says %s): without it sshd never runs the PAM stack" % effective.get("usepam", "nothing"))
    if version is not None and version < (8, 7) and effective.get("challengeresponseauthentication", "").lower() != "yes":
        unmet.append(
            "ChallengeResponseAuthentication yes (sshd %s says %s): up to OpenSSH 8.6 it turns keyboard-interactive through PAM on"
            % (report["version"], effective.get("challengeresponseauthentication", "nothing"))
        )
    if effective.get("kbdinteractiveauthentication", "").lower() != "yes":
        unmet.append("%s yes (sshd says kbdinteractiveauthentication %s)" % (keyword, effective.get("kbdinteractiveauthentication", "nothing")))
    chains = _methods(effective.get("authenticationmethods"))
    if chains is None:
        unmet.append("AuthenticationMethods %s (sshd says any): users can log in without the PAM stack, e.g. with a key alone" % ",".join(methods[0]))
    else:
        for chain in chains:
            if not _has_kbdint(chain):
                unmet.append("AuthenticationMethods: the alternative %s skips keyboard-interactive, so it skips the second factor" % ",".join(chain))
            elif request.removes_password and not any(m in ("publickey", "hostbased", "gssapi-with-mic") for m in chain):
                unmet.append(
                    "AuthenticationMethods: the alternative %s is the one-time code alone once the password is removed; chain it after publickey"
                    % ",".join(chain)
                )
    report["unmet"] = unmet
    report["satisfied"] = not unmet
    return report


def _prompts(request):
    prompts = []
    if not request.removes_password and request.order == "after":
        prompts.append("Password: ")
    if request.second_factor == "totp":
        prompts.append(PROMPTS["totp_forward"] if request.forward_pass else PROMPTS["totp"])
    elif request.second_factor == "oath":
        prompts.append(PROMPTS["oath"])
    if not request.removes_password and request.order == "before" and not request.forward_pass:
        prompts.append("Password: ")
    return prompts


# ---------------------------------------------------------------- the host


def _multiarch():
    names = []
    name = getattr(sys.implementation, "_multiarch", None)
    if name:
        names.append(name)
    for path in sorted(glob.glob("/usr/lib/*-linux-*/security")) + sorted(glob.glob("/lib/*-linux-*/security")):
        triplet = path.split("/")[-2]
        if triplet not in names:
            names.append(triplet)
    return names


def library_dirs():
    dirs = []
    for triplet in _multiarch():
        dirs += ["/lib/" + triplet, "/usr/lib/" + triplet]
    dirs += ["/lib64", "/usr/lib64", "/lib", "/usr/lib"]
    return dirs


_SECURITY_DIR_RE = re.compile(rb"\x00(/[A-Za-z0-9_.+/-]{1,200}/security/?)\x00")


def security_dir_from_libpam(data):
    """The module directory compiled into libpam (its DEFAULT_MODULE_PATH), from the library bytes."""
    found = []
    for match in _SECURITY_DIR_RE.finditer(data):
        path = match.group(1).decode("ascii")
        if path not in found:
            found.append(path)
    return found


def expand_secret_path(spec, user, home):
    """Where pam_google_authenticator looks for *user*'s secret (``~`` and ``${HOME}``/``${USER}``)."""
    out = []
    i = 0
    allow_tilde = True
    while i < len(spec):
        if allow_tilde and spec[i] == "~":
            out.append(home)
            i += 1
            allow_tilde = False
        elif spec.startswith("${HOME}", i):
            out.append(home)
            i += 7
            allow_tilde = False
        elif spec.startswith("${USER}", i):
            out.append(user)
            i += 7
            allow_tilde = False
        else:
            allow_tilde = spec[i] == "/"
            out.append(spec[i])
            i += 1
    return "".join(out)


def expand_usersfile(spec, user, home):
    return spec.replace("${USER}", user).replace("${HOME}", home)


def secret_state(path, uid):
    """``(state, reason)`` for a TOTP secret file, checked the way the module checks it (lstat only)."""
    try:
        st = os.lstat(path)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return "missing", "no %s" % path
        return "unusable", "%s: %s" % (path, exc.strerror)
    if stat.S_ISLNK(st.st_mode):
        return "unusable", "%s is a symbolic link (not followed, so not checked)" % path
    if not stat.S_ISREG(st.st_mode):
        return "unusable", "%s is not a regular file" % path
    if st.st_mode & 0o3777 & ~0o600:
        return "unusable", "%s has mode %04o, more open than 0600 (pam_google_authenticator refuses it)" % (path, stat.S_IMODE(st.st_mode))
    if st.st_uid != uid:
        return "unusable", "%s is owned by uid %d, not by the user (pam_google_authenticator refuses it)" % (path, st.st_uid)
    if st.st_size < 1 or st.st_size > SECRET_MAX:
        return "unusable", "%s is empty or larger than 64 KiB" % path
    return "ok", None


def usersfile_names(data):
    """User names listed in an OATH users file (second field of each line); nothing else is kept."""
    names = set()
    for raw in data.decode("utf-8", "replace").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split()
        if len(fields) >= 2:
            names.add(fields[1])
    return names


def _match_pattern(name, pattern):
    regex = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    return re.match("^" + regex + "$", name) is not None


def _entries(value):
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    out = []
    for item in value:
        out.extend(item.split())
    return [item for item in out if item.lower() != "none"]


def sshd_allows(name, groups, effective):
    """Whether sshd's Allow/Deny Users/Groups may let *name* in (conservative: unknown host parts allow)."""
    for pattern in _entries(effective.get("denyusers")):
        if "@" not in pattern and not pattern.startswith("!") and _match_pattern(name, pattern):
            return False
    allow = _entries(effective.get("allowusers"))
    if allow and not any(not p.startswith("!") and _match_pattern(name, p.split("@", 1)[0]) for p in allow):
        return False
    for pattern in _entries(effective.get("denygroups")):
        if not pattern.startswith("!") and any(_match_pattern(g, pattern) for g in groups):
            return False
    allow_groups = _entries(effective.get("allowgroups"))
    return not (allow_groups and not any(not p.startswith("!") and _match_pattern(g, p) for p in allow_groups for g in groups))


class Host:
    """What the module reads from the managed host. Tests pass a subclass or fake."""

    def __init__(self, run_command=None, sshd_path=None):
        self._run = run_command
        self._sshd_path = sshd_path
        self._security = None
        self._runtime = None
        self.notes = []

    # -- files

    @staticmethod
    def read_managed(path):
        """The managed file: never through a symlink (read_bytes refuses one)."""
        return read_bytes(path, max_bytes=MAX_PAM_FILE)

    @staticmethod
    def read_system(path):
        """A root-owned system file (an included PAM file, libpam): symlinks inside root-owned directories are followed
        the way libpam follows them, but the file they lead to must be root-owned and not writable by others."""
        real = os.path.realpath(path)
        try:
            st = os.stat(real)
        except FileNotFoundError:
            return None
        if st.st_uid != 0 or st.st_mode & 0o022:
            raise AtomicWriteError("refusing to read %s: it is not owned by root or is writable by others" % real)
        return read_bytes(real, max_bytes=16 << 20)

    def loader(self, service_dir):
        cache = {}
        dirs = [service_dir]
        if service_dir.rstrip("/") == "/etc/pam.d":
            dirs += ["/usr/lib/pam.d", "/usr/etc/pam.d"]

        def load(name):
            if name in cache:
                return cache[name]
            candidates = [name] if name.startswith("/") else [os.path.join(d, name) for d in dirs]
            result = None
            for candidate in candidates:
                try:
                    data = self.read_system(candidate)
                except AtomicWriteError as exc:
                    raise Refusal("cannot read the included PAM file %s: %s" % (candidate, exc)) from None
                if data is not None:
                    try:
                        result = (candidate, _pam.parse(data.decode("utf-8", "surrogateescape"), source=candidate))
                    except _pam.PamSyntaxError as exc:
                        raise Refusal("cannot understand the included PAM file: %s; nothing was written" % exc) from None
                    break
            cache[name] = result
            return result

        return load

    # -- modules

    def security_dir(self):
        """``(directory, how)``: where libpam loads relative module paths from."""
        if self._security is None:
            self._security = self._find_security_dir()
        return self._security

    def _find_security_dir(self):
        for libdir in library_dirs():
            candidate = os.path.join(libdir, "libpam.so.0")
            if not os.path.exists(candidate):
                continue
            try:
                data = self.read_system(candidate)
            except (AtomicWriteError, OSError):
                continue
            for path in security_dir_from_libpam(data or b""):
                if os.path.isdir(path):
                    return path.rstrip("/"), "compiled into %s" % os.path.realpath(candidate)
        for libdir in library_dirs():
            path = os.path.join(libdir, "security")
            if os.path.isfile(os.path.join(path, "pam_unix.so")) or os.path.isfile(os.path.join(path, "pam_permit.so")):
                return path, "the directory holding pam_unix.so/pam_permit.so"
        return None, "no PAM module directory found (looked for libpam.so.0 and pam_unix.so under %s)" % ", ".join(library_dirs())

    def module_file(self, module):
        """Absolute path of *module* as libpam would load it (may not exist)."""
        if module.startswith("/"):
            return module
        directory, _how = self.security_dir()
        return os.path.join(directory, module) if directory else None

    def module_exists(self, module):
        path = self.module_file(module)
        return bool(path) and os.path.isfile(path)

    # -- sshd

    def runtime(self):
        if self._runtime is None:
            self._runtime = SshdRuntime(self._run, sshd_path=self._sshd_path)
        return self._runtime

    def sshd(self, context=None):
        """``(version, effective, error)`` from the real sshd."""
        try:
            runtime = self.runtime()
            version = runtime.version()
            effective = runtime.effective(context=context or None)
        except SshdError as exc:
            return None, None, str(exc)
        return version, effective, None

    # -- accounts

    @staticmethod
    def passwd():
        return pwd.getpwall()

    @staticmethod
    def group_members():
        by_gid = {}
        members = {}
        for entry in grp.getgrall():
            by_gid[entry.gr_gid] = entry.gr_name
            for member in entry.gr_mem:
                members.setdefault(member, set()).add(entry.gr_name)
        return by_gid, members

    def shadow(self):
        """``{user: usable_password}`` from /etc/shadow, or None when it cannot be read (then every password counts)."""
        try:
            data = read_bytes("/etc/shadow", max_bytes=64 << 20)
        except (AtomicWriteError, OSError):
            data = None
        if data is None:
            self.notes.append("/etc/shadow could not be read; every account with a login shell was treated as having a password")
            return None
        usable = {}
        for line in data.decode("utf-8", "replace").splitlines():
            fields = line.split(":")
            if len(fields) >= 2:
                usable[fields[0]] = not fields[1].startswith(("!", "*"))
        return usable

    @staticmethod
    def has_keys(name, uid, home, effective):
        """Whether sshd may accept a key for this account (files present, or keys from a command/CA)."""
        if effective.get("authorizedkeyscommand", "none").lower() != "none" or effective.get("trustedusercakeys", "none").lower() != "none":
            return True
        files = _entries(effective.get("authorizedkeysfile", ".ssh/authorized_keys .ssh/authorized_keys2"))
        for spec in files:
            path = spec.replace("%%", "\x00").replace("%h", home).replace("%u", name).replace("%U", str(uid)).replace("\x00", "%")
            if not path.startswith("/"):
                path = os.path.join(home, path)
            try:
                os.lstat(path)
                return True
            except OSError:
                continue
        return False

    def accounts(self, request, effective):
        """The accounts sshd may let in (real login shell, Allow/Deny, PermitRootLogin, a password or a key)."""
        effective = effective or {}
        by_gid, members = self.group_members()
        shadow = self.shadow()
        root_login = effective.get("permitrootlogin", "yes").lower()
        oath_names = {}
        out = []
        for entry in self.passwd():
            name, uid, home, shell = entry.pw_name, entry.pw_uid, entry.pw_dir, entry.pw_shell or "/bin/sh"
            if os.path.basename(shell) in NOLOGIN_SHELLS:
                continue
            if uid == 0 and root_login != "yes":
                continue
            groups = set(members.get(name, set()))
            if entry.pw_gid in by_gid:
                groups.add(by_gid[entry.pw_gid])
            if not sshd_allows(name, groups, effective):
                continue
            password = True if shadow is None else shadow.get(name, True)
            if not password and not self.has_keys(name, uid, home, effective):
                continue
            exempt = name in request.exempt_users or bool(groups & set(request.exempt_groups))
            state, reason = "ok", None
            if not exempt:
                if request.second_factor == "totp":
                    if not home.startswith("/") and (request.secret or SECRET_DEFAULT).startswith(("~", "${HOME}")):
                        state, reason = "unusable", "home directory %r is not absolute" % home
                    else:
                        state, reason = secret_state(expand_secret_path(request.secret or SECRET_DEFAULT, name, home), uid)
                elif request.second_factor == "oath":
                    state, reason = self._oath_state(request.usersfile, name, home, oath_names)
            out.append(Account(name, exempt, state, reason))
        return out

    def _oath_state(self, spec, name, home, cache):
        path = expand_usersfile(spec, name, home)
        if path not in cache:
            try:
                data = read_bytes(path, max_bytes=MAX_USERSFILE)
            except (AtomicWriteError, OSError) as exc:
                cache[path] = "unreadable: %s" % exc
            else:
                cache[path] = None if data is None else usersfile_names(data)
        names = cache[path]
        if names is None:
            return "missing", "no usersfile %s" % path
        if isinstance(names, str):
            return "unusable", "%s %s" % (path, names)
        if name not in names:
            return "missing", "no entry in %s" % path
        return "ok", None


# ---------------------------------------------------------------- the module


def decode(data):
    return data.decode("utf-8", "surrogateescape")


def encode(text):
    return text.encode("utf-8", "surrogateescape")


def compute(request, current_text, host):
    """Everything but writing: ``(wanted_text, baseline_text, plan, loader)``. Raises Refusal."""
    source = request.path
    baseline_text, _added, _restored = strip_managed(current_text)
    try:
        baseline = _pam.parse(baseline_text, source=source)
    except _pam.PamSyntaxError as exc:
        raise Refusal("cannot safely edit %s: %s. Nothing was written; fix or remove that line by hand" % (source, exc)) from None
    loader = host.loader(os.path.dirname(source))
    try:
        the_plan = plan(baseline, request, loader, source)
    except _pam.PamSyntaxError as exc:
        raise Refusal("cannot safely edit %s: %s. Nothing was written" % (source, exc)) from None
    wanted = the_plan.text
    check, _a, _r = strip_managed(wanted)
    if check != baseline_text:  # pragma: no cover - guards the marker scheme itself
        raise Refusal("internal check failed: the planned %s would not strip back to the original; nothing was written" % source)
    return wanted, baseline_text, the_plan, loader


def run(module, host=None):
    """The body of fleetauth.ssh.pam_kbdint."""
    params = module.params
    result = {"path": params.get("path"), "second_factor": params.get("second_factor"), "password_factor": params.get("password_factor")}
    try:
        request = Request(params)
        host = host or Host(module.run_command, params.get("sshd_path"))
        outcome = _run(module, request, host, result)
    except Refusal as exc:
        module.fail_json(msg=str(exc), changed=False, **result)
    for note in outcome.pop("_notes"):
        module.warn(note)
    module.exit_json(**outcome)


def _run(module, request, host, result):
    path = request.path
    try:
        data = host.read_managed(path)
    except AtomicWriteError as exc:
        raise Refusal("cannot read %s: %s" % (path, exc)) from None
    if data is None:
        raise Refusal("%s does not exist; this module edits an existing sshd PAM service file and does not create one" % path)
    current_text = decode(data)
    wanted, _baseline, the_plan, loader = compute(request, current_text, host)
    security_dir, how = host.security_dir()
    result["security_dir"] = security_dir
    if request.factor:
        _check_installed(request, host, security_dir, how)
    version, effective, sshd_error = host.sshd(module.params.get("sshd_context"))
    changed = wanted != current_text
    try:
        if changed:
            accounts = host.accounts(request, effective) if request.factor else None
            info = analyze(the_plan.records, request, loader, path, host.module_exists, accounts)
        else:
            info = {"auth_stack": [h.describe() for h in _pam.resolve(the_plan.records, "auth", loader, path) if h.kind != "substack"]}
    except _pam.PamSyntaxError as exc:
        raise Refusal("cannot safely edit %s: %s. Nothing was written" % (path, exc)) from None
    changes = ChangeSet(module, backup=bool(module.params.get("backup")))
    changes.propose(path, data, encode(wanted))
    try:
        changes.commit()
    except AtomicWriteError as exc:
        raise Refusal("writing %s failed: %s" % (path, exc)) from None
    notes = list(the_plan.notes) + list(host.notes)
    if sshd_error and request.factor:
        notes.append("could not read sshd's effective configuration: %s" % sshd_error)
    result.update(info)
    result.update(
        {
            "module": {"name": request.module_name, "path": host.module_file(request.module_path), "args": request.args} if request.factor else None,
            "password_steps": ["line %d: %s" % (r.lineno, r.text.strip()) for r in the_plan.password_steps],
            "added_lines": [line.rstrip("\n") for line in the_plan.added],
            "managed_lines": managed_lines(wanted),
            "sshd": sshd_requirements(request, version, effective, sshd_error),
        }
    )
    outcome = changes.result(**result)
    outcome["_notes"] = notes
    return outcome


def _check_installed(request, host, security_dir, how):
    needed = [request.module_path]
    if request.exempt:
        needed.append("pam_succeed_if.so")
    if request.adds_permit:
        needed.append("pam_permit.so")
    missing = [m for m in needed if not host.module_exists(m)]
    if not missing:
        return
    if security_dir is None and any(not m.startswith("/") for m in missing):
        raise Refusal("cannot check that %s is installed: %s. Nothing was written" % (", ".join(missing), how))
    detail = "; ".join(
        "%s is not installed (no %s; libpam loads modules from %s, %s)%s"
        % (m, host.module_file(m), security_dir, how, (": install " + MODULE_PACKAGES[base]) if (base := _pam.module_basename(m)) in MODULE_PACKAGES else "")
        for m in missing
    )
    raise Refusal("%s. A PAM line naming a missing module fails every login through it; nothing was written" % detail)
