# -*- coding: utf-8 -*-
# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Audit (and enforce) every account's authorized_keys the way sshd reads them.

The orchestration behind ``fleetauth.ssh.authorized_key_audit``:

* accounts from the passwd database (or a list of names);
* each account's effective sshd settings (AuthorizedKeysFile, AuthorizedKeysCommand,
  PubkeyAcceptedAlgorithms, CASignatureAlgorithms, RequiredRSASize, StrictModes,
  PubkeyAuthentication) from ``sshd -T -C user=…`` — but only once per group of
  accounts that the configuration's ``Match User``/``Match Group`` blocks cannot tell
  apart (a scan of the Match lines decides; anything it cannot judge falls back to
  one ``sshd -T`` per account);
* each key file reached from ``/`` one component at a time without following a
  symbolic link (a symlinked file or directory is reported, never read or written
  through), opened non-blocking so a FIFO cannot hang the run, read with a size cap;
* StrictModes checked as sshd does (``safe_path``): the file and every directory up
  to the home directory owned by the user or root and not group/world writable;
* findings from :mod:`._authorized_keys`, duplicates across accounts, allowlists and
  required options;
* enforcement through :class:`._changes.ChangeSet` (atomic, owner and mode kept) and
  permission fixes on file descriptors opened without following links.

Python 3.8+ standard library only: this runs on managed hosts.
"""

from __future__ import annotations

import errno
import fnmatch
import glob as _glob
import grp
import marshal
import os
import pwd
import re
import stat
import time

from . import _authorized_keys as ak
from ._atomic import AtomicWriteError, SymlinkRefused, read_bytes
from ._changes import ChangeSet
from ._sshd_runtime import SshdError, SshdRuntime, context_spec

SEVERITIES = ("high", "medium", "low", "info")
REMOVABLE = ("invalid", "weak", "expired", "unlisted", "duplicate")
KEY_REPORTS = ("full", "fingerprints", "none")
DEFAULT_AUTHORIZED_KEYS_FILES = (".ssh/authorized_keys", ".ssh/authorized_keys2")
DEFAULT_SSHD_CONFIG = "/etc/ssh/sshd_config"
MAX_FINDINGS_PER_FILE = 200
MAX_LINES = 100000  # a legitimate authorized_keys has thousands of lines at most; millions of empty ones are an attack
MAX_CONFIG_BYTES = 1 << 20
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_FINGERPRINT = re.compile(r"SHA256:[A-Za-z0-9+/]{43}")
_BLOCKING = frozenset({"invalid", "expired", "refused_by_server"})
_UNSET = object()


class AuditError(Exception):
    """The audit cannot run as asked; the message says what to change."""


# ------------------------------------------------------------------ accounts


class Account:
    __slots__ = ("gid", "home", "name", "uid")

    def __init__(self, name, uid, gid, home):
        self.name = name
        self.uid = uid
        self.gid = gid
        self.home = home


def load_accounts(users=None, getpwall=pwd.getpwall, getpwnam=pwd.getpwnam):
    """Accounts to audit (passwd order, first entry of a name wins) and the names not found."""
    if users is None:
        seen = set()
        accounts = []
        for entry in getpwall():
            if entry.pw_name in seen:
                continue
            seen.add(entry.pw_name)
            accounts.append(Account(entry.pw_name, entry.pw_uid, entry.pw_gid, entry.pw_dir))
        return accounts, []
    accounts, missing = [], []
    for name in dict.fromkeys(users):
        try:
            entry = getpwnam(name)
        except KeyError:
            missing.append(name)
            continue
        accounts.append(Account(entry.pw_name, entry.pw_uid, entry.pw_gid, entry.pw_dir))
    return accounts, missing


class GroupMap:
    """Supplementary groups of users, read once from the group database when first needed."""

    def __init__(self, getgrall=None, getpwall=None):
        self._getgrall = getgrall
        self._getpwall = getpwall
        self._members = None
        self._names = None
        self._private = None

    def _load(self):
        members, names = {}, {}
        for entry in (self._getgrall or grp.getgrall)():
            names.setdefault(entry.gr_gid, entry.gr_name)
            for member in entry.gr_mem:
                members.setdefault(member, set()).add(entry.gr_gid)
        self._members, self._names = members, names

    def private(self, gid, owner_uid, user_uid):
        """Debian's user-group-modes test for group *gid* (see ak.private_group)."""
        if self._private is None:
            group_members = {}
            for entry in (self._getgrall or grp.getgrall)():
                group_members.setdefault(entry.gr_gid, list(entry.gr_mem))
            primary, names = {}, {}
            for entry in (self._getpwall or pwd.getpwall)():
                primary.setdefault(entry.pw_gid, []).append(entry.pw_uid)
                names.setdefault(entry.pw_uid, entry.pw_name)
            self._private = (group_members, primary, names)
        return ak.private_group(gid, owner_uid, user_uid, *self._private)

    def gids(self, account):
        if self._members is None:
            self._load()
        return self._members.get(account.name, set()) | {account.gid}

    def names(self, account):
        if self._names is None:
            self._load()
        return {self._names.get(gid, str(gid)) for gid in self.gids(account)}


# ------------------------------------------------------------------ sshd configuration


class EffectiveConfig:
    """The settings of ``sshd -T`` this audit needs, for one account or group of accounts."""

    def __init__(self, values=None):
        values = values or {}
        files = values.get("authorizedkeysfile")
        if isinstance(files, list):
            files = " ".join(files)
        self.authorized_keys_files = (files or " ".join(DEFAULT_AUTHORIZED_KEYS_FILES)).split()
        command = values.get("authorizedkeyscommand", "none")
        self.command = None if command in (None, "", "none") else command
        command_user = values.get("authorizedkeyscommanduser", "none")
        self.command_user = None if command_user in (None, "", "none") else command_user
        accepted = values.get("pubkeyacceptedalgorithms", values.get("pubkeyacceptedkeytypes"))
        self.accepted_algorithms = accepted  # None: unknown (no sshd), no algorithm check
        self.ca_algorithms = values.get("casignaturealgorithms")
        self.strict_modes = values.get("strictmodes", "yes") != "no"
        self.pubkey_authentication = values.get("pubkeyauthentication", "yes") != "no"
        methods = values.get("authenticationmethods", "any")
        self.authentication_methods = methods
        try:
            self.required_rsa_size = int(values.get("requiredrsasize", 0))
        except ValueError:
            self.required_rsa_size = 0
        self.refusals = {}  # (key type, cert-authority) -> refusal or None, filled as keys are met

    @property
    def pubkey_usable(self):
        if not self.pubkey_authentication:
            return False
        methods = self.authentication_methods
        if methods in (None, "", "any"):
            return True
        return any("publickey" in alternative.split(",") for alternative in methods.split())

    def signature(self):
        return (
            tuple(self.authorized_keys_files),
            self.command,
            self.command_user,
            self.accepted_algorithms,
            self.ca_algorithms,
            self.strict_modes,
            self.pubkey_usable,
            self.required_rsa_size,
        )


_USER_CRITERIA = ("user", "group")
_FIXED_CRITERIA = ("host", "address", "localaddress", "localport", "rdomain", "version", "all", "invalid-user")


def _config_words(line):
    """Split an sshd_config line into words (double quotes group, as sshd's argv_split)."""
    words, word, quoted, has_word = [], [], False, False
    for char in line:
        if char == '"':
            quoted = not quoted
            has_word = True
        elif not quoted and char in " \t":
            if has_word:
                words.append("".join(word))
                word, has_word = [], False
        else:
            word.append(char)
            has_word = True
    if has_word:
        words.append("".join(word))
    return words


