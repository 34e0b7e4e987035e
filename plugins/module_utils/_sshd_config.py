# -*- coding: utf-8 -*-
# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""sshd_config as sshd reads it: parser, effective values and a structural editor.

Pure Python over bytes, no I/O: :meth:`ConfigTree.load` takes a ``read(path)``
function (bytes, or None when absent) and a ``listdir(path)`` function
(``{name: is_dir}``, or None when not a directory), so unit tests run it on a
dictionary and the module on the host through ``_atomic``.

What it reproduces from openssh-portable's servconf.c (see FACTS.md):

* lines are loaded the way ``load_server_config`` does: leading blanks and
  ``\\r`` dropped, a NUL byte ends a physical line *and swallows its newline*
  (the next line is glued to it), and before OpenSSH 8.7 everything from the
  first ``#`` on a line is dropped;
* a keyword is split off with ``strdelim`` (whitespace, one ``=``, quotes);
  arguments with ``argv_split`` from 8.7 on (quotes, backslash escapes, a
  ``#`` that starts a word ends the line) and with ``strdelim`` before;
* keywords are case-insensitive; ``Include`` takes globs, relative to
  /etc/ssh, expanded in byte order, dot files only by an explicit dot,
  nested at most 16 deep; a ``Match`` block runs to the next ``Match`` or the
  end of its file and an included file inherits the context of the
  ``Include`` line without leaking its own ``Match`` state back;
* the first value obtained wins; values from matching ``Match`` blocks
  replace global ones; ``Match all`` matches even without a connection (so
  ``sshd -T`` shows it); Allow/Deny Users/Groups accumulate.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re

SSHDIR = "/etc/ssh"
MAX_INCLUDE_DEPTH = 16
MAX_FILES = 512
MAX_OCCURRENCES = 200000

WHITESPACE = " \t\r\n"
_MAGIC = re.compile(r"[*?\[]")

REGION_BEGIN = "# BEGIN fleetauth.ssh.sshd_auth_methods Match blocks (managed: edits inside are replaced)"
REGION_END = "# END fleetauth.ssh.sshd_auth_methods Match blocks"
_REGION_BEGIN_PREFIX = "# BEGIN fleetauth.ssh.sshd_auth_methods"
_REGION_END_PREFIX = "# END fleetauth.ssh.sshd_auth_methods"
COMMENT_PREFIX = "# fleetauth.ssh conflict: "

# Keywords whose values accumulate over every line instead of first-wins.
ACCUMULATING = frozenset({"allowusers", "denyusers", "allowgroups", "denygroups"})


class ConfigError(Exception):
    """The configuration cannot be read as sshd reads it; the message says where and why."""


def _decode(data):
    return data.decode("utf-8", "surrogateescape")


def _encode(text):
    return text.encode("utf-8", "surrogateescape")


# ---------------------------------------------------------------- tokenizing


class LogicalLine:
    """One line as sshd numbers it, with the byte span of the physical line(s) it came from."""

    __slots__ = ("end", "index", "nul", "start", "text")

    def __init__(self, index, start, end, text, nul):
        self.index = index  # 0-based; sshd reports index + 1
        self.start = start
        self.end = end
        self.text = text  # str (surrogateescape), newline removed
        self.nul = nul

    @property
    def lineno(self):
        return self.index + 1


def split_logical(data, legacy=False):
    """Split file bytes into the logical lines sshd parses (see the module docstring)."""
    lines = []
    pending = []
    start = 0
    pos = 0
    size = len(data)
    nul = False
    while pos < size:
        newline_at = data.find(b"\n", pos)
        end = size if newline_at < 0 else newline_at + 1
        physical = data[pos:end]
        has_newline = physical.endswith(b"\n")
        cut = physical.find(b"\0")
        if cut >= 0:
            content = physical[:cut]
            keeps_newline = False
            nul = True
        else:
            content = physical[:-1] if has_newline else physical
            keeps_newline = has_newline
        if legacy:
            hash_at = content.find(b"#")
            if hash_at >= 0:
                content = content[:hash_at]
                keeps_newline = True
        pending.append(content.lstrip(b" \t\r"))
        if keeps_newline:
            lines.append(LogicalLine(len(lines), start, end, _decode(b"".join(pending)), nul))
            pending = []
            start = end
            nul = False
        pos = end
    if start < size:
        lines.append(LogicalLine(len(lines), start, size, _decode(b"".join(pending)), nul))
    return lines


def strdelim(text, split_equals=True):
    """openssh's strdelim(): ``(token, rest)``; token None on an unmatched quote, rest None at the end."""
    if text is None:
        return None, None
    delims = WHITESPACE + '"' + ("=" if split_equals else "")
    at = -1
    for idx, char in enumerate(text):
        if char in delims:
            at = idx
            break
    if at < 0:
        return text, None
    if text[at] == '"':
        unquoted = text[:at] + text[at + 1 :]
        close = unquoted.find('"', at)
        if close < 0:
            return None, None
        rest = unquoted[close + 1 :]
        return unquoted[:close], rest.lstrip(WHITESPACE)
    was_equals = split_equals and text[at] == "="
    token = text[:at]
    rest = text[at + 1 :].lstrip(WHITESPACE)
    if split_equals and rest.startswith("=") and not was_equals:
        rest = rest[1:].lstrip(WHITESPACE)
    return token, rest


def argv_split(text):
    """openssh's argv_split(..., terminate_on_comment=1); raises ValueError on an unclosed quote."""
    args = []
    idx = 0
    size = len(text)
    while idx < size:
        char = text[idx]
        if char in " \t":
            idx += 1
            continue
        if char == "#":
            break
        quote = None
        arg = []
        while idx < size:
            char = text[idx]
            if char == "\\":
                following = text[idx + 1] if idx + 1 < size else ""
                if following in ("'", '"', "\\") or (quote is None and following == " "):
                    idx += 1
                    arg.append(following)
                else:
                    arg.append(char)
            elif quote is None and char in " \t":
                break
            elif quote is None and char in "\"'":
                quote = char
            elif quote is not None and char == quote:
                quote = None
            else:
                arg.append(char)
            idx += 1
        if quote is not None:
            raise ValueError("invalid quotes")
        args.append("".join(arg))
    return args


class Directive:
    """A keyword line: lowercase ``keyword``, its spelling, arguments and any parse error sshd would report."""

    __slots__ = ("args", "error", "keyword", "raw_keyword", "rest")

    def __init__(self, raw_keyword, args, rest, error=None):
        self.raw_keyword = raw_keyword
        self.keyword = raw_keyword.lower()
        self.args = args
        self.rest = rest
        self.error = error

    @property
    def value(self):
        """The value as one string (arguments joined by a space)."""
        return " ".join(self.args)


def parse_line(text, legacy=False):
    """Parse one logical line; None for blank lines, comments and lines sshd ignores."""
    end = len(text)
    while end > 1 and text[end - 1] in WHITESPACE + "\f":
        end -= 1
    line = text[:end]
    if not line:
        return None
    keyword, rest = strdelim(line)
    if keyword == "":
        keyword, rest = strdelim(rest)
    if not keyword or keyword.startswith("#"):
        return None
    if rest is None or rest == "":
        return Directive(keyword, [], "", error='no argument after keyword "%s"' % keyword)
    if legacy:
        args = []
        remaining = rest
        while remaining is not None:
            token, remaining = strdelim(remaining)
            if token is None or token == "":
                break
            args.append(token)
        return Directive(keyword, args, rest)
    try:
        args = argv_split(rest)
    except ValueError:
        return Directive(keyword, [], rest, error="invalid quotes")
    return Directive(keyword, args, rest)


class ConfigFile:
    """One file: its bytes, logical lines and parsed directives (context-free)."""

    def __init__(self, path, data, legacy=False):
        self.path = path
        self.data = data
        self.lines = split_logical(data, legacy)
        self.directives = [parse_line(line.text, legacy) for line in self.lines]
        crlf = data.find(b"\r\n")
        lf = data.find(b"\n")
        self.newline = b"\r\n" if crlf >= 0 and crlf + 1 == lf else b"\n"

    def segment(self, index):
        line = self.lines[index]
        return self.data[line.start : line.end]

    def raw_text(self, index):
        """The line as written (comments included, which sshd before 8.7 drops), stripped."""
        return _decode(self.segment(index)).strip(WHITESPACE + "\f")

    def region(self):
        """``(begin, end)`` logical indexes of the managed Match region, or None; ConfigError if damaged."""
        begins = [ln.index for ln in self.lines if self.raw_text(ln.index).startswith(_REGION_BEGIN_PREFIX)]
        ends = [ln.index for ln in self.lines if self.raw_text(ln.index).startswith(_REGION_END_PREFIX)]
        if not begins and not ends:
            return None
        if len(begins) != 1 or len(ends) != 1 or ends[0] < begins[0]:
            raise ConfigError(
                "%s: the managed Match region is damaged (found %d BEGIN and %d END marker lines); restore one '%s' ... '%s' pair "
                "or delete the markers and the Match blocks between them" % (self.path, len(begins), len(ends), REGION_BEGIN, REGION_END)
            )
        return begins[0], ends[0]


# ---------------------------------------------------------------- the tree


class MatchBlock:
    """A ``Match`` line and the context it opens."""

    __slots__ = ("args", "criteria", "index", "is_all", "lineno", "path")

    def __init__(self, path, index, lineno, directive):
        self.path = path
        self.index = index
        self.lineno = lineno
        self.args = list(directive.args)
        self.criteria = " ".join(directive.args)
        self.is_all = bool(directive.args) and directive.args[0].lower() == "all"

    @property
    def normalized(self):
        return normalize_criteria(self.criteria)

    def __repr__(self):
        return "MatchBlock(%s:%d %r)" % (self.path, self.lineno, self.criteria)


def normalize_criteria(text):
    """Compare Match criteria: attribute names case-insensitive, whitespace collapsed."""
    tokens = text.split()
    out = []
    for pos, token in enumerate(tokens):
        out.append(token.lower() if pos % 2 == 0 or token.lower() == "all" else token)
    return " ".join(out)


class Occurrence:
    """A directive as sshd meets it: file, line, and the chain of Match blocks it sits in."""

    __slots__ = ("chain", "depth", "file", "index")

    def __init__(self, cfile, index, chain, depth):
        self.file = cfile
        self.index = index
        self.chain = chain
        self.depth = depth

    @property
    def directive(self):
        return self.file.directives[self.index]

    @property
    def keyword(self):
        return self.directive.keyword

    @property
    def args(self):
        return self.directive.args

    @property
    def path(self):
        return self.file.path

    @property
    def lineno(self):
        return self.file.lines[self.index].lineno

    @property
    def key(self):
        return (self.file.path, self.index)

    @property
    def is_global(self):
        return not self.chain

    @property
    def block(self):
        return self.chain[-1] if self.chain else None

    def text(self):
        return self.file.lines[self.index].text.strip()

    def where(self):
        return "%s line %d" % (self.path, self.lineno)

    def __repr__(self):
        return "Occurrence(%s:%d %r)" % (self.path, self.lineno, self.text())


def resolve_include(arg, sshdir=SSHDIR):
    """An Include argument as sshd resolves it (relative paths live under /etc/ssh)."""
    if arg.startswith("/") or arg.startswith("~"):
        return arg
    return sshdir.rstrip("/") + "/" + arg


def _glob_match(name, pattern):
    if name.startswith(".") and not pattern.startswith("."):
        return False
    return fnmatch.fnmatchcase(name, pattern)


def _sort_key(path):
    return _encode(path)


def glob_paths(pattern, listdir):
    """Expand an Include glob like glob(3) without GLOB_TILDE; directories are left out (sshd reads them as empty)."""
    if not pattern.startswith("/"):
        return []
    parts = [part for part in pattern.split("/") if part]
    if not parts:
        return []
    prefixes = [""]
    for pos, part in enumerate(parts):
        last = pos == len(parts) - 1
        found = []
        for prefix in prefixes:
            entries = listdir(prefix or "/")
            if entries is None:
                continue
            if _MAGIC.search(part):
                names = [name for name in entries if _glob_match(name, part)]
            else:
                literal = part.replace("\\", "")
                names = [literal] if literal in entries else []
            for name in names:
                is_dir = entries[name]
                if last != is_dir:
                    found.append(prefix + "/" + name)
        prefixes = found
        if not prefixes:
            return []
    return sorted(prefixes, key=_sort_key)


class ConfigTree:
    """Every file sshd reads for one main file, and every directive in the order sshd meets it."""

    def __init__(self, main_path, sshdir=SSHDIR, legacy=False):
        self.main_path = main_path
        self.sshdir = sshdir
        self.legacy = legacy
        self.files = {}  # path -> ConfigFile, in the order first read
        self.occurrences = []
        self.includes = {}  # (path, index) -> [paths]

    @classmethod
    def load(cls, main_path, read, listdir, sshdir=SSHDIR, legacy=False):
        tree = cls(main_path, sshdir=sshdir, legacy=legacy)
        data = read(main_path)
        if data is None:
            raise ConfigError("%s does not exist; set config_path to the sshd configuration file" % main_path)
        main = ConfigFile(main_path, data, legacy)
        tree.files[main_path] = main
        tree._walk(main, (), 0, read, listdir)
        return tree

    def _file(self, path, read):
        if path in self.files:
            return self.files[path]
        if len(self.files) >= MAX_FILES:
            raise ConfigError("more than %d files are included from %s; refusing to read further" % (MAX_FILES, self.main_path))
        data = read(path)
        if data is None:
            return None
        cfile = ConfigFile(path, data, self.legacy)
        self.files[path] = cfile
        return cfile

    def _walk(self, cfile, chain, depth, read, listdir):
        if depth > MAX_INCLUDE_DEPTH:
            raise ConfigError(
                "%s is included more than %d levels deep (an Include loop?); sshd refuses this too "
                "('Too many recursive configuration includes'): fix the Include lines" % (cfile.path, MAX_INCLUDE_DEPTH)
            )
        current = chain
        for index, directive in enumerate(cfile.directives):
            if directive is None:
                continue
            if len(self.occurrences) >= MAX_OCCURRENCES:
                raise ConfigError("more than %d directives reached from %s (an Include explosion?); refusing" % (MAX_OCCURRENCES, self.main_path))
            if directive.keyword == "match":
                self.occurrences.append(Occurrence(cfile, index, chain, depth))
                current = chain + (MatchBlock(cfile.path, index, cfile.lines[index].lineno, directive),)
                continue
            self.occurrences.append(Occurrence(cfile, index, current, depth))
            if directive.keyword != "include":
                continue
            key = (cfile.path, index)
            if key not in self.includes:
                paths = []
                for arg in directive.args:
                    if arg:
                        paths.extend(glob_paths(resolve_include(arg, self.sshdir), listdir))
                self.includes[key] = paths
            for path in self.includes[key]:
                child = self._file(path, read)
                if child is not None:
                    self._walk(child, current, depth + 1, read, listdir)

    def adopt(self, path, data):
        """Add a file sshd does not read yet (a drop-in about to be included) so it can be edited in place."""
        if path in self.files:
            return self.files[path]
        cfile = ConfigFile(path, data, self.legacy)
        self.files[path] = cfile
        self._walk(cfile, (), 1, lambda _p: None, lambda _p: None)
        return cfile

    # -- queries

    @property
    def main(self):
        return self.files[self.main_path]

    def find(self, names):
        """Occurrences (deduplicated by file and line) setting any keyword in *names*."""
        names = frozenset(name.lower() for name in names)
        seen = set()
        out = []
        for occ in self.occurrences:
            if occ.keyword in names and occ.key not in seen:
                seen.add(occ.key)
                out.append(occ)
        return out

    def errors(self):
        """Parse errors sshd would report, as ``"FILE line N: message"``."""
        seen = set()
        out = []
        for occ in self.occurrences:
            if occ.directive.error and occ.key not in seen:
                seen.add(occ.key)
                out.append("%s: %s" % (occ.where(), occ.directive.error))
        return out

    def effective(self, names, matches=None):
        """The occurrence whose value sshd uses for *names* (one option, several spellings), or None.

        *matches(block) -> bool* decides which Match blocks apply; the default
        is what ``sshd -T`` without ``-C`` sees (only ``Match all``). Values of
        applying Match blocks replace global ones; within each group the first
        value wins. For accumulating keywords use :meth:`effective_list`.
        """
        matches = matches or (lambda block: block.is_all)
        names = frozenset(name.lower() for name in names)
        startup = None
        override = None
        for occ in self.occurrences:
            if occ.keyword not in names:
                continue
            if all(block.is_all for block in occ.chain) and startup is None:
                startup = occ
            if occ.chain and override is None and all(matches(block) for block in occ.chain):
                override = occ
        return override or startup

    def effective_list(self, names, matches=None):
        """Accumulated arguments of AllowUsers-style keywords for a context."""
        matches = matches or (lambda block: block.is_all)
        names = frozenset(name.lower() for name in names)
        startup = []
        override = []
        for occ in self.occurrences:
            if occ.keyword not in names:
                continue
            if all(block.is_all for block in occ.chain):
                startup.extend(occ.args)
            if occ.chain and all(matches(block) for block in occ.chain):
                override.extend(occ.args)
        return override or startup

    def blocks(self):
        """Distinct Match blocks met in the tree, in order."""
        seen = set()
        out = []
        for occ in self.occurrences:
            block = occ.block
            if block is not None and (block.path, block.index) not in seen:
                seen.add((block.path, block.index))
                out.append(block)
        return out

    def block_settings(self, block):
        """``{keyword: Occurrence}`` first occurrence of each keyword directly inside *block*."""
        out = {}
        for occ in self.occurrences:
            if occ.block is block and occ.keyword not in out:
                out[occ.keyword] = occ
        return out


# ---------------------------------------------------------------- Match evaluation


def match_pattern(string, pattern):
    """sshd's match_pattern(): ``*`` and ``?`` wildcards only."""
    return fnmatch.fnmatchcase(string, pattern.replace("[", "[[]"))


def match_pattern_list(string, patterns, lower=False):
    """sshd's match_pattern_list(): 1 positive match, -1 negated match, 0 none."""
    positive = False
    for entry in patterns.split(","):
        negated = entry.startswith("!")
        pattern = entry[1:] if negated else entry
        if lower:
            pattern = pattern.lower()
        if match_pattern(string, pattern):
            if negated:
                return -1
            positive = True
    return 1 if positive else 0


def addr_match_list(addr, patterns):
    """sshd's addr_match_list() for one address: 1 match, -1 negated match, 0 none."""
    try:
        address = ipaddress.ip_address(addr)
    except ValueError:
        return 0
    positive = False
    for entry in patterns.split(","):
        negated = entry.startswith("!")
        pattern = entry[1:] if negated else entry
        if "/" in pattern:
            try:
                hit = address in ipaddress.ip_network(pattern, strict=False)
            except ValueError:
                hit = False
        else:
            hit = match_pattern(addr, pattern)
        if hit:
            if negated:
                return -1
            positive = True
    return 1 if positive else 0


def group_match(groups, patterns):
    """sshd's ga_match_pattern_list(): any of *groups* matches the list and none is negated."""
    found = False
    for name in groups:
        result = match_pattern_list(name, patterns)
        if result == -1:
            return False
        if result == 1:
            found = True
    return found


def context_matcher(context, groups=None):
    """A ``matches(block)`` for :meth:`ConfigTree.effective` from a ``-C``-style dict (user, host, addr, laddr, lport, rdomain).

    Like sshd in test mode, a criterion whose field is missing does not
    match; ``Group`` matches only when *groups* (the user's group names, as
    sshd reads them from the user database) is given.
    """

    def matches(block):
        if block.is_all:
            return True
        args = block.args
        if not args or len(args) % 2:
            return False
        for name, value in zip(args[0::2], args[1::2]):
            attr = name.lower()
            if attr == "user":
                ok = "user" in context and match_pattern_list(context["user"], value) == 1
            elif attr == "host":
                ok = "host" in context and match_pattern_list(context["host"].lower(), value, lower=True) == 1
            elif attr == "address":
                ok = "addr" in context and addr_match_list(context["addr"], value) == 1
            elif attr == "localaddress":
                ok = "laddr" in context and addr_match_list(context["laddr"], value) == 1
            elif attr == "localport":
                ok = "lport" in context and str(context["lport"]) == value
            elif attr == "rdomain":
                ok = "rdomain" in context and match_pattern_list(context["rdomain"], value) == 1
            elif attr == "group":
                ok = groups is not None and "user" in context and group_match(groups, value)
            else:
                ok = False
            if not ok:
                return False
        return True

    return matches


# ---------------------------------------------------------------- Include targets


def covering_include(tree, name):
    """The first global ``Include`` of the main file that would read ``DIR/name``: ``(occurrence, DIR)`` or None.

    Only patterns whose directory part is literal count (``/etc/ssh/sshd_config.d/*.conf``).
    """
    for occ in tree.occurrences:
        if occ.file is not tree.main or not occ.is_global or occ.keyword != "include":
            continue
        for arg in occ.args:
            if not arg:
                continue
            resolved = resolve_include(arg, tree.sshdir)
            if not resolved.startswith("/"):
                continue
            directory, _sep, base = resolved.rpartition("/")
            if _MAGIC.search(directory) or not directory:
                continue
            if _glob_match(name, base) if _MAGIC.search(base) else name == base:
                return occ, directory
    return None


def set_before(tree, occurrence, names):
    """Global lines of the main file setting *names* before *occurrence* (a main-file line)."""
    names = frozenset(name.lower() for name in names)
    out = []
    for occ in tree.occurrences:
        if occ is occurrence:
            break
        if occ.file is tree.main and occ.is_global and occ.keyword in names:
            out.append(occ)
    return out


# ---------------------------------------------------------------- editing


def _line_ending(segment):
    if segment.endswith(b"\r\n"):
        return b"\r\n"
    if segment.endswith(b"\n"):
        return b"\n"
    return b""


def _indent(segment):
    stripped = segment.lstrip(b" \t")
    return segment[: len(segment) - len(stripped)]


class FileEditor:
    """Line-level edits of one file that leave every untouched byte as it was."""

    def __init__(self, path, cfile=None, newline=b"\n"):
        self.path = path
        self.cfile = cfile
        self.original = cfile.data if cfile is not None else None
        self.segments = [cfile.segment(i) for i in range(len(cfile.lines))] if cfile is not None else []
        self.newline = cfile.newline if cfile is not None else newline
        self.inserts = {}  # index -> [bytes lines without ending]
        self.touched = set()

    def replace(self, index, text):
        segment = self.segments[index]
        self.segments[index] = _indent(segment) + _encode(text) + _line_ending(segment)
        self.touched.add(index)

    def delete(self, index):
        self.segments[index] = b""
        self.touched.add(index)

    def comment(self, index):
        segment = self.segments[index]
        ending = _line_ending(segment)
        body = segment[: len(segment) - len(ending)] if ending else segment
        indent = _indent(body)
        self.segments[index] = indent + _encode(COMMENT_PREFIX) + body[len(indent) :] + ending
        self.touched.add(index)

    def insert(self, index, lines):
        self.inserts.setdefault(index, []).extend(lines)

    def render(self):
        out = []
        for index in range(len(self.segments) + 1):
            added = self.inserts.get(index)
            if added:
                if out and out[-1] and not out[-1].endswith(b"\n"):
                    out.append(self.newline)
                out.extend(_encode(line) + self.newline for line in added)
            if index < len(self.segments):
                out.append(self.segments[index])
        return b"".join(out)

    @property
    def changed(self):
        return self.render() != self.original


# ---------------------------------------------------------------- plan


class Setting:
    """One keyword the caller wants, in sshd terms.

    *names*: every spelling of the option for this sshd version (lowercase);
    *keyword*: the spelling to write; *args*: the arguments to write (an empty
    list with *absent* means "no such line anywhere"); *equal(args)* tells
    whether an existing line already says the same; *accumulate* for
    AllowUsers-style keywords.
    """

    def __init__(self, keyword, args, names=None, equal=None, accumulate=False, absent=False, option=None):
        self.keyword = keyword
        self.args = list(args)
        self.names = frozenset(n.lower() for n in (names or (keyword,)))
        self.accumulate = accumulate
        self.absent = absent
        self.option = option or keyword
        self._equal = equal

    def equal(self, args):
        if self.accumulate:
            return set(args) == set(self.args)
        if self._equal is not None:
            return bool(args) and self._equal(args)
        return list(args) == self.args

    def line(self):
        return "%s %s" % (self.keyword, " ".join(self.args))


class MatchSpec:
    """A managed Match block: criteria text and its settings."""

    def __init__(self, criteria, settings):
        self.criteria = " ".join(criteria.split())
        self.settings = list(settings)

    def lines(self, indent="    "):
        return ["Match %s" % self.criteria] + [indent + setting.line() for setting in self.settings]


class Conflict:
    __slots__ = ("action", "occurrence", "reason")

    def __init__(self, occurrence, reason, action):
        self.occurrence = occurrence
        self.reason = reason
        self.action = action

    def as_dict(self):
        occ = self.occurrence
        return {
            "path": occ.path,
            "line": occ.lineno,
            "text": occ.text(),
            "context": "global" if occ.is_global else "Match %s" % occ.block.criteria,
            "reason": self.reason,
            "action": self.action,
        }


class Plan:
    """What to write: ``contents`` {path: new bytes} for changed files, conflicts found, the target."""

    def __init__(self, target, mode):
        self.target = target
        self.mode = mode  # "drop_in" or "main"
        self.contents = {}
        self.originals = {}
        self.conflicts = []
        self.created = []
        self.notes = []


def _region_lines(blocks):
    if not blocks:
        return []
    lines = [REGION_BEGIN]
    for block in blocks:
        lines.extend(block.lines())
    lines.append(REGION_END)
    return lines


HEADER = [
    "# Managed by the Ansible module fleetauth.ssh.sshd_auth_methods.",
    "# sshd keeps the first value it reads: this file sorts first so its settings win.",
    "# Edits to the keywords it manages are overwritten on the next run.",
]


def plan_changes(tree, target, mode, settings, blocks=None, conflicts="comment", include_line=None):
    """Compute new file contents so that *settings* (global) and *blocks* (Match) take effect.

    *target*: the file that carries the settings (the managed drop-in or the
    main file); *mode*: ``drop_in`` (the whole file is ours) or ``main``
    (edit the first global line of each keyword in place, insert the others
    before the first directive). *blocks*: None leaves the managed Match
    region alone, a list (possibly empty) replaces it. *conflicts*: what to do
    with other lines anywhere in the tree that set a managed keyword to
    something else: ``comment``, ``remove`` or ``fail`` (they are listed in
    ``plan.conflicts`` and nothing else is decided here). *include_line*:
    an ``Include`` line to add as the main file's first directive.
    """
    plan = Plan(target, mode)
    editors = {}

    def editor(path):
        if path not in editors:
            cfile = tree.files.get(path)
            editors[path] = FileEditor(path, cfile, newline=tree.main.newline)
        return editors[path]

    target_file = tree.files.get(target)
    owned = set()
    region = target_file.region() if target_file is not None else None
    region_keys = set()
    if region is not None:
        region_keys = {(target, idx) for idx in range(region[0], region[1] + 1)}
    ed = editor(target)

    # -- where new global lines go
    if target_file is None:
        insert_at = 0
    else:
        first_directive = next((i for i, d in enumerate(target_file.directives) if d is not None), len(target_file.lines))
        first_match = next((i for i, d in enumerate(target_file.directives) if d is not None and d.keyword == "match"), len(target_file.lines))
        insert_at = first_directive if mode == "main" else first_match
        if region is not None:
            insert_at = min(insert_at, region[0])

    # -- global settings into the target
    target_occ = [occ for occ in tree.occurrences if occ.file is target_file and occ.is_global and occ.key not in region_keys] if target_file else []
    new_lines = []
    for setting in settings:
        mine = [occ for occ in target_occ if occ.keyword in setting.names]
        if setting.absent:
            if mode == "drop_in":
                for occ in mine:
                    ed.delete(occ.index)
                    owned.add(occ.key)
            continue
        if mine:
            first = mine[0]
            owned.add(first.key)
            if not setting.equal(first.args):
                ed.replace(first.index, setting.line())
            if mode == "drop_in":
                for occ in mine[1:]:
                    ed.delete(occ.index)
                    owned.add(occ.key)
        else:
            new_lines.append(setting.line())
    if target_file is None and (new_lines or blocks):
        ed.insert(0, list(HEADER))
        plan.created.append(target)
    if new_lines:
        ed.insert(insert_at, new_lines)

    # -- managed Match region
    if blocks is not None:
        wanted = _region_lines(blocks)
        if region is not None:
            current = [target_file.raw_text(i) for i in range(region[0], region[1] + 1)]
            if current != [line.strip() for line in wanted]:
                for idx in range(region[0], region[1] + 1):
                    ed.delete(idx)
                if wanted:
                    ed.insert(region[0], wanted)
        elif wanted:
            if target_file is None:
                ed.insert(0, wanted)
            else:
                first_match = next((i for i, d in enumerate(target_file.directives) if d is not None and d.keyword == "match"), len(target_file.lines))
                ed.insert(first_match, wanted)

    # -- the Include line, when asked
    if include_line:
        main_ed = editor(tree.main_path)
        main_first = next((i for i, d in enumerate(tree.main.directives) if d is not None), len(tree.main.lines))
        main_region = tree.main.region()
        if main_region is not None:
            main_first = min(main_first, main_region[0])
        main_ed.insert(main_first, [include_line])

    # -- conflicts anywhere else
    managed_criteria = {}
    for block in blocks if blocks is not None else []:
        for setting in block.settings:
            managed_criteria.setdefault(normalize_criteria(block.criteria), []).append(setting)
    skip = owned | region_keys
    for setting in settings:
        hits = [occ for occ in tree.find(setting.names) if occ.key not in skip]
        if setting.accumulate and not setting.absent:
            by_block = {}
            for occ in hits:
                if occ.is_global:
                    extra = sorted(set(occ.args) - set(setting.args))
                    if extra:
                        plan.conflicts.append(Conflict(occ, "adds %s to %s" % (" ".join(extra), setting.keyword), conflicts))
                else:
                    by_block.setdefault((occ.block.path, occ.block.index), []).append(occ)
            for occs in by_block.values():
                union = set()
                for occ in occs:
                    union.update(occ.args)
                if union != set(setting.args):
                    for occ in occs:
                        plan.conflicts.append(Conflict(occ, "replaces %s inside Match %s" % (setting.keyword, occ.block.criteria), conflicts))
            continue
        for occ in hits:
            if setting.absent:
                plan.conflicts.append(Conflict(occ, "%s must not be set" % setting.keyword, conflicts))
            elif not setting.equal(occ.args):
                where = "" if occ.is_global else " inside Match %s" % occ.block.criteria
                reason = "sets %s to %s%s, asked: %s" % (setting.keyword, occ.directive.value or "(nothing)", where, " ".join(setting.args))
                plan.conflicts.append(Conflict(occ, reason, conflicts))
    if managed_criteria:
        for occ in tree.occurrences:
            if occ.key in skip or occ.is_global:
                continue
            wanted_settings = managed_criteria.get(occ.block.normalized)
            if not wanted_settings:
                continue
            for setting in wanted_settings:
                if occ.keyword in setting.names and not setting.equal(occ.args):
                    plan.conflicts.append(
                        Conflict(occ, "sets %s for the same Match %s, asked: %s" % (setting.keyword, occ.block.criteria, " ".join(setting.args)), conflicts)
                    )
    # one entry per line
    unique = {}
    for conflict in plan.conflicts:
        unique.setdefault(conflict.occurrence.key, conflict)
    plan.conflicts = list(unique.values())
    if conflicts in ("comment", "remove"):
        for conflict in plan.conflicts:
            occ = conflict.occurrence
            if mode == "drop_in" and occ.path == target:
                editor(occ.path).delete(occ.index)
            elif conflicts == "comment":
                editor(occ.path).comment(occ.index)
            else:
                editor(occ.path).delete(occ.index)

    for path, ed in editors.items():
        data = ed.render()
        if ed.original is None and not data:
            continue
        if data != ed.original:
            plan.contents[path] = data
            plan.originals[path] = ed.original
    return plan


# ---------------------------------------------------------------- candidates for sshd -t


def _safe_name(name):
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", name).lstrip(".") or "file"
    return cleaned[:80]


def render_candidates(tree, directory):
    """Copies of every file of *tree* for ``sshd -t -f``: ``(main_copy, {copy_path: bytes}, {copy_path: real_path})``.

    Each Include line is replaced by one listing the copies of the files it
    reads, as absolute paths in the same order (or a blank line when it reads
    none), so sshd validates exactly the files *tree* describes; line numbers
    stay the same for sshd's messages.
    """
    names = {}
    for pos, path in enumerate(tree.files):
        names[path] = "%s/%03d-%s" % (directory.rstrip("/"), pos, _safe_name(path.rpartition("/")[2]))
    out = {}
    for path, cfile in tree.files.items():
        ed = FileEditor(path, cfile)
        for index, directive in enumerate(cfile.directives):
            if directive is None or directive.keyword != "include" or (path, index) not in tree.includes:
                continue
            targets = [names[p] for p in tree.includes[(path, index)] if p in names]
            segment = ed.segments[index]
            ending = _line_ending(segment) or b""
            ed.segments[index] = (_encode("Include " + " ".join(targets)) if targets else b"") + ending
        out[names[path]] = ed.render()
    return names[tree.main_path], out, {copy: real for real, copy in names.items()}


class Overlay:
    """``read``/``listdir`` over a base pair with some files replaced or added (for the candidate tree)."""

    def __init__(self, read, listdir, contents):
        self._read = read
        self._listdir = listdir
        self.contents = dict(contents)

    def read(self, path):
        if path in self.contents:
            return self.contents[path]
        return self._read(path)

    def listdir(self, path):
        entries = self._listdir(path)
        prefix = path.rstrip("/") + "/"
        added = {p[len(prefix) :]: False for p in self.contents if p.startswith(prefix) and "/" not in p[len(prefix) :]}
        for p in self.contents:
            if p.startswith(prefix):
                rest = p[len(prefix) :]
                if "/" in rest:
                    added.setdefault(rest.split("/", 1)[0], True)
        if entries is None:
            return added or None
        merged = dict(entries)
        merged.update({k: v for k, v in added.items() if k not in merged})
        return merged
