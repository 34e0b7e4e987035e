# -*- coding: utf-8 -*-
# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Linux-PAM service files: parse, edit structurally, resolve and simulate a stack.

Pure Python over text (no file system, no processes), so all of it is unit-tested
without a host. The rules follow what libpam itself does when it reads a file
under /etc/pam.d (Linux-PAM ``pam_handlers.c``/``pam_misc.c`` and Debian's
``@include``):

* a physical line ending in a backslash (trailing blanks allowed) continues on
  the next one, unless the line contains ``#``; a continuation at the end of
  the file makes libpam reject the whole file;
* everything from the first ``#`` of a physical line is a comment, even inside
  ``[...]``;
* fields are separated by spaces, tabs and newlines only (a carriage return is
  part of a field: a CRLF file does not work under PAM);
* ``[...]`` makes one field of everything up to the first ``]`` not written as
  ``\\]``; the control field ``[value=action ...]`` is such a field;
* the type may start with ``-`` (do not log a missing module);
* Debian's ``@include NAME`` pulls in every line of NAME.

Every record keeps its physical lines exactly, so a file renders back byte for
byte (text here is UTF-8 decoded with ``surrogateescape``); edits replace whole
records. Anything the parser does not understand raises :class:`PamSyntaxError`
instead of being guessed at.