def scan_match_criteria(path, read=None, depth=0):
    """The criteria of every ``Match`` line in *path* and its Includes.

    Returns a list of criteria lists ``[(attribute, value or None), …]``, or None when the
    configuration cannot be judged here (an unreadable file, a symlink we will not follow,
    an unknown criterion), in which case each account must be evaluated by sshd alone.
    """
    read = read or _read_config
    if depth > 16:
        return None
    data = read(path)
    if data is False:
        return None
    if data is None:
        return [] if depth else None
    found = []
    for raw in data.decode("utf-8", "replace").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _sep, rest = line.replace("=", " ", 1).partition(" ") if "=" in line.split()[0] else line.partition(" ")
        keyword = keyword.strip().lower()
        rest = rest.strip()
        if keyword == "include":
            for word in _config_words(rest):
                pattern = word if word.startswith("/") else "/etc/ssh/" + word
                for included in sorted(_glob.glob(pattern)) if _glob.has_magic(pattern) else [pattern]:
                    sub = scan_match_criteria(included, read, depth + 1)
                    if sub is None:
                        return None
                    found.extend(sub)
        elif keyword == "match":
            criteria = _match_criteria(_config_words(rest))
            if criteria is None:
                return None
            found.append(criteria)
    return found


def _match_criteria(words):
    criteria = []
    index = 0
    while index < len(words):
        word = words[index]
        if word.startswith("#"):
            break
        attribute, eq, value = word.partition("=")
        attribute = attribute.lower()
        if attribute in ("all", "invalid-user"):
            criteria.append((attribute, None))
            index += 1
            continue
        if not eq:
            index += 1
            value = words[index] if index < len(words) else None
        if attribute not in _USER_CRITERIA + _FIXED_CRITERIA or value is None:
            return None
        criteria.append((attribute, value))
        index += 1
    return criteria


def _read_config(path):
    """Bytes of a configuration file; None when it does not exist, False when it cannot be read safely."""
    try:
        return read_bytes(path, max_bytes=MAX_CONFIG_BYTES)
    except (AtomicWriteError, OSError):
        return False


def user_signature(account, match_lines, groups):
    """What the Match User/Group criteria say about *account*: equal signatures get equal configurations."""
    signature = []
    for criteria in match_lines:
        for attribute, value in criteria:
            if attribute == "user":
                signature.append(ak.match_pattern_list(account.name, value) == 1)
            elif attribute == "group":
                signature.append(_group_match(groups.names(account), value))
    return tuple(signature)


def _group_match(group_names, patterns):
    found = False
    for name in group_names:
        result = ak.match_pattern_list(name, patterns)
        if result == -1:
            return False
        if result == 1:
            found = True
    return found


# ------------------------------------------------------------------ paths


def expand_tokens(template, account):
    """sshd's expansion of AuthorizedKeysFile: %h %u %U %%, relative paths under the home directory."""
    if "%" not in template:
        return template if template.startswith("/") else account.home.rstrip("/") + "/" + template
    out = []
    index = 0
    while index < len(template):
        char = template[index]
        if char != "%":
            out.append(char)
            index += 1
            continue
        if index + 1 >= len(template):
            raise AuditError("AuthorizedKeysFile %r ends with a lone %%" % template)
        letter = template[index + 1]
        if letter == "%":
            out.append("%")
        elif letter == "h":
            out.append(account.home)
        elif letter == "u":
            out.append(account.name)
        elif letter == "U":
            out.append(str(account.uid))
        else:
            raise AuditError("AuthorizedKeysFile %r uses the unknown token %%%s (sshd knows %%h %%u %%U %%%%)" % (template, letter))
        index += 2
    path = "".join(out)
    if not path.startswith("/"):
        path = account.home.rstrip("/") + "/" + path
    return path


def normalize(path):
    """Absolute path without '.', '..' or doubled slashes (lexically, as sshd's realpath would see it without links)."""
    path = os.path.normpath(path)
    if path.startswith("//"):
        path = "/" + path.lstrip("/")
    return path


# ------------------------------------------------------------------ walking without following links


class WalkResult:
    __slots__ = ("dir_fd", "dirs", "error", "file_st", "missing", "name", "not_dir", "symlink", "symlink_st", "symlink_target")

    def __init__(self):
        self.dirs = []  # [(path, stat)] from "/" down to the parent directory
        self.dir_fd = None  # the parent directory, open (owned by the Walker)
        self.name = None  # last component
        self.file_st = None  # lstat of the last component
        self.symlink = None  # path of the symlinked component (or of the file itself)
        self.symlink_target = None
        self.symlink_st = None  # lstat of the link itself (its owner decides how alarming it is)
        self.missing = False
        self.not_dir = None  # a component that is not a directory
        self.error = None  # a directory that could not be opened (e.g. permission denied on NFS)


