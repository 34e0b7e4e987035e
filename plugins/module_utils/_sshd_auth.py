# -*- coding: utf-8 -*-
# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""sshd_auth_methods: from module options to an effective sshd configuration, without locking anyone out.

The pure half (options -> :class:`_sshd_config.Setting`, the destination
choice, the lockout guard, comparisons with ``sshd -T``) is unit-tested
without a host. :class:`SshdAuthMethods` is the orchestration: read the tree
through ``_atomic``, plan, validate candidates with the real sshd in a private
temporary directory, guard, then commit through ``_changes.ChangeSet``.
"""

from __future__ import annotations

import contextlib
import fnmatch
import grp
import ipaddress
import os
import posixpath
import pwd
import re

from ._atomic import AtomicWriteError, PathMissing, SymlinkRefused, open_dir_nofollow, private_tempdir, read_bytes
from ._changes import ChangeSet
from ._sshd_config import (
    ACCUMULATING as LIST_KEYS,
)
from ._sshd_config import (
    SSHDIR,
    ConfigError,
    ConfigTree,
    MatchSpec,
    Overlay,
    Setting,
    covering_include,
    plan_changes,
    render_candidates,
    set_before,
)
from ._sshd_runtime import SshdError, SshdRuntime

MAX_FILE_BYTES = 4 * 1024 * 1024

# The keywords `effective` reports (as sshd -T prints them).
AUTH_KEYS = (
    "pubkeyauthentication",
    "passwordauthentication",
    "kbdinteractiveauthentication",
    "challengeresponseauthentication",
    "hostbasedauthentication",
    "gssapiauthentication",
    "authenticationmethods",
    "permitrootlogin",
    "permitemptypasswords",
    "usepam",
    "maxauthtries",
    "logingracetime",
    "pubkeyacceptedalgorithms",
    "pubkeyacceptedkeytypes",
    "requiredrsasize",
    "ignorerhosts",
    "strictmodes",
    "allowusers",
    "denyusers",
    "allowgroups",
    "denygroups",
)

METHOD_KEYS = {
    "publickey": "pubkeyauthentication",
    "password": "passwordauthentication",
    "keyboard-interactive": "kbdinteractiveauthentication",
    "hostbased": "hostbasedauthentication",
    "gssapi-with-mic": "gssapiauthentication",
}

PERMIT_ROOT = ("yes", "prohibit-password", "without-password", "forced-commands-only", "no")
_UNSAFE = re.compile(r"[\s\"'#\\\x00-\x1f\x7f]")
_TIME = re.compile(r"^(?:\d+[smhdwSMHDW]?)+$")


class AuthError(Exception):
    """A request the module refuses; the message says what was found, why, and what to change."""


# ---------------------------------------------------------------- values


def parse_time(text):
    """Seconds from an sshd time spec (``90``, ``2m``, ``1h30m``), or None when invalid."""
    text = str(text).strip()
    if not _TIME.match(text):
        return None
    units = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    return sum(int(num) * units[unit.lower()] for num, unit in re.findall(r"(\d+)([smhdwSMHDW]?)", text))


def _int(text):
    try:
        return int(str(text).strip())
    except ValueError:
        return None


def _token(option, value):
    value = str(value)
    if not value or _UNSAFE.search(value):
        raise AuthError("%s: %r is not a single sshd_config word (no spaces, quotes, '#', backslashes or control characters); fix the value" % (option, value))
    return value


def normalize_root(value):
    value = str(value).strip().lower()
    return "prohibit-password" if value == "without-password" else value


def parse_auth_methods(value, option="authentication_methods"):
    """Chains (comma-joined methods) from ``any``, ``[[a, b], [c]]``, ``["a,b", "c"]`` or ``"a,b c"``."""
    if isinstance(value, str):
        chains = value.split()
    elif isinstance(value, (list, tuple)):
        chains = []
        for element in value:
            if isinstance(element, (list, tuple)):
                methods = [str(m).strip() for m in element]
                if not methods or any(not m for m in methods):
                    raise AuthError("%s: a chain must list at least one method and no empty ones, got %r" % (option, element))
                chains.append(",".join(methods))
            elif isinstance(element, str):
                chains.append(element.strip())
            else:
                raise AuthError("%s: each element must be a list of methods or a comma-separated string, got %r" % (option, element))
    else:
        raise AuthError("%s: give 'any' or a list of method chains such as [[publickey, keyboard-interactive]]" % option)
    if not chains:
        raise AuthError("%s: empty; give 'any' or at least one chain" % option)
    for chain in chains:
        _token(option, chain)
        if any(not method for method in chain.split(",")):
            raise AuthError("%s: %r has an empty method (two commas in a row or a trailing comma)" % (option, chain))
    if "any" in chains and len(chains) > 1:
        raise AuthError("%s: 'any' must appear alone (it means no particular sequence is required)" % option)
    return chains


# ---------------------------------------------------------------- options -> settings


class OptionSpec:
    __slots__ = ("global_only", "key", "keyword", "kind", "name")

    def __init__(self, name, keyword, kind, key=None, global_only=False):
        self.name = name
        self.keyword = keyword
        self.kind = kind
        self.key = key or keyword.lower()
        self.global_only = global_only


# In the order they are written.
OPTIONS = (
    OptionSpec("pubkey", "PubkeyAuthentication", "method"),
    OptionSpec("password", "PasswordAuthentication", "method"),
    OptionSpec("kbdint", "KbdInteractiveAuthentication", "method"),
    OptionSpec("hostbased", "HostbasedAuthentication", "method"),
    OptionSpec("authentication_methods", "AuthenticationMethods", "methods"),
    OptionSpec("permit_root_login", "PermitRootLogin", "root"),
    OptionSpec("permit_empty_passwords", "PermitEmptyPasswords", "bool"),
    OptionSpec("use_pam", "UsePAM", "bool", global_only=True),
    OptionSpec("max_auth_tries", "MaxAuthTries", "int"),
    OptionSpec("login_grace_time", "LoginGraceTime", "time", global_only=True),
    OptionSpec("pubkey_accepted_algorithms", "PubkeyAcceptedAlgorithms", "algorithms"),
    OptionSpec("required_rsa_size", "RequiredRSASize", "int"),
    OptionSpec("ignore_rhosts", "IgnoreRhosts", "bool"),
    OptionSpec("strict_modes", "StrictModes", "bool", global_only=True),
    OptionSpec("allow_users", "AllowUsers", "list"),
    OptionSpec("deny_users", "DenyUsers", "list"),
    OptionSpec("allow_groups", "AllowGroups", "list"),
    OptionSpec("deny_groups", "DenyGroups", "list"),
)
OPTION_NAMES = tuple(spec.name for spec in OPTIONS)


def _vtext(version):
    return "%d.%d" % tuple(version)


def _flag_setting(keyword, wanted, names=None, option=None, key=None):
    setting = Setting(keyword, [wanted], names=names, equal=lambda args: args[0].lower() == wanted, option=option)
    setting.key = key or keyword.lower()
    setting.expected = wanted
    return setting


def settings_for(spec, value, version, in_match=False):
    """The :class:`Setting` objects that make option *spec* = *value* effective on this sshd version."""
    name = spec.name
    if spec.kind == "method":
        wanted = {"enabled": "yes", "disabled": "no"}[value]
        if name == "kbdint":
            if version >= (8, 7):
                names = ("KbdInteractiveAuthentication", "ChallengeResponseAuthentication", "SKeyAuthentication")
                return [_flag_setting("KbdInteractiveAuthentication", wanted, names=names, option=name, key="kbdinteractiveauthentication")]
            # Up to 8.6 ChallengeResponseAuthentication switches keyboard-interactive on (it forces
            # KbdInteractiveAuthentication) and is global-only; writing both gives the same result either way.
            kia = _flag_setting("KbdInteractiveAuthentication", wanted, option=name, key="kbdinteractiveauthentication")
            if in_match:
                return [kia]
            cra = _flag_setting("ChallengeResponseAuthentication", wanted, option=name, key="kbdinteractiveauthentication")
            return [cra, kia]
        return [_flag_setting(spec.keyword, wanted, option=name)]
    if spec.kind == "bool":
        return [_flag_setting(spec.keyword, "yes" if value else "no", option=name)]
    if spec.kind == "root":
        wanted = normalize_root(value)
        if wanted not in PERMIT_ROOT:
            raise AuthError("permit_root_login: %r is not one of %s (quote yes and no in YAML)" % (value, ", ".join(PERMIT_ROOT)))
        setting = Setting(spec.keyword, [wanted], equal=lambda args: normalize_root(args[0]) == wanted, option=name)
        setting.key, setting.expected = "permitrootlogin", wanted
        return [setting]
    if spec.kind == "int":
        if name == "required_rsa_size" and version < (9, 1):
            raise AuthError(
                "required_rsa_size: RequiredRSASize exists from OpenSSH 9.1; this host runs %s, whose sshd would refuse it. "
                "Leave the option out for this host (for example with a per-host variable that defaults to omit)" % _vtext(version)
            )
        number = _int(value)
        if number is None or number < 1:
            raise AuthError("%s: must be a whole number of at least 1, got %r" % (name, value))
        setting = Setting(spec.keyword, [str(number)], equal=lambda args: _int(args[0]) == number, option=name)
        setting.key, setting.expected = spec.key, str(number)
        return [setting]
    if spec.kind == "time":
        seconds = parse_time(value)
        if seconds is None:
            raise AuthError("login_grace_time: %r is not an sshd time (seconds, or like 2m or 1h30m)" % (value,))
        text = str(value).strip()
        setting = Setting(spec.keyword, [text], equal=lambda args: parse_time(args[0]) == seconds, option=name)
        setting.key, setting.expected = "logingracetime", str(seconds)
        return [setting]
    if spec.kind == "methods":
        chains = parse_auth_methods(value)
        setting = Setting(spec.keyword, chains, equal=lambda args: list(args) == chains, option=name)
        setting.key, setting.expected = "authenticationmethods", " ".join(chains)
        return [setting]
    if spec.kind == "algorithms":
        items = [_token(name, item) for item in (value if isinstance(value, (list, tuple)) else [value])]
        if not items:
            raise AuthError("pubkey_accepted_algorithms: give at least one algorithm")
        text = ",".join(items)
        if version >= (8, 5):
            keyword, names, key = "PubkeyAcceptedAlgorithms", ("PubkeyAcceptedAlgorithms", "PubkeyAcceptedKeyTypes"), "pubkeyacceptedalgorithms"
        else:
            keyword, names, key = "PubkeyAcceptedKeyTypes", ("PubkeyAcceptedKeyTypes",), "pubkeyacceptedkeytypes"
        setting = Setting(keyword, [text], names=names, equal=lambda args: args[0] == text, option=name)
        setting.key = key
        # sshd -T prints the expanded list; compare only a plain list.
        setting.expected = text if not re.search(r"^[-+^]|[*?]", text) else None
        return [setting]
    if spec.kind == "list":
        items = [_token(name, item) for item in value]
        seen = []
        for item in items:
            if item not in seen:
                seen.append(item)
        setting = Setting(spec.keyword, seen, accumulate=True, absent=not seen, option=name)
        setting.key, setting.expected = spec.key, sorted(seen)
        return [setting]
    raise AuthError("internal: unknown option kind %s" % spec.kind)


class Request:
    """The validated request: global settings, managed Match blocks (None = leave them)."""

    def __init__(self, settings, blocks, names):
        self.settings = settings
        self.blocks = blocks
        self.names = names

    @property
    def empty(self):
        return not self.settings and self.blocks is None


def _check_criteria(index, criteria):
    raw = str(criteria or "")
    if re.search(r"[\"'#\\\x00-\x08\x0a-\x1f\x7f]", raw):
        raise AuthError("match[%d].criteria %r may not contain quotes, '#', backslashes or control characters" % (index, criteria))
    text = " ".join(raw.split())
    if not text:
        raise AuthError("match[%d].criteria is empty; give sshd Match criteria such as 'User deploy' or 'Address 10.0.0.0/8'" % index)
    return text


def build_request(params, version):
    """Validate module parameters into a :class:`Request` for this sshd version."""
    settings = []
    for spec in OPTIONS:
        value = params.get(spec.name)
        if value is None:
            continue
        settings.extend(settings_for(spec, value, version))
    blocks = None
    if params.get("match") is not None:
        blocks = []
        seen = {}
        for index, entry in enumerate(params["match"]):
            item = entry or {}
            criteria = _check_criteria(index, item.get("criteria"))
            raw = item.get("settings") or {}
            unknown = sorted(set(raw) - set(OPTION_NAMES))
            if unknown:
                raise AuthError("match[%d].settings: unknown option(s) %s" % (index, ", ".join(unknown)))
            block_settings = []
            for spec in OPTIONS:
                value = raw.get(spec.name)
                if value is None:
                    continue
                if spec.global_only:
                    raise AuthError(
                        "match[%d].settings.%s: %s is global-only in sshd and not allowed inside Match; set it at the top level"
                        % (index, spec.name, spec.keyword)
                    )
                block_settings.extend(settings_for(spec, value, version, in_match=True))
            if not block_settings:
                raise AuthError("match[%d] (Match %s) sets nothing; give at least one setting" % (index, criteria))
            key = criteria.lower()
            if key in seen:
                raise AuthError("match[%d] repeats the criteria of match[%d] (%s); merge their settings into one block" % (index, seen[key], criteria))
            seen[key] = index
            blocks.append(MatchSpec(criteria, block_settings))
    names = set()
    for setting in settings:
        names |= setting.names
    return Request(settings, blocks, names)


# ---------------------------------------------------------------- destination


def choose_destination(tree, destination, drop_in_name, add_include, names, config_path):
    """``(target_path, mode, include_line, note)`` where mode is ``drop_in`` or ``main``."""
    if not re.match(r"^[A-Za-z0-9_][A-Za-z0-9._-]*$", drop_in_name or ""):
        raise AuthError("drop_in_name %r must be a plain file name (letters, digits, '.', '_', '-'; no '/', not starting with '.')" % (drop_in_name,))
    covered = covering_include(tree, drop_in_name)
    if covered is not None:
        include, directory = covered
        drop_in = directory + "/" + drop_in_name
        if destination == "main":
            return tree.main_path, "main", None, None
        if destination == "drop_in" or drop_in in tree.files:
            return drop_in, "drop_in", None, None
        before = set_before(tree, include, names)
        if not before:
            return drop_in, "drop_in", None, None
        return (
            tree.main_path,
            "main",
            None,
            "%s sets %s before its Include of %s, so the settings are written to the main file" % (tree.main_path, before[0].directive.raw_keyword, directory),
        )
    if destination == "main":
        return tree.main_path, "main", None, None
    if add_include:
        if not drop_in_name.endswith(".conf"):
            raise AuthError("add_include adds 'Include .../sshd_config.d/*.conf': drop_in_name %r must end in .conf" % drop_in_name)
        directory = posixpath.join(posixpath.dirname(config_path), "sshd_config.d")
        return directory + "/" + drop_in_name, "drop_in", "Include %s/*.conf" % directory, None
    if destination == "drop_in":
        raise AuthError(
            "%s has no Include that reads a drop-in directory before its own settings, so a drop-in named %s would not be read; "
            "set add_include: true to add one, or destination: main" % (tree.main_path, drop_in_name)
        )
    return tree.main_path, "main", None, None


# ---------------------------------------------------------------- effective values and the guard


def auth_view(effective):
    """The authentication keywords of a parsed ``sshd -T``."""
    if effective is None:
        return None
    out = {}
    for key in AUTH_KEYS:
        if key in effective:
            out[key] = effective[key]
        elif key in LIST_KEYS:
            out[key] = []
    return out


def mismatches(settings, effective):
    """``[(setting, found)]`` for settings sshd -T does not report as asked."""
    out = []
    if effective is None:
        return out
    seen = set()
    for setting in settings:
        expected = getattr(setting, "expected", None)
        key = getattr(setting, "key", None)
        if expected is None or key is None or (key, str(expected)) in seen:
            continue
        seen.add((key, str(expected)))
        found = effective.get(key)
        if key in LIST_KEYS:
            found_list = sorted(set(found or []))
            if found_list != list(expected):
                out.append((setting, " ".join(found_list) or "(none)"))
            continue
        if key == "permitrootlogin":
            ok = found is not None and normalize_root(found) == expected
        elif key in ("authenticationmethods", "pubkeyacceptedalgorithms", "pubkeyacceptedkeytypes"):
            ok = found == expected
        else:
            ok = found is not None and str(found).lower() == str(expected).lower()
        if not ok:
            out.append((setting, found if found is not None else "(not reported)"))
    return out


def _normalize_block_value(keyword, args, version):
    key = keyword
    if keyword in ("challengeresponseauthentication", "skeyauthentication"):
        if version is not None and version < (8, 7):
            return None, None
        key = "kbdinteractiveauthentication"
    if keyword == "pubkeyacceptedkeytypes" and (version is None or version >= (8, 5)):
        key = "pubkeyacceptedalgorithms"
    if key in LIST_KEYS:
        return key, list(args)
    value = " ".join(args)
    if key == "permitrootlogin":
        value = normalize_root(value)
    elif key not in ("authenticationmethods", "pubkeyacceptedalgorithms", "pubkeyacceptedkeytypes"):
        value = value.lower()
    return key, value


def block_overlays(tree, effective, version, blocks=None):
    """``[(label, key, overlaid effective)]``: global values replaced by each Match block's own lines.

    Blocks of the tree, plus *blocks* (MatchSpec) not written yet. An
    approximation for the guard (a connection can match several blocks).
    """
    out = []
    if effective is None:
        return out
    if tree is not None:
        for block in tree.blocks():
            if block.is_all:
                continue
            merged = dict(effective)
            for keyword, occ in tree.block_settings(block).items():
                key, value = _normalize_block_value(keyword, occ.args, version)
                if key:
                    merged[key] = value
            out.append(("Match %s (%s line %d)" % (block.criteria, block.path, block.lineno), "match:" + block.normalized, merged))
    for spec in blocks or []:
        merged = dict(effective)
        for setting in spec.settings:
            key, value = _normalize_block_value(setting.keyword.lower(), setting.args, version)
            if key:
                merged[key] = value
        out.append(("Match %s (asked)" % spec.criteria, "match:" + " ".join(spec.criteria.split()).lower(), merged))
    return out


def _pattern_user(pattern):
    return pattern.split("@", 1)[0] if "@" in pattern else pattern


def lockout_problems(effective, where, key, login_user=None, login_groups=()):
    """``[(problem_key, message)]``: ways *effective* (sshd -T style) leaves nobody, or the login user, a way in."""
    problems = []

    def on(name):
        return str(effective.get(name, "")).lower() == "yes"

    pubkey, password, kbd = on("pubkeyauthentication"), on("passwordauthentication"), on("kbdinteractiveauthentication")
    if not (pubkey or password or kbd):
        problems.append(
            (key + ":none", "%s: publickey, password and keyboard-interactive would all be disabled, so nobody could log in; enable at least one" % where)
        )
    methods = str(effective.get("authenticationmethods") or "any")
    kbd_listed = False
    if methods != "any":
        for chain in methods.split():
            for method in chain.split(","):
                base = method.split(":", 1)[0]
                if base == "keyboard-interactive":
                    kbd_listed = True
                flag = METHOD_KEYS.get(base)
                if flag and not on(flag):
                    problems.append(
                        (
                            "%s:method:%s:%s" % (key, chain, base),
                            "%s: AuthenticationMethods %s requires %s, which would be disabled (%s no); enable it or drop it from the chain"
                            % (where, chain, base, flag),
                        )
                    )
    if (kbd or kbd_listed) and str(effective.get("usepam", "")).lower() == "no":
        problems.append(
            (
                key + ":kbdint-without-pam",
                "%s: keyboard-interactive is %s but UsePAM would be no; on Linux keyboard-interactive works only through PAM. "
                "Set use_pam: true or disable kbdint" % (where, "required by AuthenticationMethods" if kbd_listed else "enabled"),
            )
        )
    if login_user:
        root_login = normalize_root(effective.get("permitrootlogin", ""))
        if login_user == "root" and root_login in ("no", "forced-commands-only"):
            problems.append(
                (
                    key + ":root",
                    "%s: PermitRootLogin would be %s while this play logs in as root; log in as another user with become, or keep root logins"
                    % (where, root_login),
                )
            )
        allow = effective.get("allowusers") or []
        if allow and not any(fnmatch.fnmatchcase(login_user, _pattern_user(p)) for p in allow):
            problems.append((key + ":allowusers", "%s: AllowUsers %s would not let the login user %s in" % (where, " ".join(allow), login_user)))
        deny = effective.get("denyusers") or []
        hit = [p for p in deny if fnmatch.fnmatchcase(login_user, _pattern_user(p)) and ("@" not in p or p.endswith("@*"))]
        if hit:
            problems.append((key + ":denyusers", "%s: DenyUsers %s would shut out the login user %s" % (where, " ".join(hit), login_user)))
        groups = list(login_groups or ())
        allow_groups = effective.get("allowgroups") or []
        if allow_groups and groups and not any(fnmatch.fnmatchcase(g, p) for g in groups for p in allow_groups):
            message = "%s: AllowGroups %s would not let the login user %s (groups %s) in" % (where, " ".join(allow_groups), login_user, ", ".join(groups))
            problems.append((key + ":allowgroups", message))
        deny_groups = effective.get("denygroups") or []
        hit = [p for p in deny_groups for g in groups if fnmatch.fnmatchcase(g, p)]
        if hit:
            problems.append((key + ":denygroups", "%s: DenyGroups %s would shut out the login user %s" % (where, " ".join(sorted(set(hit))), login_user)))
    return problems


def overlay_request(effective, settings):
    """*effective* with the asked global values put in (what sshd will say once the plan is applied)."""
    if effective is None:
        return None
    merged = dict(effective)
    for setting in settings:
        key = getattr(setting, "key", None)
        if not key:
            continue
        if key in LIST_KEYS:
            merged[key] = list(setting.args)
        elif key in ("pubkeyacceptedalgorithms", "pubkeyacceptedkeytypes"):
            merged[key] = setting.args[0]
        else:
            merged[key] = str(getattr(setting, "expected", " ".join(setting.args)))
    return merged


def model_effective(tree, version, matches=None):
    """sshd -T-style values of the auth keywords computed from the tree alone (compiled-in defaults otherwise).

    *matches* selects Match blocks as in :meth:`ConfigTree.effective` (default: what ``sshd -T`` sees).
    """

    def first(names, default):
        occ = tree.effective(names, matches)
        return " ".join(occ.args) if occ is not None and occ.args else default

    def flag(names, default):
        return first(names, default).lower()

    grace = parse_time(first(["logingracetime"], "120"))
    out = {
        "pubkeyauthentication": flag(["pubkeyauthentication"], "yes"),
        "passwordauthentication": flag(["passwordauthentication"], "yes"),
        "hostbasedauthentication": flag(["hostbasedauthentication"], "no"),
        "gssapiauthentication": flag(["gssapiauthentication"], "no"),
        "usepam": flag(["usepam"], "no"),
        "permitrootlogin": normalize_root(first(["permitrootlogin"], "prohibit-password")),
        "permitemptypasswords": flag(["permitemptypasswords"], "no"),
        "maxauthtries": str(_int(first(["maxauthtries"], "6"))),
        "logingracetime": str(grace) if grace is not None else None,
        "authenticationmethods": first(["authenticationmethods"], "any"),
    }
    if version >= (8, 7):
        out["kbdinteractiveauthentication"] = flag(["kbdinteractiveauthentication", "challengeresponseauthentication", "skeyauthentication"], "yes")
    else:
        cra = flag(["challengeresponseauthentication"], "yes")
        kia = flag(["kbdinteractiveauthentication"], "no")
        out["challengeresponseauthentication"] = cra
        out["kbdinteractiveauthentication"] = "yes" if "yes" in (cra, kia) else "no"
    for key in LIST_KEYS:
        out[key] = tree.effective_list([key], matches)
    return out


def context_for(criteria):
    """A ``-C`` context that matches *criteria*, or None when it cannot be made up (Group, patterns, negation)."""
    tokens = criteria.split()
    if len(tokens) % 2 or not tokens:
        return None
    fields = {"user": "user", "host": "host", "address": "addr", "localaddress": "laddr", "localport": "lport", "rdomain": "rdomain"}
    context = {}
    for attr, value in zip(tokens[0::2], tokens[1::2]):
        field = fields.get(attr.lower())
        if field is None or re.search(r"[*?!,]", value):
            return None
        if field in ("addr", "laddr") and "/" in value:
            try:
                network = ipaddress.ip_network(value, strict=False)
            except ValueError:
                return None
            context[field] = str(network.network_address + 1 if network.num_addresses > 2 else network.network_address)
            continue
        context[field] = value
    return context


def map_paths(text, mapping):
    """Replace candidate copy paths in sshd's messages with the real ones."""
    if not text:
        return text
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    for copy in sorted(mapping, key=len, reverse=True):
        text = text.replace(copy, mapping[copy])
    return text