:func:`resolve` flattens one module type of a service through its includes and
substacks the way libpam builds its handler list, and :func:`can_succeed`
explores every path through that list with libpam's dispatch rules (impression,
status, jumps, ``done``/``die``, substack levels), for given sets of return
values per module.
"""

from __future__ import annotations

import re

TYPES = ("auth", "account", "password", "session")
SIMPLE_CONTROLS = ("required", "requisite", "sufficient", "optional", "include", "substack")
MODULE_CONTROLS = ("required", "requisite", "sufficient", "optional")

# PAM return values in the order libpam numbers them (index == value); "default" is not one.
RETURN_CODES = (
    "success",
    "open_err",
    "symbol_err",
    "service_err",
    "system_err",
    "buf_err",
    "perm_denied",
    "auth_err",
    "cred_insufficient",
    "authinfo_unavail",
    "user_unknown",
    "maxtries",
    "new_authtok_reqd",
    "acct_expired",
    "session_err",
    "cred_unavail",
    "cred_expired",
    "cred_err",
    "no_module_data",
    "conv_err",
    "authtok_err",
    "authtok_recover_err",
    "authtok_lock_busy",
    "authtok_disable_aging",
    "try_again",
    "ignore",
    "abort",
    "authtok_expired",
    "module_unknown",
    "bad_item",
)
ACTIONS = ("ignore", "ok", "done", "bad", "die", "reset")
MUST_FAIL = "perm_denied"  # what libpam returns for a broken line or an empty stack
MAX_INCLUDE_DEPTH = 16  # libpam's PAM_SUBSTACK_MAX_LEVEL
SEPARATORS = " \t"

_KEYWORD_ACTIONS = {
    "required": ({"success": "ok", "new_authtok_reqd": "ok", "ignore": "ignore"}, "bad"),
    "requisite": ({"success": "ok", "new_authtok_reqd": "ok", "ignore": "ignore"}, "die"),
    "optional": ({"success": "ok", "new_authtok_reqd": "ok"}, "ignore"),
    "sufficient": ({"success": "done", "new_authtok_reqd": "done"}, "ignore"),
}

BAD_CHAR_RE = re.compile("[\x00-\x08\x0a-\x1f\x7f\ud800-\udfff]")


class PamSyntaxError(ValueError):
    """A line libpam would read differently from what it looks like, or not at all."""

    def __init__(self, reason, lineno=None, line=None, source=None):
        self.reason = reason
        self.lineno = lineno
        self.line = line
        self.source = source
        super().__init__(self._render())

    def _render(self):
        where = []
        if self.source:
            where.append(self.source)
        if self.lineno is not None:
            where.append("line %d" % self.lineno)
        text = "%s: %s" % (" ".join(where), self.reason) if where else self.reason
        if self.line is not None:
            text += " (%s)" % excerpt(self.line)
        return text

    def with_source(self, source):
        return PamSyntaxError(self.reason, self.lineno, self.line, source)


def excerpt(text, limit=80):
    """A short, printable, single-line rendering of *text* for messages."""
    text = text.rstrip("\n")
    shown = text[:limit]
    out = repr(shown)[1:-1] if BAD_CHAR_RE.search(shown) else shown
    if len(text) > limit:
        out += "..."
    return "'%s'" % out


# ---------------------------------------------------------------- records


class Record:
    """One logical entry of a PAM file: its physical lines and, for rules, its fields.

    ``kind`` is ``blank``, ``comment``, ``rule`` or ``include`` (Debian's
    ``@include``). A rule has ``rtype`` (lowercase type), ``silent`` (leading
    ``-``), ``control`` (a keyword, or None for ``[...]``), ``actions`` (return
    value -> action, complete, for module controls), ``target`` (module path or
    included service), ``args`` and ``comment`` (text after the first ``#``).
    """

    __slots__ = ("actions", "args", "comment", "control", "kind", "lineno", "lines", "rtype", "silent", "target")

    def __init__(self, lines, lineno, kind, comment=None):
        self.lines = list(lines)
        self.lineno = lineno
        self.kind = kind
        self.comment = comment
        self.rtype = None
        self.silent = False
        self.control = None
        self.actions = None
        self.target = None
        self.args = []

    @property
    def text(self):
        return "".join(self.lines)

    def copy(self, lines=None, lineno=None):
        """The same record with other physical lines (same fields) and/or another line number."""
        other = Record(self.lines if lines is None else lines, self.lineno if lineno is None else lineno, self.kind, self.comment)
        for attr in ("rtype", "silent", "control", "actions", "target"):
            setattr(other, attr, getattr(self, attr))
        other.args = list(self.args)
        return other

    @property
    def ends_with_newline(self):
        return bool(self.lines) and self.lines[-1].endswith("\n")

    @property
    def module_name(self):
        """The module file's base name (``pam_unix.so``) for module rules, else None."""
        if self.kind != "rule" or self.control in ("include", "substack"):
            return None
        return module_basename(self.target)

    def affects(self, rtype):
        """True when this record adds lines of type *rtype* (an ``@include`` may)."""
        if self.kind == "include":
            return True
        return self.kind == "rule" and self.rtype == rtype

    def __repr__(self):
        return "Record(%s, line %d, %r)" % (self.kind, self.lineno, self.text[:60])


def module_basename(path):
    if path is None:
        return None
    return path.rsplit("/", 1)[-1]


def split_lines(text):
    """Physical lines of *text*, each with its ``\\n`` (the last may lack one)."""
    if not text:
        return []
    parts = text.split("\n")
    lines = [part + "\n" for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def physical_line(line):
    """Split one physical line the way libpam prepares it.

    Returns ``(piece, comment, continued)``: the configuration text libpam keeps
    from this line (leading blanks dropped, comment cut, a continuation
    backslash turned into a space), the comment text or None, and whether the
    logical line continues on the next physical line.
    """
    body = line[:-1] if line.endswith("\n") else line
    hash_at = body.find("#")
    if hash_at >= 0:
        return body[:hash_at].lstrip(SEPARATORS), body[hash_at + 1 :], False
    stripped = body.rstrip(SEPARATORS)
    if stripped.endswith("\\"):
        return (stripped[:-1] + " ").lstrip(SEPARATORS), None, True
    return body.lstrip(SEPARATORS), None, False


def parse(text, source=None):
    """Parse a PAM service file (``str``); raise :class:`PamSyntaxError` on anything unclear."""
    if "\x00" in text:
        lineno = text.count("\n", 0, text.index("\x00")) + 1
        raise PamSyntaxError("NUL byte: this is not a PAM text file", lineno, source=source)
    records = []
    pending = []  # (line, piece, comment) of a logical line that continues
    start = 1
    for number, line in enumerate(split_lines(text), 1):
        piece, comment, continued = physical_line(line)
        if not pending:
            start = number
        pending.append((line, piece, comment))
        if continued:
            continue
        records.append(_make_record(pending, start, source))
        pending = []
    if pending:
        raise PamSyntaxError(
            "the last line ends with a backslash (line continuation at the end of the file): libpam rejects the whole file",
            start,
            pending[0][0],
            source,
        )
    return records


def render(records):
    """The file text of *records* (byte-exact for records that were parsed)."""
    return "".join(record.text for record in records)


def renumber(records):
    """Copies of *records* with line numbers that match their place in the rendered file."""
    out = []
    lineno = 1
    for record in records:
        out.append(record.copy(lineno=lineno))
        lineno += len(record.lines)
    return out


def _make_record(pending, lineno, source):
    lines = [item[0] for item in pending]
    content = "".join(item[1] for item in pending)
    comment = pending[-1][2]
    if not content.strip(SEPARATORS):
        has_comment = any(item[2] is not None for item in pending)
        return Record(lines, lineno, "comment" if has_comment else "blank", comment)
    try:
        return _parse_rule(lines, lineno, content, comment)
    except PamSyntaxError as exc:
        raise PamSyntaxError(exc.reason, lineno, "".join(lines), source) from None


def tokenize(content):
    """Fields of one logical line: ``[(text, bracketed)]``, mirroring libpam's tokenizer."""
    tokens = []
    i = 0
    n = len(content)
    while True:
        while i < n and content[i] in SEPARATORS:
            i += 1
        if i >= n:
            return tokens
        if content[i] == "[":
            i += 1
            out = []
            while i < n and content[i] != "]":
                if content[i] == "\\" and i + 1 < n and content[i + 1] == "]":
                    i += 1
                out.append(content[i])
                i += 1
            if i >= n:
                raise PamSyntaxError("'[' without a closing ']'")
            i += 1  # the closing bracket
            if i < n and content[i] not in SEPARATORS:
                raise PamSyntaxError("text right after a closing ']' (libpam would split it into a separate field)")
            tokens.append(("".join(out), True))
        else:
            j = i
            while j < n and content[j] not in SEPARATORS:
                j += 1
            tokens.append((content[i:j], False))
            i = j


def parse_actions(text):
    """``value=action ...`` (the inside of a ``[...]`` control) -> complete {value: action}.

    Unknown values or actions raise: libpam would turn the whole line into one
    that always fails.
    """
    items = text.split()
    if not items:
        raise PamSyntaxError("empty control '[]'")
    actions = {}
    default = None
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise PamSyntaxError("control item %r is not value=action" % item)
        if key != "default" and key not in RETURN_CODES:
            raise PamSyntaxError("unknown return value %r in the control field" % key)
        if value in ACTIONS:
            action = value
        elif value.isdigit() and value.isascii() and int(value) > 0:
            action = int(value)
        else:
            raise PamSyntaxError("unknown action %r in the control field (use ignore, ok, done, bad, die, reset or a jump count > 0)" % value)
        if key == "default":
            default = action
        else:
            actions[key] = action
    return complete_actions(actions, default if default is not None else "bad")


def complete_actions(actions, default):
    full = dict.fromkeys(RETURN_CODES, default)
    full.update(actions)
    return full


def keyword_actions(keyword):
    explicit, default = _KEYWORD_ACTIONS[keyword]
    return complete_actions(explicit, default)


def _parse_rule(lines, lineno, content, comment):
    bad = BAD_CHAR_RE.search(content)
    if "\r" in content:
        raise PamSyntaxError("carriage return in a rule (CRLF line endings?): libpam does not treat it as a separator, so the field is not what it looks like")
    if bad:
        raise PamSyntaxError("control character or invalid UTF-8 (%s) in a rule" % repr(bad.group(0))[1:-1])
    tokens = tokenize(content)
    first, first_bracketed = tokens[0]
    if first.startswith("@"):
        if first != "@include" or first_bracketed:
            raise PamSyntaxError("unknown directive %r (only @include is known)" % first)
        if len(tokens) != 2 or tokens[1][1]:
            raise PamSyntaxError("@include takes exactly one file name")
        record = Record(lines, lineno, "include", comment)
        record.target = tokens[1][0]
        return record
    if first_bracketed:
        raise PamSyntaxError("the type field cannot be in brackets")
    silent = first.startswith("-")
    rtype = (first[1:] if silent else first).lower()
    if rtype not in TYPES:
        raise PamSyntaxError("unknown type %r (expected auth, account, password or session, optionally with a leading '-')" % first)
    if len(tokens) < 2:
        raise PamSyntaxError("no control field")
    control_text, control_bracketed = tokens[1]
    if control_bracketed:
        control = None
        actions = parse_actions(control_text)
    else:
        control = control_text.lower()
        if control not in SIMPLE_CONTROLS:
            raise PamSyntaxError("unknown control %r (expected %s or [value=action ...])" % (control_text, ", ".join(SIMPLE_CONTROLS)))
        actions = keyword_actions(control) if control in MODULE_CONTROLS else None
    if len(tokens) < 3:
        raise PamSyntaxError("no module path" if control not in ("include", "substack") else "no file name after %s" % control)
    target, target_bracketed = tokens[2]
    if target_bracketed:
        raise PamSyntaxError("the module path cannot be in brackets")
    args = [text for text, _bracketed in tokens[3:]]
    if control in ("include", "substack") and args:
        raise PamSyntaxError("%s takes exactly one file name" % control)
    record = Record(lines, lineno, "rule", comment)
    record.rtype = rtype
    record.silent = silent
    record.control = control
    record.actions = actions
    record.target = target
    record.args = args
    return record


# ---------------------------------------------------------------- writing rules


def quote_arg(arg):
    """One module argument as it must be written; raise ValueError if PAM cannot express it."""
    if not isinstance(arg, str) or arg == "":
        raise ValueError("a PAM module argument cannot be empty")
    if "#" in arg:
        raise ValueError("a PAM module argument cannot contain '#' (libpam cuts the line there): %r" % arg)
    if BAD_CHAR_RE.search(arg) or "\r" in arg or "\n" in arg:
        raise ValueError("a PAM module argument cannot contain control characters or newlines: %r" % arg)
    if arg.endswith("\\"):
        raise ValueError("a PAM module argument cannot end with a backslash (libpam would join the next line): %r" % arg)
    if arg.startswith("[") or any(ch in arg for ch in SEPARATORS):
        return "[" + arg.replace("]", "\\]") + "]"
    return arg


def format_control(actions_spec):
    """``{value: action}`` (ordered) -> ``[value=action ...]``."""
    return "[" + " ".join("%s=%s" % (key, value) for key, value in actions_spec) + "]"


def render_rule(rtype, control, target, args=(), comment=None, newline=True):
    """One rule line. *control* is a keyword or an already formatted ``[...]``."""
    for field in (rtype, control, target):
        if not field or "#" in field or BAD_CHAR_RE.search(field) or "\r" in field:
            raise ValueError("invalid PAM field %r" % (field,))
    if any(ch in target for ch in SEPARATORS) or target.startswith("["):
        raise ValueError("a PAM module path cannot contain blanks or start with '[': %r" % target)
    parts = ["%-10s %-12s %s" % (rtype, control, target)]
    parts.extend(quote_arg(arg) for arg in args)
    line = " ".join(parts)
    if comment is not None:
        if "\n" in comment or "\r" in comment:
            raise ValueError("a comment cannot contain a newline")
        line += "  # " + comment
    return line + ("\n" if newline else "")


# ---------------------------------------------------------------- resolving a stack


class Handler:
    """One entry of the flattened stack libpam builds for a module type.

    ``kind`` is ``module`` (a module line), ``substack`` (the marker libpam
    puts in front of a substack's lines) or ``mustfail`` (a line libpam cannot
    use, e.g. an include of a missing file: it always returns perm_denied).
    ``top`` is the index of the record in the service file that brought it in.
    """

    __slots__ = ("actions", "args", "kind", "level", "module", "record", "source", "top")

    def __init__(self, kind, level, top, source, record=None, module=None, args=(), actions=None):
        self.kind = kind
        self.level = level
        self.top = top
        self.source = source
        self.record = record
        self.module = module
        self.args = list(args)
        self.actions = actions if actions is not None else complete_actions({}, "bad")

    @property
    def name(self):
        return module_basename(self.module) if self.module else None

    def describe(self):
        if self.record is not None:
            return "%s line %d: %s" % (self.source, self.record.lineno, self.record.text.strip())
        return "%s (%s)" % (self.source, self.kind)

    def __repr__(self):
        return "Handler(%s, %s, level=%d)" % (self.kind, self.module, self.level)


def resolve(records, rtype, loader, source="service"):
    """Flatten the *rtype* stack of *records* (a parsed service file) through includes.

    *loader(name)* returns ``(source_name, records)`` for an included service,
    or None when it does not exist (libpam then installs a line that always
    fails). It may raise :class:`PamSyntaxError` for a file it cannot parse.
    """
    handlers = []
    for top, record in enumerate(records):
        _resolve_record(record, rtype, loader, source, top, 0, 0, handlers)
    return handlers


def _resolve_record(record, rtype, loader, source, top, level, depth, out):
    if record.kind == "include":
        _splice(record, record.target, rtype, loader, source, top, level, depth, out)
        return
    if record.kind != "rule" or record.rtype != rtype:
        return
    if record.control == "include":
        _splice(record, record.target, rtype, loader, source, top, level, depth, out)
    elif record.control == "substack":
        out.append(Handler("substack", level, top, source, record))
        _splice(record, record.target, rtype, loader, source, top, level + 1, depth, out)
    else:
        out.append(Handler("module", level, top, source, record, record.target, record.args, record.actions))


def _splice(record, name, rtype, loader, source, top, level, depth, out):
    if depth + 1 >= MAX_INCLUDE_DEPTH:
        raise PamSyntaxError("includes nested deeper than %d levels (a loop?)" % MAX_INCLUDE_DEPTH, record.lineno, record.text, source)
    loaded = loader(name)
    if loaded is None:
        out.append(Handler("mustfail", level, top, source, record))
        return
    inner_source, inner_records = loaded
    for inner in inner_records:
        _resolve_record(inner, rtype, loader, inner_source, top, level, depth + 1, out)


# ---------------------------------------------------------------- simulating a stack

UNDEF, POSITIVE, NEGATIVE = 0, 1, -1


def can_succeed(handlers, outcomes):
    """Whether some run through *handlers* ends in success.

    *outcomes(handler)* gives the return values (names from RETURN_CODES) that
    handler may produce. The walk follows libpam's dispatch for a first
    (non-frozen) pass: ``ok``/``done`` set a positive impression only while
    nothing failed, ``bad``/``die`` make it negative, jumps skip whole
    substacks, ``done``/``die`` end the current substack level, and the stack
    succeeds only with a positive impression and a success status. An empty
    stack fails.
    """
    if not handlers:
        return False
    total = len(handlers)
    start = (0, 0, UNDEF, MUST_FAIL, ((0, UNDEF, MUST_FAIL),))
    seen = {start}
    todo = [start]
    while todo:
        index, prev_level, impression, status, saved = todo.pop()
        if index >= total:
            if impression == POSITIVE and status == "success":
                return True
            continue
        handler = handlers[index]
        level = handler.level
        if prev_level < level:
            saved = tuple(item for item in saved if item[0] < level) + ((level, impression, status),)
        if handler.kind == "substack":
            _push((index + 1, level, impression, status, saved), seen, todo)
            continue
        values = (MUST_FAIL,) if handler.kind == "mustfail" else tuple(outcomes(handler))
        for value in values:
            for state in _step(handlers, index, level, impression, status, saved, value):
                _push(state, seen, todo)
    return False


def _push(state, seen, todo):
    if state not in seen:
        seen.add(state)
        todo.append(state)


def _step(handlers, index, level, impression, status, saved, value):
    action = handlers[index].actions.get(value, "bad")
    decided = False
    if action == "reset":
        for item in saved:
            if item[0] == level:
                impression, status = item[1], item[2]
    elif action in ("ok", "done"):
        if impression == UNDEF or (impression == POSITIVE and status == "success"):
            impression = POSITIVE
            status = value
        decided = impression == POSITIVE and action == "done"
    elif action in ("bad", "die"):
        if impression != NEGATIVE:
            impression = NEGATIVE
            status = MUST_FAIL if value == "ignore" else value
        decided = action == "die"
    elif isinstance(action, int):
        nxt, remaining = _jump(handlers, index, level, action)
        if remaining:
            impression, status = NEGATIVE, MUST_FAIL
        yield (nxt, level, impression, status, saved)
        return
    if decided:
        last = index
        while last + 1 < len(handlers) and handlers[last + 1].level >= level:
            last += 1
        yield (last + 1, level, impression, status, saved)
        return
    yield (index + 1, level, impression, status, saved)


def _jump(handlers, index, level, count):
    current = index
    total = len(handlers)
    while current + 1 < total and handlers[current + 1].level >= level and count > 0:
        current += 1
        while current + 1 < total and handlers[current + 1].level > level:
            current += 1
        count -= 1
    return current + 1, count