class Walker:
    """Reach paths from ``/`` one component at a time (O_NOFOLLOW, no symlink ever followed).

    Directories it opens stay open in a cache: shallow ones (``/``, ``/home``) for the whole
    run, the rest until :meth:`end_account` -- so an account's two key files in one
    directory cost one walk, and 10,000 home directories never hold 10,000 descriptors.
    """

    def __init__(self):
        self._shared = {}  # path -> (fd, stat), depth <= 1 ("/", "/home")
        self._session = {}  # path -> (fd, stat), closed by end_account()

    def end_account(self):
        for fd, _st in self._session.values():
            os.close(fd)
        self._session = {}

    def close(self):
        self.end_account()
        for fd, _st in self._shared.values():
            os.close(fd)
        self._shared = {}

    def _cached(self, path):
        return self._shared.get(path) or self._session.get(path)

    def _remember(self, path, fd, st):
        (self._shared if path.count("/") <= 1 and len(self._shared) < 64 else self._session)[path] = (fd, st)

    def directory(self, path, result):
        """Open directory *path* (normalized); fill result.dirs; return its fd, or None with result telling why."""
        cached = self._cached("/")
        if cached is None:
            fd = os.open("/", _DIR_FLAGS)
            cached = (fd, os.fstat(fd))
            self._remember("/", *cached)
        fd, st = cached
        result.dirs.append(("/", st))
        current = ""
        for name in [p for p in path.split("/") if p]:
            here = current + "/" + name
            current = here
            cached = self._cached(here)
            if cached is not None:
                fd, st = cached
                result.dirs.append((here, st))
                continue
            # O_NOFOLLOW|O_DIRECTORY: a symlink or a non-directory fails here, and nothing is opened
            try:
                new_fd = os.open(name, _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                self._classify_failure(name, fd, here, exc, result)
                return None
            st = os.fstat(new_fd)
            self._remember(here, new_fd, st)
            result.dirs.append((here, st))
            fd = new_fd
        return fd

    @staticmethod
    def _classify_failure(name, dir_fd, here, exc, result):
        try:
            lst = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except OSError:
            lst = None
        if lst is not None and stat.S_ISLNK(lst.st_mode):
            result.symlink = here
            result.symlink_st = lst
            result.symlink_target = _readlink(name, dir_fd)
        elif lst is not None and not stat.S_ISDIR(lst.st_mode):
            result.not_dir = here
        elif exc.errno not in (errno.ENOENT, errno.ENOTDIR):
            result.error = "%s: %s" % (here, exc.strerror)
        else:
            result.missing = True

    def walk(self, path):
        """lstat the last component of *path* after reaching its parent safely."""
        result = WalkResult()
        parent, name = path.rsplit("/", 1)
        result.name = name
        fd = self.directory(parent or "/", result)
        if fd is None:
            return result
        result.dir_fd = fd
        try:
            result.file_st = os.stat(name, dir_fd=fd, follow_symlinks=False)
        except (FileNotFoundError, NotADirectoryError):
            result.missing = True
            return result
        except OSError as exc:
            result.error = "%s: %s" % (path, exc.strerror)
            return result
        if stat.S_ISLNK(result.file_st.st_mode):
            result.symlink = path
            result.symlink_st = result.file_st
            result.symlink_target = _readlink(name, fd)
        return result

    def listdir(self, path):
        """Names in directory *path* (reached without following links); [] when it cannot be reached."""
        result = WalkResult()
        fd = self.directory(path, result)
        if fd is None:
            return []
        try:
            return sorted(os.listdir(fd))
        except OSError:
            return []


def _readlink(name, dir_fd):
    try:
        return os.readlink(name, dir_fd=dir_fd)
    except OSError:
        return None


def read_regular(dir_fd, name, expected, max_bytes):
    """Read file *name* in *dir_fd* without following links or blocking; verify it is the inode we checked.

    Returns (data or None, error text or None, oversized bool).
    """
    try:
        fd = os.open(name, _OPEN_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        return None, "cannot open it: %s" % exc.strerror, False
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or (st.st_dev, st.st_ino) != (expected.st_dev, expected.st_ino):
            return None, "it was replaced while being checked", False
        if st.st_size > max_bytes:
            return None, None, True
        want = min(st.st_size, max_bytes) + 1
        data = os.read(fd, want)
        if len(data) < want and len(data) == st.st_size:
            return data, None, False  # the whole file in one read (EOF seen: short read on a regular file)
        chunks = [data]
        total = len(data)
        while True:
            chunk = os.read(fd, min(1 << 20, max_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > max_bytes:
                return None, None, True
        return b"".join(chunks), None, False
    except OSError as exc:
        return None, "cannot read it: %s" % exc.strerror, False
    finally:
        os.close(fd)


def glob_nofollow(walker, pattern):
    """glob(3) of *pattern*, one directory level at a time and never through a symlink (sorted like glob)."""
    parts = [p for p in pattern.split("/") if p]
    paths = ["/"]
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        found = []
        for base in paths:
            prefix = base.rstrip("/") + "/"
            if not _glob.has_magic(part):
                found.append(prefix + part)
                continue
            for name in walker.listdir(base):
                if name.startswith(".") and not part.startswith("."):
                    continue
                if fnmatch.fnmatchcase(name, part):
                    found.append(prefix + name)
        if not last:
            found = [p for p in found if _is_dir_nofollow(walker, p)]
        paths = found
    return sorted(paths)


def _is_dir_nofollow(walker, path):
    walk = walker.walk(path)
    return walk.file_st is not None and not walk.symlink and stat.S_ISDIR(walk.file_st.st_mode)


# ------------------------------------------------------------------ policy


class Policy:
    """What the caller asks for (module parameters, validated)."""

    def __init__(
        self,
        min_rsa_bits=3072,
        allowed_fingerprints=None,
        allowed_fingerprints_by_user=None,
        required_options=None,
        required_options_by_user=None,
        remove=("invalid", "expired"),
        fix_permissions=True,
        max_file_size=16 << 20,
        max_line_length=ak.DEFAULT_MAX_LINE_LENGTH,
        key_report="full",
        connection=None,
        effective_config="grouped",
        sshd_config=None,
        strict_modes_rule="auto",
    ):
        self.min_rsa_bits = min_rsa_bits
        self.allowed = None if allowed_fingerprints is None else set(_check_fingerprints(allowed_fingerprints, "allowed_fingerprints"))
        self.allowed_by_user = {
            user: set(_check_fingerprints(values or [], "allowed_fingerprints_by_user[%s]" % user))
            for user, values in (allowed_fingerprints_by_user or {}).items()
        }
        self.required = _check_options(required_options or [], "required_options")
        self.required_by_user = {
            user: _check_options(values or [], "required_options_by_user[%s]" % user) for user, values in (required_options_by_user or {}).items()
        }
        unknown = set(remove or ()) - set(REMOVABLE)
        if unknown:
            raise AuditError("remove: unknown categories %s (choose from %s)" % (", ".join(sorted(unknown)), ", ".join(REMOVABLE)))
        self.remove = frozenset(remove or ())
        self.fix_permissions = fix_permissions
        if max_file_size < 1 or max_line_length < 256:
            raise AuditError("max_file_size must be positive and max_line_length at least 256")
        self.max_file_size = max_file_size
        self.max_line_length = max_line_length
        if key_report not in KEY_REPORTS:
            raise AuditError("key_report must be one of %s" % ", ".join(KEY_REPORTS))
        self.key_report = key_report
        self.connection = {k: v for k, v in (connection or {}).items() if v not in (None, "")}
        if effective_config not in ("grouped", "per_user"):
            raise AuditError("effective_config must be grouped or per_user")
        self.effective_config = effective_config
        self.sshd_config = sshd_config
        if strict_modes_rule not in ("auto", "upstream", "debian"):
            raise AuditError("strict_modes_rule must be auto, upstream or debian")
        self.strict_modes_rule = strict_modes_rule
        if self.connection:
            try:
                context_spec(dict(self.connection, user="x"))
            except SshdError as exc:
                raise AuditError("connection: %s" % exc) from None

    def allowed_for(self, account):
        """The fingerprints allowed for *account*, or None when no allowlist applies to it."""
        own = self.allowed_by_user.get(account.name)
        if self.allowed is None and own is None:
            return None
        return (self.allowed or set()) | (own or set())

    def required_for(self, account):
        return self.required + [opt for opt in self.required_by_user.get(account.name, []) if opt not in self.required]


def _check_fingerprints(values, label):
    out = []
    for value in values:
        text = str(value).strip()
        if not _FINGERPRINT.fullmatch(text):
            raise AuditError(
                "%s: %r is not a SHA256 fingerprint as ssh-keygen -lf prints it (SHA256: followed by 43 base64 characters)" % (label, _short(text))
            )
        out.append(text)
    return out


def _check_options(values, label):
    out = []
    for value in values:
        name = str(value).strip().lower()
        if name not in ak.REQUIRABLE_OPTIONS:
            raise AuditError("%s: unknown option %r (choose from %s)" % (label, _short(name), ", ".join(ak.REQUIRABLE_OPTIONS)))
        if name not in out:
            out.append(name)
    return out


def _short(text, limit=60):
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


# ------------------------------------------------------------------ the audit


class FileReport:
    """One key file of one account: where it is, what sshd thinks of it, what is in it."""

    def __init__(self, path, template):
        self.path = path
        self.template = template
        self.status = "missing"
        self.st = None
        self.dirs = []
        self.dir_fd = None
        self.name = None
        self.data = None
        self.lines = []
        self.strict = []  # [(path, problem, stat, is_file)]
        self.readable_by_user = True
        self.usable = False  # sshd would read it
        self.removals = {}  # line number -> set of removable kinds

    @property
    def exists(self):
        return self.status != "missing"


class AccountReport:
    """What the audit found for one account (plain data, so a worker process can send it back)."""

    def __init__(self, account, cfg):
        self.account = account
        self.cfg = cfg
        self.files = []  # FileReport objects (kept for enforce)
        self.file_summaries = []  # existing files: path, status, mode, owner_uid, lines, keys, used_by_sshd
        self.keys = []  # key entries (dicts) or fingerprints, per key_report
        self.usable = 0
        self.readable = 0
        self.occurrences = []  # ((fingerprint, cert_authority), path, line) of each key's first line in this account
        self.config_error = None

    def to_wire(self):
        return (self.account.name, self.file_summaries, self.keys, self.usable, self.readable, self.occurrences)

    @classmethod
    def from_wire(cls, account, cfg, wire):
        report = cls(account, cfg)
        _name, report.file_summaries, report.keys, report.usable, report.readable, occurrences = wire
        report.occurrences = [(tuple(key), path, number) for key, path, number in occurrences]
        return report


class Auditor:
    """Audit accounts; collects findings and, for enforce, the changes to make."""

    def __init__(self, policy, runtime=None, now=None, walker=None, groups=None):
        self.policy = policy
        self.runtime = runtime
        self.now = time.time() if now is None else now
        self.walker = walker or Walker()
        self.groups = groups or GroupMap()
        self.findings = []
        self.notes = []
        self.version = None
        self.strict_rule = policy.strict_modes_rule if policy.strict_modes_rule != "auto" else "upstream"
        self.evaluations = 0
        self.reports = []
        self._links_reported = set()

    # -- effective configuration

    def configure(self, accounts):
        """EffectiveConfig per account name, with as few ``sshd -T`` runs as the configuration allows."""
        if self.runtime is None:
            self.notes.append("sshd was not consulted: default AuthorizedKeysFile and StrictModes, no algorithm checks")
            cfg = EffectiveConfig()
            return {account.name: cfg for account in accounts}
        try:
            self.version = self.runtime.version()
            if self.policy.strict_modes_rule == "auto":
                self.strict_rule = detect_strict_rule(self.runtime.version_text, lambda: _read_binary(self.runtime.sshd))
        except SshdError as exc:
            self.notes.append("sshd is not usable (%s): default AuthorizedKeysFile and StrictModes, no algorithm checks" % exc)
            cfg = EffectiveConfig()
            return {account.name: cfg for account in accounts}
        groups = self._group_accounts(accounts)
        configs = {}
        cache = {}
        for members in groups:
            representative = next((a for a in members if _context_safe(a.name)), None)
            if representative is None:
                for account in members:
                    configs[account.name] = None
                continue
            cfg = self._effective(representative.name, cache)
            for account in members:
                configs[account.name] = cfg
        return configs

    def _group_accounts(self, accounts):
        if not accounts:
            return []
        if self.policy.effective_config == "per_user":
            return [[account] for account in accounts]
        match_lines = scan_match_criteria(self.policy.sshd_config or DEFAULT_SSHD_CONFIG)
        if match_lines is None:
            self.notes.append("the sshd configuration's Match blocks could not be judged here; sshd -T was asked once per account")
            return [[account] for account in accounts]
        relevant = [criteria for criteria in match_lines if any(attr in _USER_CRITERIA for attr, _value in criteria)]
        if not relevant:
            return [list(accounts)]
        buckets = {}
        for account in accounts:
            buckets.setdefault(user_signature(account, relevant, self.groups), []).append(account)
        return list(buckets.values())

    def _effective(self, user, cache):
        context = dict(self.policy.connection, user=user)
        try:
            values = self.runtime.effective(config_path=self.policy.sshd_config, context=context)
        except SshdError as exc:
            raise AuditError("cannot read the effective sshd configuration for %s: %s" % (user, exc)) from None
        self.evaluations += 1
        cfg = EffectiveConfig(values)
        return cache.setdefault(cfg.signature(), cfg)

    # -- one account

    def audit(self, accounts, configs, workers=1):
        """Audit *accounts*; with workers > 1 (audit only, no enforce) chunks run in forked processes."""
        chunks = _chunks(accounts, workers) if workers > 1 and hasattr(os, "fork") else [list(accounts)]
        children = [self._fork_chunk(chunk, configs) for chunk in chunks[1:]]
        self._audit_chunk(chunks[0], configs)
        for chunk, child in zip(chunks[1:], children):
            wire = _collect(child)
            if wire is None:
                self.notes.append("a worker process failed; its %d accounts were audited in the main process" % len(chunk))
                self._audit_chunk(chunk, configs)
                continue
            findings, reports = wire
            self.findings.extend(findings)
            for account, report_wire in zip(chunk, reports):
                self.reports.append(AccountReport.from_wire(account, configs.get(account.name), report_wire))
        self._cross_account_duplicates()

    def _audit_chunk(self, accounts, configs):
        for account in accounts:
            cfg = configs.get(account.name)
            report = AccountReport(account, cfg)
            self.reports.append(report)
            if cfg is None:
                self.add_finding("medium", "config_error", account.name, None, None, None, "the user name cannot be passed to sshd -T -C; account not audited")
                continue
            try:
                self._audit_account(report)
            finally:
                self.walker.end_account()

    def _fork_chunk(self, accounts, configs):
        """Audit *accounts* in a child process; returns (pid, read end of its pipe), or None when fork fails."""
        try:
            read_fd, write_fd = os.pipe()
            pid = os.fork()
        except OSError:
            return None
        if pid:
            os.close(write_fd)
            return pid, read_fd
        status = 1
        try:  # the child: audit, send plain data back, leave without running the parent's exit handlers
            os.close(read_fd)
            self.walker = Walker()
            self.findings = []
            self.reports = []
            self._audit_chunk(accounts, configs)
            payload = marshal.dumps((self.findings, [report.to_wire() for report in self.reports]))
            view = memoryview(payload)
            while view:
                view = view[os.write(write_fd, view) :]
            status = 0
        except BaseException:  # pylint: disable=broad-exception-caught
            status = 1
        finally:
            os._exit(status)  # pylint: disable=protected-access

    def _paths(self, report):
        account, cfg = report.account, report.cfg
        paths = []
        for template in cfg.authorized_keys_files:
            if template.lower() == "none":
                continue
            try:
                path = normalize(expand_tokens(template, account))
            except AuditError as exc:
                report.config_error = str(exc)
                continue
            if self.version is not None and self.version >= (10, 0) and _glob.has_magic(path):
                expanded = glob_nofollow(self.walker, path)
                paths.extend((p, template) for p in expanded)
            else:
                paths.append((path, template))
        seen = set()
        return [(p, t) for p, t in paths if not (p in seen or seen.add(p))]

    def _audit_account(self, report):
        account = report.account
        user_seen = {}
        for path, template in self._paths(report):
            file_report = FileReport(path, template)
            report.files.append(file_report)
            self._inspect_file(report, file_report)
            if file_report.data is None:
                continue
            utc_ok = self.version is None or self.version >= (9, 1)
            file_report.lines = ak.parse_file(file_report.data, self.policy.max_line_length, utc_ok)
            self._check_lines(report, file_report, user_seen)
        for fr in report.files:
            if fr.exists:
                readable = sum(1 for line in fr.lines if line.readable)
                report.readable += readable
                report.file_summaries.append(
                    {
                        "path": fr.path,
                        "status": fr.status,
                        "mode": "%04o" % stat.S_IMODE(fr.st.st_mode) if fr.st is not None else None,
                        "owner_uid": fr.st.st_uid if fr.st is not None else None,
                        "lines": len(fr.lines),
                        "keys": readable,
                        "used_by_sshd": fr.usable,
                    }
                )
        if report.config_error:
            self.add_finding("medium", "config_error", account.name, None, None, None, report.config_error)

    def _inspect_file(self, report, fr):
        account, cfg = report.account, report.cfg
        walk = self.walker.walk(fr.path)
        fr.dirs = walk.dirs
        if walk.symlink:
            fr.status = "symlink"
            self._symlink_finding(report, fr, walk)
            return
        if walk.error:
            fr.status = "error"
            self.add_finding("medium", "read_error", account.name, fr.path, None, None, "cannot reach %s (%s); not audited" % (fr.path, walk.error))
            return
        if walk.missing or walk.not_dir or walk.file_st is None:
            return
        st = walk.file_st
        fr.st = st
        fr.dir_fd = walk.dir_fd
        fr.name = walk.name
        if not stat.S_ISREG(st.st_mode):
            fr.status = "not_regular"
            self.add_finding(
                "medium",
                "not_regular_file",
                account.name,
                fr.path,
                None,
                None,
                "%s is a %s, not a regular file; sshd ignores it and it was not read" % (fr.path, _file_kind(st.st_mode)),
            )
            return
        fr.status = "ok"
        if cfg.strict_modes:
            self._strict_modes(report, fr)
        self._user_access(report, fr)
        if st.st_nlink > 1:
            self.add_finding(
                "high",
                "hardlink",
                account.name,
                fr.path,
                None,
                None,
                "%s has %d hard links: it may be another file (e.g. a system file) seen through this name; enforce leaves it alone" % (fr.path, st.st_nlink),
            )
        data, error, oversized = read_regular(walk.dir_fd, walk.name, st, self.policy.max_file_size)
        if oversized:
            fr.status = "oversized"
            self.add_finding(
                "medium",
                "oversized_file",
                account.name,
                fr.path,
                None,
                None,
                "%s is %d bytes, over max_file_size (%d); it was not read (raise max_file_size to audit it)" % (fr.path, st.st_size, self.policy.max_file_size),
            )
            return
        if error:
            fr.status = "error"
            self.add_finding("medium", "read_error", account.name, fr.path, None, None, "%s: %s" % (fr.path, error))
            return
        lines = data.count(b"\n")
        if lines > MAX_LINES:
            fr.status = "oversized"
            self.add_finding(
                "medium",
                "oversized_file",
                account.name,
                fr.path,
                None,
                None,
                "%s has %d lines, over the limit of %d; it was not parsed" % (fr.path, lines, MAX_LINES),
                reason="too_many_lines",
            )
            return
        fr.data = data
        fr.usable = not fr.strict and fr.readable_by_user

    def _symlink_finding(self, report, fr, walk):
        account = report.account
        key = (account.name, walk.symlink)
        if key in self._links_reported:
            return
        self._links_reported.add(key)
        target = " -> %s" % _short(walk.symlink_target, 200) if walk.symlink_target else ""
        what = "the key file" if walk.symlink == fr.path else "the directory"
        link_st = walk.symlink_st
        parent_st = walk.dirs[-1][1] if walk.dirs else None
        # only root can have made (or can change) a root-owned link in a directory only root may write
        system = link_st is not None and link_st.st_uid == 0 and parent_st is not None and parent_st.st_uid == 0 and not parent_st.st_mode & 0o022
        if system:
            severity, reason = "low", "system_link"
            tail = "a root-owned link in a directory only root can change (system layout); not followed, so %s was not audited" % fr.path
        else:
            severity, reason = "high", "untrusted_link"
            tail = "not followed (audit) and never written through (enforce), but sshd follows it as the user: replace it with a real %s" % (
                "file" if walk.symlink == fr.path else "directory"
            )
        self.add_finding(
            severity,
            "symlink",
            account.name,
            fr.path,
            None,
            None,
            "%s %s is a symbolic link%s: %s" % (what, walk.symlink, target, tail),
            reason=reason,
            path=walk.symlink,
        )

    def _group_ok(self, st, uid):
        """None for upstream's rule; for Debian's, a callable telling whether st's group is the user's alone."""
        if self.strict_rule != "debian":
            return None
        return lambda: self.groups.private(st.st_gid, st.st_uid, uid)

    def _strict_modes(self, report, fr):
        account = report.account
        uid = account.uid
        problem = ak.strict_modes_problem(fr.st.st_mode, fr.st.st_uid, uid, True, self._group_ok(fr.st, uid))
        if problem:
            fr.strict.append((fr.path, problem, fr.st, True))
        home = normalize(account.home) if account.home else None
        chain = fr.dirs
        under_home = home is not None and any(path == home for path, _st in chain)
        for path, st in reversed(chain):
            problem = ak.strict_modes_problem(st.st_mode, st.st_uid, uid, False, self._group_ok(st, uid))
            if problem:
                fr.strict.append((path, problem, st, False))
            if under_home and path == home:
                break
        for path, problem, st, is_file in fr.strict:
            inside = self._inside_home(account, path)
            self.add_finding(
                "high",
                "strict_modes",
                account.name,
                fr.path,
                None,
                None,
                "StrictModes: %s %s %s, so sshd ignores %s%s"
                % (
                    "the file" if is_file else "the directory",
                    path,
                    problem,
                    fr.path,
                    "" if inside or is_file else " (outside the home directory: fix it by hand)",
                ),
                path=path,
                mode="%04o" % stat.S_IMODE(st.st_mode),
                owner_uid=st.st_uid,
            )

    @staticmethod
    def _inside_home(account, path):
        home = normalize(account.home) if account.home else None
        return home is not None and home != "/" and (path == home or path.startswith(home + "/"))

    def _user_access(self, report, fr):
        account = report.account
        if account.uid == 0:
            return
        gids = None
        for path, st in fr.dirs:
            if st.st_uid != account.uid and (st.st_mode >> 3) & 1 != st.st_mode & 1 and gids is None:
                gids = self.groups.gids(account)
            if not ak.can_access(st.st_mode, st.st_uid, st.st_gid, account.uid, gids or {account.gid}, 1):
                return self._unreadable(report, fr, "the directory %s is not searchable by %s" % (path, account.name))
        st = fr.st
        if st.st_uid != account.uid and (st.st_mode >> 3) & 4 != st.st_mode & 4 and gids is None:
            gids = self.groups.gids(account)
        if not ak.can_access(st.st_mode, st.st_uid, st.st_gid, account.uid, gids or {account.gid}, 4):
            return self._unreadable(
                report, fr, "the file is not readable by %s (owner uid %d, mode %04o)" % (account.name, st.st_uid, stat.S_IMODE(st.st_mode))
            )
        return None

    def _unreadable(self, report, fr, why):
        fr.readable_by_user = False
        self.add_finding(
            "medium",
            "unreadable_by_user",
            report.account.name,
            fr.path,
            None,
            None,
            "sshd reads %s as the user, and %s: its keys cannot work (POSIX permissions; ACLs not considered)" % (fr.path, why),
        )

    # -- lines

    def _check_lines(self, report, fr, user_seen):
        account, cfg, policy = report.account, report.cfg, self.policy
        allowed = policy.allowed_for(account)
        required = policy.required_for(account)
        min_rsa_bits = policy.min_rsa_bits
        key_report = policy.key_report
        file_usable = fr.usable and cfg.pubkey_usable
        refusals = cfg.refusals
        occurrences = report.occurrences
        name = account.name
        listed = hidden = 0
        for line in fr.lines:
            kind = line.kind
            if kind is ak.BLANK or kind is ak.COMMENT:
                continue
            key = line.key
            fingerprint = key.fingerprint if key is not None else None
            found = None
            if kind is ak.INVALID:
                found = [(line.severity or "medium", "invalid", line.reason, line.message)]
            else:
                opts = line.options
                ca = opts is not None and opts.cert_authority
                base = key.base
                if base == ak.RSA:
                    if key.bits < min_rsa_bits:
                        found = [("medium", "weak", "rsa_bits", "RSA key of %d bits, under min_rsa_bits (%d)" % (key.bits, min_rsa_bits))]
                elif base == ak.DSA:
                    found = [("high", "weak", "dsa", "DSA keys are limited to 1024 bits, off by default since OpenSSH 7.0 and removed in 10.0")]
                if opts is not None and opts.expiry is not None and opts.expiry < self.now:
                    found = (found or []) + [
                        ("low", "expired", "expiry_time", "expiry-time %s has passed (%s); sshd refuses this key" % (opts.expiry_text, _iso(opts.expiry)))
                    ]
                refusal_key = (key.type_name, ca)
                refused = refusals.get(refusal_key, _UNSET)
                if refused is _UNSET:
                    refused = refusals[refusal_key] = self._refused_algorithm(cfg, key.type_name, ca)
                if refused is None and base == ak.RSA and not ca and cfg.required_rsa_size and key.bits < cfg.required_rsa_size:
                    refused = ("required_rsa_size", "RSA key of %d bits, under sshd's RequiredRSASize (%d)" % (key.bits, cfg.required_rsa_size))
                if refused is not None:
                    found = (found or []) + [("medium", "refused_by_server", refused[0], refused[1])]
                if allowed is not None and fingerprint not in allowed:
                    found = (found or []) + [("high", "unlisted", None, "%s %s is not in the allowlist" % (key.type_name, fingerprint))]
                if required:
                    effective = opts or ak.Options()
                    missing = [option for option in required if not effective.satisfies(option)]
                    if missing:
                        found = (found or []) + [("high", "missing_options", None, "required option(s) missing: %s" % ", ".join(missing))]
                if line.reason == "nul_byte":
                    found = (found or []) + [("low", "nul_byte", None, line.message)]
                dup_key = (fingerprint, ca)
                first = user_seen.get(dup_key)
                if first is not None:
                    found = (found or []) + [
                        (
                            "low",
                            "duplicate",
                            "same_user",
                            "the same key is already on line %d of %s; sshd uses the first line whose options allow the login" % (first[1], first[0]),
                        )
                    ]
                else:
                    user_seen[dup_key] = (fr.path, line.number)
                    occurrences.append((dup_key, fr.path, line.number))
            if found:
                for severity, finding_kind, reason, message in found:
                    if finding_kind in REMOVABLE and not (finding_kind == "duplicate" and reason != "same_user"):
                        fr.removals.setdefault(line.number, set()).add(finding_kind)
                    if listed < MAX_FINDINGS_PER_FILE:
                        extra = {"reason": reason} if reason else {}
                        if line.end_line:
                            extra["end_line"] = line.end_line
                        self.add_finding(severity, finding_kind, name, fr.path, line.number, fingerprint, message, **extra)
                        listed += 1
                    else:
                        hidden += 1
            if line.readable:
                usable = file_usable and kind is ak.KEY and not (found and any(f[1] in _BLOCKING for f in found))
                report.usable += usable
                if key_report == "fingerprints":
                    report.keys.append(fingerprint)
                elif key_report == "full":
                    entry = {
                        "file": fr.path,
                        "line": line.number,
                        "type": key.type_name,
                        "bits": key.bits,
                        "fingerprint": fingerprint,
                        "comment": line.comment,
                        "usable": usable,
                    }
                    if line.options is not None and line.options.raw:
                        entry["options"] = list(line.options.raw)
                        if line.options.cert_authority:
                            entry["cert_authority"] = True
                    if found:
                        entry["problems"] = sorted({f[1] for f in found})
                    if key.sk_application is not None:
                        entry["sk_application"] = key.sk_application
                    if key.cert_info is not None:
                        entry["certificate"] = key.cert_info
                    report.keys.append(entry)
        if hidden:
            self.add_finding(
                "info",
                "truncated",
                name,
                fr.path,
                None,
                None,
                "%d more findings in %s are not listed (first %d shown)" % (hidden, fr.path, MAX_FINDINGS_PER_FILE),
            )

    @staticmethod
    def _refused_algorithm(cfg, type_name, cert_authority):
        """Why the server's algorithm settings refuse keys of *type_name* (None when they do not)."""
        if cert_authority:
            if cfg.ca_algorithms is not None and not ak.algorithm_accepted(type_name, cfg.ca_algorithms):
                return ("ca_algorithm", "sshd accepts no certificate signed by a %s CA (CASignatureAlgorithms)" % type_name)
            if cfg.accepted_algorithms is not None and "-cert-v01@openssh.com" not in cfg.accepted_algorithms:
                return ("no_certificates", "sshd accepts no certificate algorithm (PubkeyAcceptedAlgorithms), so this CA key is unused")
            return None
        if cfg.accepted_algorithms is not None and not ak.algorithm_accepted(type_name, cfg.accepted_algorithms):
            return ("algorithm", "sshd does not accept %s keys (PubkeyAcceptedAlgorithms)" % type_name)
        return None

    def _cross_account_duplicates(self):
        first = {}  # (fingerprint, cert_authority) -> (user, path, line) where it was first seen
        shared = {}  # (fingerprint, cert_authority) -> {user: (path, line)} for keys of several accounts
        for report in self.reports:
            name = report.account.name
            for dup_key, path, number in report.occurrences:
                other = first.get(dup_key)
                if other is None:
                    first[dup_key] = (name, path, number)
                elif other[0] != name:
                    shared.setdefault(dup_key, {other[0]: (other[1], other[2])}).setdefault(name, (path, number))
        if not shared:
            return
        reports = {report.account.name: report for report in self.reports}
        for (fingerprint, _ca), by_user in shared.items():
            users = sorted(by_user)
            for user, (path, number) in by_user.items():
                others = [u for u in users if u != user]
                shown = ", ".join(others[:10]) + (" and %d more" % (len(others) - 10) if len(others) > 10 else "")
                self.add_finding(
                    "medium",
                    "duplicate",
                    user,
                    path,
                    number,
                    fingerprint,
                    "the same key is authorized for %d other account(s): %s (a shared key: nobody can tell who logged in)" % (len(others), shown),
                    reason="other_users",
                )
                if self.policy.key_report != "full":
                    continue
                for entry in reports[user].keys:
                    if entry["fingerprint"] == fingerprint and "duplicate" not in entry.get("problems", ()):
                        entry["problems"] = sorted(entry.get("problems", []) + ["duplicate"])

    def add_finding(self, severity, kind, user, file_path, line, fingerprint, message, **extra):
        finding = {"severity": severity, "kind": kind, "user": user, "file": file_path, "line": line, "fingerprint": fingerprint, "message": message}
        finding.update(extra)
        self.findings.append(finding)
        return finding


def _chunks(items, count):
    items = list(items)
    size = -(-len(items) // max(1, count))
    return [items[i : i + size] for i in range(0, len(items), size)] or [[]]


def _collect(child):
    """The (findings, reports) a worker sent, or None when it failed."""
    if child is None:
        return None
    pid, read_fd = child
    chunks = []
    try:
        while True:
            chunk = os.read(read_fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(read_fd)
    _pid, status = os.waitpid(pid, 0)
    if status != 0:
        return None
    try:
        # our own forked child wrote this, through a pipe made before the fork: nothing else can
        return marshal.loads(b"".join(chunks))  # noqa: S302
    except (EOFError, ValueError, TypeError):
        return None


def worker_count(accounts, minimum=2000, limit=4):
    """How many processes to audit *accounts* with: one per available CPU (up to *limit*) for large hosts."""
    if len(accounts) < minimum:
        return 1
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, limit))


_DISTRO_BUILD = re.compile(rb"OpenSSH_[0-9][0-9.]*p[0-9]+ (?:Debian|Ubuntu)")


def detect_strict_rule(version_text, read_binary):
    """``debian`` when sshd is Debian's or Ubuntu's build (patched StrictModes), else ``upstream``.

    ``sshd -V`` names the build on some releases only (bookworm prints a bare
    ``OpenSSH_9.2``), so the version banner compiled into the binary decides.
    """
    if re.search(r"OpenSSH_\S+ (Debian|Ubuntu)", version_text or ""):
        return "debian"
    data = read_binary()
    return "debian" if data and _DISTRO_BUILD.search(data) else "upstream"


def _read_binary(path):
    try:
        return read_bytes(path, max_bytes=64 << 20)
    except (AtomicWriteError, OSError):
        return None


def _context_safe(name):
    return bool(name) and "," not in name and not any(ch.isspace() for ch in name)


def _file_kind(mode):
    for test, label in (
        (stat.S_ISDIR, "directory"),
        (stat.S_ISFIFO, "FIFO"),
        (stat.S_ISSOCK, "socket"),
        (stat.S_ISCHR, "character device"),
        (stat.S_ISBLK, "block device"),
    ):
        if test(mode):
            return label
    return "special file"


def _iso(epoch):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


# ------------------------------------------------------------------ enforce


class FilePlan:
    """What enforce changes in one key file."""

    def __init__(self, account, fr):
        self.account = account
        self.fr = fr
        self.drop = set()
        self.new_data = fr.data
        self.mode = None  # new file mode when StrictModes refuses the current one
        self.uid = None  # new owner when StrictModes refuses the current one
        self.dirs = []  # [(path, stat, new mode or None, new uid or None)]
        self.skipped = []  # [(path, reason)] problems enforce will not fix

    @property
    def content_changed(self):
        return self.new_data != self.fr.data

    @property
    def changed(self):
        return self.content_changed or self.mode is not None or self.uid is not None or bool(self.dirs)


def plan_enforce(auditor):
    """The per-file changes enforce makes: lines to drop and permissions to fix (nothing through a link)."""
    policy = auditor.policy
    plans = []
    for report in auditor.reports:
        account = report.account
        fixed_dirs = set()
        for fr in report.files:
            if fr.status != "ok" or fr.data is None or fr.st.st_nlink > 1:
                continue
            plan = FilePlan(account, fr)
            plan.drop = {number for number, kinds in fr.removals.items() if kinds & policy.remove}
            plan.new_data = ak.rebuild(fr.data, fr.lines, plan.drop)
            if policy.fix_permissions:
                for path, _problem, st, is_file in fr.strict:
                    new_mode = stat.S_IMODE(st.st_mode) & ~0o022 if st.st_mode & 0o022 else None
                    new_uid = account.uid if st.st_uid not in (0, account.uid) else None
                    if is_file:
                        if stat.S_ISREG(st.st_mode):
                            plan.mode, plan.uid = new_mode, new_uid
                    elif Auditor._inside_home(account, path):  # pylint: disable=protected-access
                        if path not in fixed_dirs:
                            fixed_dirs.add(path)
                            plan.dirs.append((path, st, new_mode, new_uid))
                    else:
                        plan.skipped.append((path, "outside the home directory"))
            if plan.changed:
                plans.append(plan)
    return plans


def render(lines, drop=(), limit=2000):
    """A diff-friendly view of a key file: line numbers, types, fingerprints, comments, options -- never key data."""
    out = []
    show_all = len(lines) <= limit
    for line in lines:
        if not show_all and line.number not in drop:
            continue
        out.append("%d: %s" % (line.number, describe_line(line)))
    if not show_all:
        out.insert(0, "(%d lines; only the removed ones are shown)" % len(lines))
    return "\n".join(out) + ("\n" if out else "")


def describe_line(line):
    if line.kind == ak.BLANK:
        return ""
    if line.kind == ak.COMMENT:
        return "# (comment)"
    key = line.key
    if line.kind == ak.INVALID:
        shown = " %s %s" % (key.type_name, key.fingerprint) if key is not None else ""
        return "(invalid: %s)%s" % (line.reason, shown)
    options = ",".join(line.options.raw) + " " if line.options and line.options.raw else ""
    return "%s%s %s %s%s" % (options, key.type_name, key.bits, key.fingerprint, " " + line.comment if line.comment else "")


class Enforcer:
    """Apply plans through ChangeSet (atomic rewrite, owner and mode kept) and fd-based permission fixes."""

    def __init__(self, module, auditor, backup=False):
        self.module = module
        self.auditor = auditor
        self.backup = backup
        self.changed = False
        self.files = []
        self.diffs = []
        self.backups = {}
        self.errors = []
        self.lines_removed = 0
        self.permissions_fixed = 0

    @property
    def check_mode(self):
        return bool(self.module.check_mode)

    def apply(self, plans):
        by_account = {}
        for plan in plans:
            by_account.setdefault(plan.account.name, []).append(plan)
        for name, account_plans in by_account.items():
            try:
                self._apply_account(account_plans)
            except AtomicWriteError as exc:
                self.errors.append("%s: %s" % (name, exc))
            finally:
                self.auditor.walker.end_account()

    def _apply_account(self, plans):
        changes = ChangeSet(self.module, backup=self.backup)
        perm_only = []
        for plan in plans:
            fr = plan.fr
            for path, reason in plan.skipped:
                self.auditor.notes.append("%s: not fixed (%s)" % (path, reason))
            if plan.content_changed:
                if not self.check_mode and not self._unchanged_on_disk(plan):
                    self.errors.append("%s changed while the audit ran; left as it is (run again)" % fr.path)
                    continue
                changes.propose(
                    fr.path,
                    fr.data,
                    plan.new_data,
                    mode=plan.mode,
                    uid=plan.uid,
                    diff_before=render(fr.lines, plan.drop) + _perm_text(fr.st, None, None),
                    diff_after=render([line for line in fr.lines if line.number not in plan.drop], plan.drop) + _perm_text(fr.st, plan.mode, plan.uid),
                )
                self.lines_removed += len(plan.drop)
                if plan.mode is not None or plan.uid is not None:
                    self.permissions_fixed += 1
            elif plan.mode is not None or plan.uid is not None:
                perm_only.append((fr.path, fr.st, plan.mode, plan.uid, True))
            perm_only.extend((path, st, mode, uid, False) for path, st, mode, uid in plan.dirs)
        for path, st, mode, uid, _is_file in perm_only:
            self.diffs.append(
                {"before_header": path, "after_header": path, "before": _perm_text(st, None, None), "after": _perm_text(st, mode, uid)},
            )
            self.files.append(path)
            self.permissions_fixed += 1
            self.changed = True
        if not self.check_mode:
            for path, st, mode, uid, is_file in perm_only:
                self._fix_permissions(path, st, mode, uid, is_file)
            changes.commit()
        result = changes.result()
        if result["changed"]:
            self.changed = True
            self.files.extend(result["files"])
            self.diffs.extend(result.get("diff", []) if self.module._diff else [])  # pylint: disable=protected-access
            self.backups.update(result.get("backup_files", {}))

    def _unchanged_on_disk(self, plan):
        fr = plan.fr
        walk = self.auditor.walker.walk(fr.path)
        if walk.symlink or walk.file_st is None or (walk.file_st.st_dev, walk.file_st.st_ino) != (fr.st.st_dev, fr.st.st_ino):
            return False
        data, error, _oversized = read_regular(walk.dir_fd, walk.name, walk.file_st, self.auditor.policy.max_file_size)
        return error is None and data == fr.data

    def _fix_permissions(self, path, st, mode, uid, is_file):
        walker = self.auditor.walker
        if is_file:
            walk = walker.walk(path)
            if walk.symlink or walk.file_st is None:
                raise SymlinkRefused("refusing to change %s: it is now a symbolic link or gone" % path)
            fd = os.open(walk.name, _OPEN_FLAGS, dir_fd=walk.dir_fd)
            try:
                self._fix_fd(fd, path, st, mode, uid, expect_regular=True)
            finally:
                os.close(fd)
            return
        result = WalkResult()
        fd = walker.directory(path, result)
        if fd is None:
            raise SymlinkRefused("refusing to change %s: it is now a symbolic link or gone" % path)
        self._fix_fd(fd, path, st, mode, uid, expect_regular=False)

    @staticmethod
    def _fix_fd(fd, path, st, mode, uid, expect_regular):
        now = os.fstat(fd)
        if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino) or (expect_regular and (not stat.S_ISREG(now.st_mode) or now.st_nlink > 1)):
            raise AtomicWriteError("refusing to change %s: it was replaced while being checked" % path)
        if uid is not None:
            os.fchown(fd, uid, -1)
        if mode is not None:
            os.fchmod(fd, mode)


def _perm_text(st, mode, uid):
    if st is None:
        return ""
    return "(mode %04o, owner uid %d)\n" % (mode if mode is not None else stat.S_IMODE(st.st_mode), uid if uid is not None else st.st_uid)


# ------------------------------------------------------------------ result


def build_result(auditor, enforcer=None):
    """The module's return value: summary, per-user key lists, findings, sshd facts."""
    findings = auditor.findings
    by_severity = dict.fromkeys(SEVERITIES, 0)
    by_kind = {}
    for finding in findings:
        by_severity[finding["severity"]] = by_severity.get(finding["severity"], 0) + 1
        by_kind[finding["kind"]] = by_kind.get(finding["kind"], 0) + 1
    users = {}
    files = keys = usable = 0
    commands = {}
    disabled = {}
    for report in auditor.reports:
        account, cfg = report.account, report.cfg
        existing = report.file_summaries
        files += len(existing)
        readable = report.readable
        keys += readable
        usable += report.usable
        if cfg is not None and cfg.command:
            commands.setdefault((cfg.command, cfg.command_user), []).append(account.name)
        if cfg is not None and not cfg.pubkey_usable and readable:
            disabled.setdefault("publickey", []).append(account.name)
        if not existing and not report.keys:
            continue
        mode = auditor.policy.key_report
        if mode == "none":
            continue
        entry = {"uid": account.uid, "home": account.home, "files": existing} if mode == "full" else {}
        entry["keys"] = report.keys
        if cfg is not None and cfg.command:
            entry["authorized_keys_command"] = cfg.command
        users[account.name] = entry
    extra = []
    for (command, command_user), names in commands.items():
        extra.append(
            {
                "severity": "info",
                "kind": "authorized_keys_command",
                "user": names[0] if len(names) == 1 else None,
                "file": None,
                "line": None,
                "fingerprint": None,
                "message": "sshd also asks AuthorizedKeysCommand %s (as %s) for %d account(s); its keys were not audited (the command was not run)"
                % (_short(command, 200), command_user or "?", len(names)),
                "users": names[:50],
            }
        )
    for names in disabled.values():
        extra.append(
            {
                "severity": "medium",
                "kind": "pubkey_disabled",
                "user": names[0] if len(names) == 1 else None,
                "file": None,
                "line": None,
                "fingerprint": None,
                "message": "sshd does not offer publickey authentication (PubkeyAuthentication/AuthenticationMethods) to %d account(s) that have keys"
                % len(names),
                "users": names[:50],
            }
        )
    for finding in extra:
        by_severity[finding["severity"]] += 1
        by_kind[finding["kind"]] = by_kind.get(finding["kind"], 0) + 1
    summary = {
        "accounts": len(auditor.reports),
        "accounts_with_keys": sum(1 for report in auditor.reports if report.readable),
        "files": files,
        "keys": keys,
        "usable_keys": usable,
        "findings": len(findings) + len(extra),
        "by_severity": by_severity,
        "by_kind": dict(sorted(by_kind.items())),
        "sshd_evaluations": auditor.evaluations,
        "lines_removed": enforcer.lines_removed if enforcer else 0,
        "permissions_fixed": enforcer.permissions_fixed if enforcer else 0,
    }
    result = {
        "summary": summary,
        "users": users,
        "findings": findings + extra,
        "sshd": {
            "version": "%d.%d" % auditor.version if auditor.version else None,
            "evaluations": auditor.evaluations,
            "strict_modes_rule": auditor.strict_rule,
            "notes": auditor.notes,
        },
    }
    return result


# ------------------------------------------------------------------ module entry


def _listish(value, label):
    if value is None:
        return []
    if isinstance(value, str):
        return [part for part in re.split(r"[\s,]+", value) if part]
    if isinstance(value, (list, tuple)):
        return [str(part) for part in value]
    raise AuditError("%s must be a list of strings" % label)


def policy_from_params(params):
    """A :class:`Policy` from the module's parameters (AuditError on bad input)."""
    by_user = {}
    for user, values in (params.get("allowed_fingerprints_by_user") or {}).items():
        by_user[str(user)] = _listish(values, "allowed_fingerprints_by_user[%s]" % user)
    required_by_user = {}
    for user, values in (params.get("required_options_by_user") or {}).items():
        required_by_user[str(user)] = _listish(values, "required_options_by_user[%s]" % user)
    return Policy(
        min_rsa_bits=params.get("min_rsa_bits", 3072),
        allowed_fingerprints=params.get("allowed_fingerprints"),
        allowed_fingerprints_by_user=by_user,
        required_options=params.get("required_options"),
        required_options_by_user=required_by_user,
        remove=params.get("remove") or (),
        fix_permissions=params.get("fix_permissions", True),
        max_file_size=params.get("max_file_size", 16 << 20),
        max_line_length=params.get("max_line_length", ak.DEFAULT_MAX_LINE_LENGTH),
        key_report=params.get("key_report", "full"),
        connection=params.get("connection"),
        effective_config=params.get("effective_config", "grouped"),
        sshd_config=params.get("sshd_config"),
        strict_modes_rule=params.get("strict_modes_rule", "auto"),
    )


def run_module_audit(module):
    """Everything the module does, given an AnsibleModule; exits through it."""
    params = module.params
    try:
        policy = policy_from_params(params)
    except AuditError as exc:
        module.fail_json(msg=str(exc))
    runtime = SshdRuntime(module.run_command, sshd_path=params.get("sshd_path"))
    auditor = Auditor(policy, runtime=runtime)
    if os.geteuid() != 0:
        auditor.notes.append("not running as root (use become): other accounts' key files may be unreadable and reported as read errors")
    enforcer = None
    try:
        accounts, missing = load_accounts(params.get("users"))
        for name in missing:
            auditor.add_finding("medium", "unknown_user", name, None, None, None, "no account named %s in the passwd database" % name)
        configs = auditor.configure(accounts)
        # enforce needs every file's content in this process; an audit of a large host uses all CPUs
        auditor.audit(accounts, configs, workers=1 if params.get("state") == "enforce" else worker_count(accounts))
        if params.get("state") == "enforce":
            enforcer = Enforcer(module, auditor, backup=params.get("backup", False))
            enforcer.apply(plan_enforce(auditor))
    except AuditError as exc:
        module.fail_json(msg=str(exc))
    finally:
        auditor.walker.close()
    result = build_result(auditor, enforcer)
    result["changed"] = bool(enforcer and enforcer.changed)
    result["files"] = enforcer.files if enforcer else []
    if module._diff:  # pylint: disable=protected-access
        result["diff"] = enforcer.diffs if enforcer else []
    if params.get("backup"):
        result["backup_files"] = enforcer.backups if enforcer else {}
    if enforcer and enforcer.errors:
        module.fail_json(msg="enforce could not change everything: %s" % "; ".join(enforcer.errors[:20]), **result)
    module.exit_json(**result)