# ---------------------------------------------------------------- host facts (I/O)


SERVICE_OPTION_FILES = ("/etc/default/ssh", "/etc/sysconfig/sshd")


def read_config(path):
    try:
        return read_bytes(path, max_bytes=MAX_FILE_BYTES)
    except SymlinkRefused as exc:
        raise SymlinkRefused(
            "%s. sshd would follow it, but this module does not follow symbolic links as root (the target could be any file); "
            "replace the link with a copy of the file it points to, or remove it" % exc
        ) from None


def command_line_overrides(texts, names):
    """``[(file, keyword)]`` for ``-o Keyword=...`` options in service option files that set one of *names*."""
    found = []
    for path, text in texts:
        for line in text.splitlines():
            if line.lstrip().startswith("#"):
                continue
            for match in re.finditer(r"-o\s*['\"]?([A-Za-z]+)\s*[= ]", line):
                if match.group(1).lower() in names:
                    found.append((path, match.group(1)))
    return found


def list_dir(path):
    """``{name: is_dir}`` of a directory reached without following symlinks; None when absent or not a directory."""
    try:
        fd = open_dir_nofollow(path)
    except PathMissing:
        return None
    except AtomicWriteError as exc:
        if "is not a directory" in str(exc) and "symbolic link" not in str(exc):
            return None
        raise
    try:
        with os.scandir(fd) as entries:
            return {entry.name: entry.is_dir(follow_symlinks=False) for entry in entries}
    finally:
        os.close(fd)


def _proc_status(pid):
    try:
        with open("/proc/%s/status" % pid, encoding="utf-8", errors="replace") as handle:
            return dict(line.split(":", 1) for line in handle.read().splitlines() if ":" in line)
    except OSError:
        return None


def detect_login_user(environ=None):
    """``(user, how)``: who logged in to run this module (we usually run as root through become).

    SUDO_USER first, then the audit login uid of this process
    (/proc/self/loginuid, set by pam_loginuid at SSH login and kept across
    sudo/su), then the owner of the nearest sshd session process among our
    ancestors; ``(None, reason)`` when none of them tells.
    """
    environ = os.environ if environ is None else environ
    sudo_user = environ.get("SUDO_USER")
    if sudo_user:
        return sudo_user, "SUDO_USER"
    try:
        with open("/proc/self/loginuid", encoding="ascii") as handle:
            uid = int(handle.read().strip() or -1)
        if 0 <= uid < 4294967295:
            try:
                return pwd.getpwuid(uid).pw_name, "/proc/self/loginuid"
            except KeyError:
                pass
    except (OSError, ValueError):
        pass
    pid = os.getppid()
    for _hop in range(64):
        status = _proc_status(pid)
        if not status:
            break
        name = status.get("Name", "").strip()
        if name in ("sshd", "sshd-session"):
            try:
                uid = int(status.get("Uid", "").split()[0])
                return pwd.getpwuid(uid).pw_name, "owner of the sshd session process %s" % pid
            except (KeyError, ValueError, IndexError):
                break
        try:
            pid = int(status.get("PPid", "0").strip())
        except ValueError:
            break
        if pid <= 1:
            break
    return None, "no SUDO_USER, login uid or sshd session found"


def user_groups(user):
    try:
        entry = pwd.getpwnam(user)
        gids = os.getgrouplist(user, entry.pw_gid)
    except (KeyError, OSError):
        return []
    names = []
    for gid in gids:
        try:
            names.append(grp.getgrgid(gid).gr_name)
        except KeyError:
            continue
    return sorted(set(names))


def _write_private(path, data):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def _mkdir_nofollow(path, mode=0o755):
    parent, _sep, name = path.rstrip("/").rpartition("/")
    fd = open_dir_nofollow(parent or "/")
    try:
        with contextlib.suppress(FileExistsError):
            os.mkdir(name, mode, dir_fd=fd)
    finally:
        os.close(fd)


# ---------------------------------------------------------------- orchestration


class SshdAuthMethods:
    """One module run. *runtime*, *read*, *listdir* and *login* are injectable for tests."""

    def __init__(self, module, runtime=None, read=None, listdir=None, login=None, sshdir=SSHDIR):
        self.module = module
        self.params = module.params
        self.runtime = runtime or SshdRuntime(module.run_command, sshd_path=self.params.get("sshd_path"))
        self.read = read or read_config
        self.listdir = listdir or list_dir
        self.login = login
        self.sshdir = sshdir
        self.warnings = []

    def warn(self, text):
        if text not in self.warnings:
            self.warnings.append(text)

    def _login(self):
        if self.login is not None:
            return self.login
        user, how = detect_login_user()
        groups = user_groups(user) if user else []
        return user, how, groups

    def _guard(self, tree, effective, version, blocks, login_user, login_groups, login_effective):
        problems = lockout_problems(effective, "globally", "global", login_user=None)
        for label, key, merged in block_overlays(tree, effective, version, blocks):
            problems.extend(lockout_problems(merged, label, key))
        if login_user and login_effective is not None:
            keys = {k for k, _m in problems}
            where = "for the login user %s" % login_user
            for pkey, message in lockout_problems(login_effective, where, "login", login_user=login_user, login_groups=login_groups):
                if "global" + pkey[len("login") :] not in keys:
                    problems.append((pkey, message))
        return problems

    def run(self):
        params = self.params
        config_path = params["config_path"]
        if not os.path.isabs(config_path):
            raise AuthError("config_path must be an absolute path, got %r" % config_path)
        version = self.runtime.version()
        request = build_request(params, version)
        legacy = version < (8, 7)
        tree = ConfigTree.load(config_path, self.read, self.listdir, sshdir=self.sshdir, legacy=legacy)
        target, mode, include_line, note = choose_destination(
            tree, params["destination"], params["drop_in_name"], params["add_include"], request.names, config_path
        )
        if note:
            self.warn(note)
        if mode == "drop_in" and target not in tree.files:
            existing = self.read(target)
            if existing is not None:
                tree.adopt(target, existing)
        self._warn_command_line(request.names)
        plan = plan_changes(tree, target, mode, request.settings, request.blocks, params["conflicts"], include_line)
        if plan.conflicts and params["conflicts"] == "fail":
            lines = ["%s: %s (%s)" % (c.occurrence.where(), c.occurrence.text(), c.reason) for c in plan.conflicts]
            raise AuthError(
                "other lines set the same keywords to other values and conflicts=fail:\n  %s\n"
                "Remove them, or set conflicts: comment (or remove) to let the module do it" % "\n  ".join(lines)
            )

        before_full = self._effective(config_path, "the current configuration")
        before = auth_view(before_full)
        changes = ChangeSet(self.module, backup=params["backup"])
        result_extra = {
            "target": target,
            "destination": mode,
            "conflicts": [c.as_dict() for c in plan.conflicts],
            "openssh_version": _vtext(version),
            "kbdint_keyword": self.runtime.kbdint_keyword(),
        }

        if not plan.contents:
            wrong = mismatches(request.settings, before_full)
            if wrong:
                raise AuthError(self._mismatch_message(wrong, tree, "sshd -T on the current configuration reports"))
            return self._finish(changes, before, before, result_extra)

        overlay = Overlay(self.read, self.listdir, plan.contents)
        new_tree = ConfigTree.load(config_path, overlay.read, overlay.listdir, sshdir=self.sshdir, legacy=legacy)
        login_user, login_how, login_groups = self._login()
        result_extra["login_user"] = login_user

        # Guard on what we know before asking sshd (sshd itself refuses some of these with a terser message).
        base_before = before_full if before_full is not None else model_effective(tree, version)
        base_after = overlay_request(base_before, request.settings) if before_full is not None else model_effective(new_tree, version)
        known_before = {k for k, _m in self._guard(tree, base_before, version, None, login_user, login_groups, base_before)}
        self._refuse([p for p in self._guard(new_tree, base_after, version, None, login_user, login_groups, base_after) if p[0] not in known_before])

        after_full = None
        if params["validate"]:
            after_full, login_before, login_after = self._validate(new_tree, config_path, request, login_user)
            known_before = {k for k, _m in self._guard(tree, base_before, version, None, login_user, login_groups, login_before)}
            problems = self._guard(new_tree, after_full, version, None, login_user, login_groups, login_after)
            for _key, message in [p for p in problems if p[0] in known_before]:
                self.warn("already the case before this change: " + message)
            self._refuse([p for p in problems if p[0] not in known_before])
            wrong = mismatches(request.settings, after_full)
            if wrong:
                raise AuthError(self._mismatch_message(wrong, new_tree, "after the change sshd -T would report"))
            if login_user is None:
                self.warn("could not tell which user this play logged in as (%s); the lockout guard checked global and Match settings only" % login_how)
        else:
            self.warn("validate=false: the new configuration was not checked by sshd; check it with `sshd -t` before reloading")

        for path, data in plan.contents.items():
            original = plan.originals.get(path)
            created = original is None
            owner = 0 if created and os.geteuid() == 0 else None
            changes.propose(path, original, data, mode=0o644 if created else None, uid=owner, gid=owner)
        if not self.module.check_mode:
            self._recheck(plan)
            directory = posixpath.dirname(target)
            if target in plan.created and self.listdir(directory) is None:
                _mkdir_nofollow(directory)
            changes.commit()
        return self._finish(changes, before, auth_view(after_full), result_extra)

    # -- pieces

    def _effective(self, config_path, what, context=None):
        try:
            return self.runtime.effective(config_path=config_path, context=context)
        except SshdError as exc:
            self.warn("`sshd -T` failed on %s: %s" % (what, exc.sshd_message or exc))
            return None

    def _validate(self, new_tree, config_path, request, login_user):
        with private_tempdir(prefix="fleetauth-sshd-") as tmp:
            main_copy, files, back = render_candidates(new_tree, tmp)
            for path, data in files.items():
                _write_private(path, data)
            try:
                self.runtime.test(main_copy)
                after_full = self.runtime.effective(config_path=main_copy)
                login_after = self.runtime.effective(config_path=main_copy, context={"user": login_user}) if login_user else None
                for spec in request.blocks or []:
                    context = context_for(spec.criteria)
                    if context is None:
                        self.warn("Match %s: cannot make up a connection matching these criteria, so sshd -T -C did not check this block" % spec.criteria)
                        continue
                    found = self.runtime.effective(config_path=main_copy, context=context)
                    wrong = mismatches(spec.settings, found)
                    if wrong:
                        raise AuthError(
                            "for a connection matching Match %s (sshd -T -C %s) sshd would report %s; another Match block that also applies sets these first. "
                            "Nothing was changed."
                            % (
                                spec.criteria,
                                ",".join("%s=%s" % kv for kv in sorted(context.items())),
                                "; ".join("%s %s (asked: %s)" % (s.key, f, s.expected) for s, f in wrong),
                            )
                        )
            except SshdError as exc:
                message = map_paths(exc.sshd_message or str(exc), back)
                raise AuthError("sshd rejected the new configuration, so nothing was changed. sshd said:\n%s" % message) from None
        login_before = self._effective(config_path, "the current configuration", context={"user": login_user}) if login_user else None
        for note in self.runtime.notes:
            self.warn(note)
        return after_full, login_before, login_after

    def _warn_command_line(self, names):
        texts = []
        for path in SERVICE_OPTION_FILES:
            try:
                data = self.read(path)
            except AtomicWriteError:
                continue
            if data:
                texts.append((path, data.decode("utf-8", "replace")))
        for path, keyword in command_line_overrides(texts, names):
            self.warn(
                "%s passes -o %s on sshd's command line, which wins over every configuration file and is not shown by sshd -T; "
                "remove it there for this module's setting to take effect" % (path, keyword)
            )

    def _refuse(self, problems):
        if not problems:
            return
        text = "; ".join(message for _key, message in problems)
        if self.params["force"]:
            self.warn("force=true overrides the lockout guard: " + text)
            return
        raise AuthError("refused, nothing was changed (lockout guard): %s. If you are sure, set force: true" % text)

    def _mismatch_message(self, wrong, tree, prefix):
        parts = []
        for setting, found in wrong:
            places = ["%s: %s" % (occ.where(), occ.text()) for occ in tree.find(setting.names)]
            parts.append(
                "%s %s %s (asked: %s)%s" % (prefix, setting.key, found, setting.expected, "; lines setting it: " + ", ".join(places[:6]) if places else "")
            )
        return (
            "; ".join(parts) + ". Something sshd reads first (a command-line -o option, an earlier Include, a Match block) "
            "wins over the module's lines; nothing was changed"
        )

    def _recheck(self, plan):
        for path, original in plan.originals.items():
            current = self.read(path)
            if current != original:
                raise AuthError("%s changed while the module was working; nothing was written, run the task again" % path)

    def _finish(self, changes, before, after, extra):
        extra["effective"] = {"before": before, "after": after}
        extra["reload_required"] = changes.changed
        for text in self.warnings:
            self.module.warn(text)
        return changes.result(**extra)


def run_module(module):
    """Entry point for the module file: run, and turn refusals into fail_json."""
    try:
        result = SshdAuthMethods(module).run()
    except (AuthError, ConfigError, SshdError, AtomicWriteError) as exc:
        module.fail_json(msg=str(exc))
    except OSError as exc:
        module.fail_json(msg="%s%s: %s; nothing was changed" % (exc.strerror or type(exc).__name__, " (%s)" % exc.filename if exc.filename else "", exc))
    module.exit_json(**result)
