# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The PAM parser, renderer, resolver and stack simulator (_pam), on real and hostile files."""

from __future__ import annotations

import os

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ansible_collections.fleetauth.ssh.plugins.module_utils import _pam

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "pam")
SUITES = ("bullseye", "bookworm", "trixie")
ALL_FILES = sorted(
    os.path.join(directory, name)
    for directory in ("bullseye", "bookworm", "trixie", "rhel9", "rhel7", "include-style", "unusual")
    for name in os.listdir(os.path.join(FIXTURES, directory))
)


def read(rel):
    with open(os.path.join(FIXTURES, rel), "rb") as handle:
        return handle.read().decode("utf-8", "surrogateescape")


def loader_for(directory):
    def load(name):
        path = os.path.join(FIXTURES, directory, name)
        if not os.path.exists(path):
            return None
        return path, _pam.parse(read(os.path.join(directory, name)), source=path)

    return load


# ---------------------------------------------------------------- parsing real files


@pytest.mark.parametrize("rel", ALL_FILES)
def test_every_fixture_round_trips_byte_for_byte(rel):
    text = read(rel)
    records = _pam.parse(text, source=rel)
    assert _pam.render(records) == text
    assert sum(len(r.lines) for r in records) == len(_pam.split_lines(text))


@pytest.mark.parametrize("suite", SUITES)
def test_debian_sshd_structure(suite):
    records = _pam.parse(read(suite + "/sshd"))
    rules = [r for r in records if r.kind in ("rule", "include")]
    assert [(r.kind, r.target) for r in rules if r.kind == "include"] == [
        ("include", "common-auth"),
        ("include", "common-account"),
        ("include", "common-session"),
        ("include", "common-password"),
    ]
    first = rules[0]
    assert (first.lineno, first.text) == (4, "@include common-auth\n")
    selinux = [r for r in rules if r.kind == "rule" and r.target == "pam_selinux.so"]
    assert [r.args for r in selinux] == [["close"], ["open"]]
    assert selinux[0].control is None
    assert selinux[0].actions["success"] == "ok"
    assert selinux[0].actions["module_unknown"] == "ignore"
    assert selinux[0].actions["auth_err"] == "bad"  # default=bad
    mail = next(r for r in rules if r.target == "pam_mail.so")
    assert mail.args == ["standard", "noenv"]
    assert mail.comment == " [1]"


def test_debian_common_auth_fields():
    records = [r for r in _pam.parse(read("bookworm/common-auth")) if r.kind == "rule"]
    assert [(r.rtype, r.control, r.target, r.args) for r in records] == [
        ("auth", None, "pam_unix.so", ["nullok"]),
        ("auth", "requisite", "pam_deny.so", []),
        ("auth", "required", "pam_permit.so", []),
    ]
    assert records[0].actions["success"] == 1
    assert records[0].actions["auth_err"] == "ignore"


def test_unusual_but_valid_syntax():
    records = _pam.parse(read("unusual/sshd"))
    rules = [r for r in records if r.kind == "rule"]
    echo, missing, permit, motd = rules
    assert (echo.rtype, echo.args) == ("auth", ["a message with spaces ] and a bracket", "plain"])
    assert missing.silent and missing.rtype == "auth" and missing.target == "pam_not_installed.so"
    assert permit.target == "pam_permit.so" and permit.args == ["debug"]
    assert len(permit.lines) == 3 and permit.lineno == 5
    assert permit.comment == " the comment ends a continued line"
    assert permit.actions["success"] == "ok" and permit.actions["auth_err"] == "ignore"
    assert not motd.ends_with_newline and motd.rtype == "session"
    assert [r.kind for r in records].count("blank") == 1


@pytest.mark.parametrize(
    "text,fields",
    [
        ("auth required pam_unix.so\n", ("auth", "required", "pam_unix.so", [])),
        ("  \tauth\t\trequired\tpam_unix.so   nullok\t \n", ("auth", "required", "pam_unix.so", ["nullok"])),
        ("Auth REQUIRED pam_unix.so\n", ("auth", "required", "pam_unix.so", [])),
        ("-session optional pam_systemd.so\n", ("session", "optional", "pam_systemd.so", [])),
        ("auth required /lib/security/pam_x.so a=b\n", ("auth", "required", "/lib/security/pam_x.so", ["a=b"])),
        ("auth required pam_x.so [a b] [c\\]d] [] e\n", ("auth", "required", "pam_x.so", ["a b", "c]d", "", "e"])),
        ("auth required pam_x.so [x\\y]\n", ("auth", "required", "pam_x.so", ["x\\y"])),
        ("auth required pam_x.so a#b c\n", ("auth", "required", "pam_x.so", ["a"])),
        ("auth required \\\n pam_x.so \\  \n  arg\n", ("auth", "required", "pam_x.so", ["arg"])),
        ("auth substack password-auth\n", ("auth", "substack", "password-auth", [])),
        ("auth include system-auth\n", ("auth", "include", "system-auth", [])),
        ("auth [success=2 user_unknown=ignore default=die] pam_x.so\n", ("auth", None, "pam_x.so", [])),
        ("auth required pam_x.so", ("auth", "required", "pam_x.so", [])),
    ],
)
def test_rule_fields(text, fields):
    records = _pam.parse(text)
    rules = [r for r in records if r.kind == "rule"]
    assert len(rules) == 1
    rule = rules[0]
    assert (rule.rtype, rule.control, rule.target, rule.args) == fields
    assert _pam.render(records) == text


@pytest.mark.parametrize(
    "text,kinds",
    [
        ("\n\n", ["blank", "blank"]),
        ("# c\n   # indented\n", ["comment", "comment"]),
        ("auth required pam_x.so # c \\\nauth required pam_y.so\n", ["rule", "rule"]),  # '#' stops a continuation
        ("\\\n\n", ["blank"]),
        ("  \\\n# c\n", ["comment"]),
        ("#%PAM-1.0\n@include common-auth\n", ["comment", "include"]),
    ],
)
def test_record_kinds(text, kinds):
    records = _pam.parse(text)
    assert [r.kind for r in records] == kinds
    assert _pam.render(records) == text


def test_jump_and_default_actions():
    rule = _pam.parse("auth [success=3 new_authtok_reqd=done default=ignore] pam_x.so\n")[0]
    assert rule.actions["success"] == 3
    assert rule.actions["new_authtok_reqd"] == "done"
    assert rule.actions["user_unknown"] == "ignore"
    no_default = _pam.parse("auth [success=ok] pam_x.so\n")[0]
    assert no_default.actions["auth_err"] == "bad"


@pytest.mark.parametrize(
    "keyword,success,failure,ignore",
    [
        ("required", "ok", "bad", "ignore"),
        ("requisite", "ok", "die", "ignore"),
        ("sufficient", "done", "ignore", "ignore"),
        ("optional", "ok", "ignore", "ignore"),
    ],
)
def test_keyword_controls(keyword, success, failure, ignore):
    actions = _pam.keyword_actions(keyword)
    assert (actions["success"], actions["auth_err"], actions["ignore"]) == (success, failure, ignore)
    assert set(actions) == set(_pam.RETURN_CODES)


# ---------------------------------------------------------------- hostile input


@pytest.mark.parametrize(
    "rel,lineno,reason",
    [
        ("hostile/nul-byte", 2, "NUL byte"),
        ("hostile/binary", 1, "NUL byte"),
        ("hostile/continuation-at-eof", 1, "continuation at the end of the file"),
        ("hostile/continuation-into-comment", 2, "no control field"),
        ("hostile/unknown-type", 2, "unknown type 'authentication'"),
        ("hostile/unknown-control", 2, "unknown control 'mandatory'"),
        ("hostile/bad-action", 2, "unknown action 'okay'"),
        ("hostile/unbalanced-bracket", 2, "without a closing ']'"),
        ("hostile/unknown-directive", 1, "unknown directive '@import'"),
        ("hostile/missing-module", 2, "no module path"),
    ],
)
def test_hostile_fixtures_are_refused_with_the_line(rel, lineno, reason):
    with pytest.raises(_pam.PamSyntaxError) as info:
        _pam.parse(read(rel), source=rel)
    assert info.value.lineno == lineno
    assert reason in info.value.reason
    assert rel in str(info.value) and "line %d" % lineno in str(info.value)


@pytest.mark.parametrize(
    "text,reason",
    [
        ("auth required pam_x.so\r\n", "carriage return"),
        ("\r\n", "carriage return"),
        ("auth\x0brequired pam_x.so\n", "control character"),
        ("auth required pam_x.so \udcff\n", "invalid UTF-8"),
        ("auth\n", "no control field"),
        ("auth [] pam_x.so\n", "empty control"),
        ("auth [success] pam_x.so\n", "not value=action"),
        ("auth [successful=ok] pam_x.so\n", "unknown return value 'successful'"),
        ("auth [success=0] pam_x.so\n", "unknown action '0'"),
        ("auth [success=-1] pam_x.so\n", "unknown action '-1'"),
        ("auth [success=ok]x pam_x.so\n", "right after a closing ']'"),
        ("auth required [pam_x.so]\n", "module path cannot be in brackets"),
        ("[auth] required pam_x.so\n", "type field cannot be in brackets"),
        ("auth include\n", "no file name after include"),
        ("auth include a b\n", "include takes exactly one file name"),
        ("@include\n", "@include takes exactly one file name"),
        ("@include a b\n", "@include takes exactly one file name"),
        ("@INCLUDE a\n", "unknown directive"),
        ("auth required pam_x.so [arg\n", "without a closing ']'"),
        ("account required pam_x.so \\", "continuation at the end"),
    ],
)
def test_hostile_lines(text, reason):
    with pytest.raises(_pam.PamSyntaxError) as info:
        _pam.parse(text)
    assert reason in info.value.reason


@pytest.mark.parametrize("suite", SUITES)
def test_crlf_copy_of_a_stock_file_is_refused(suite):
    """A CRLF file (kept out of the repository, whose sanity checks forbid CRLF): the first blank line is line 2."""
    crlf = read(suite + "/sshd").replace("\n", "\r\n")
    with pytest.raises(_pam.PamSyntaxError) as info:
        _pam.parse(crlf)
    assert info.value.lineno == 2 and "carriage return" in info.value.reason


def test_comments_with_control_characters_are_harmless():
    text = "# a comment\r\n#\x01 odd\n# caf\xe9 \udcff\n@include common-auth\n"
    records = _pam.parse(text)
    assert [r.kind for r in records] == ["comment", "comment", "comment", "include"]
    assert _pam.render(records) == text


def test_very_long_lines():
    text = "# " + "x" * 200000 + "\n@include common-auth\nauth optional pam_permit.so " + " ".join("arg%d" % i for i in range(5000)) + "\n"
    records = _pam.parse(text)
    assert _pam.render(records) == text
    assert len(records[2].args) == 5000


def test_error_messages_show_a_short_printable_excerpt():
    with pytest.raises(_pam.PamSyntaxError) as info:
        _pam.parse("auth frobnicate pam_x.so " + "y" * 500 + "\n", source="/etc/pam.d/sshd")
    message = str(info.value)
    assert message.startswith("/etc/pam.d/sshd line 1: unknown control 'frobnicate'")
    assert message.endswith("...')")
    assert len(message) < 300
    with pytest.raises(_pam.PamSyntaxError) as info:
        _pam.parse("auth required pam_x.so\r\n")
    assert "\\r" in str(info.value) and "\r" not in str(info.value)


# ---------------------------------------------------------------- writing


@pytest.mark.parametrize("arg", ["nullok", "secret=/var/lib/ga/${USER}", "authtok_prompt=Your code: ", "[x", "a]b", "c\\]d", "tab\there"])
def test_quote_arg_reads_back_the_same(arg):
    line = _pam.render_rule("auth", "required", "pam_x.so", [arg, "last"])
    rule = _pam.parse(line)[0]
    assert rule.args == [arg, "last"]


@pytest.mark.parametrize("arg", ["", "a#b", "new\nline", "cr\r", "nul\x00"])
def test_quote_arg_refuses_what_pam_cannot_express(arg):
    with pytest.raises(ValueError):
        _pam.quote_arg(arg)


def test_render_rule_with_comment_and_control():
    control = _pam.format_control([("success", "1"), ("default", "ignore")])
    line = _pam.render_rule("auth", control, "pam_succeed_if.so", ["quiet", "user", "ingroup", "a:b"], "managed")
    assert line == "auth       [success=1 default=ignore] pam_succeed_if.so quiet user ingroup a:b  # managed\n"
    rule = _pam.parse(line)[0]
    assert rule.actions["success"] == 1 and rule.comment == " managed"


@given(st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\n\r#"), min_size=1), min_size=1, max_size=5))
@settings(max_examples=200, deadline=None)
@example(["\\"])
@example(["a b\\"])
def test_any_expressible_args_read_back(args):
    try:
        line = _pam.render_rule("auth", "required", "pam_x.so", args)
    except ValueError:
        return
    assert _pam.parse(line)[0].args == args


PAMISH = st.text(
    alphabet=st.sampled_from(list("auth required [] = \\ # \t \n \r @include x.so success=1 default=ignore -\x00\x0b é")) | st.characters(),
    max_size=300,
)


@given(PAMISH)
@settings(max_examples=500, deadline=None)
def test_parse_render_round_trips_any_text(text):
    try:
        records = _pam.parse(text)
    except _pam.PamSyntaxError:
        return
    assert _pam.render(records) == text


@given(st.binary(max_size=400))
@settings(max_examples=300, deadline=None)
def test_arbitrary_bytes_never_crash_and_round_trip(data):
    text = data.decode("utf-8", "surrogateescape")
    try:
        records = _pam.parse(text)
    except _pam.PamSyntaxError:
        return
    assert _pam.render(records).encode("utf-8", "surrogateescape") == data


# ---------------------------------------------------------------- resolving


def test_resolve_debian_auth_through_include():
    records = _pam.parse(read("bookworm/sshd"))
    handlers = _pam.resolve(records, "auth", loader_for("bookworm"), "sshd")
    assert [h.name for h in handlers] == ["pam_unix.so", "pam_deny.so", "pam_permit.so"]
    assert {h.top for h in handlers} == {3}  # the @include common-auth record
    assert all(h.level == 0 for h in handlers)
    account = _pam.resolve(records, "account", loader_for("bookworm"), "sshd")
    assert [h.name for h in account] == ["pam_nologin.so", "pam_unix.so", "pam_deny.so", "pam_permit.so"]


def test_resolve_rhel_substack_levels():
    records = _pam.parse(read("rhel9/sshd"))
    handlers = _pam.resolve(records, "auth", loader_for("rhel9"), "sshd")
    assert handlers[0].kind == "substack" and handlers[0].level == 0
    assert [h.name for h in handlers[1:]] == [
        "pam_env.so",
        "pam_faildelay.so",
        "pam_usertype.so",
        "pam_localuser.so",
        "pam_unix.so",
        "pam_usertype.so",
        "pam_sss.so",
        "pam_deny.so",
    ]
    assert all(h.level == 1 for h in handlers[1:])


def test_resolve_missing_include_is_a_line_that_always_fails():
    records = _pam.parse("auth include nowhere\n@include nothing\n")
    handlers = _pam.resolve(records, "auth", lambda name: None, "sshd")
    assert [h.kind for h in handlers] == ["mustfail", "mustfail"]
    assert not _pam.can_succeed(handlers, lambda h: _pam.RETURN_CODES)


def test_resolve_include_loop_is_refused():
    records = _pam.parse("@include self\n")
    with pytest.raises(_pam.PamSyntaxError) as info:
        _pam.resolve(records, "auth", lambda name: ("self", records), "self")
    assert "nested deeper" in info.value.reason


# ---------------------------------------------------------------- simulating


ANY = _pam.RETURN_CODES


def stack(text, files=None):
    files = files or {}

    def load(name):
        return (name, _pam.parse(files[name])) if name in files else None

    return _pam.resolve(_pam.parse(text), "auth", load, "sshd")


def by_name(table, default=ANY):
    def outcomes(handler):
        return table.get(handler.name, default)

    return outcomes


COMMON_AUTH = "auth [success=1 default=ignore] pam_unix.so nullok\nauth requisite pam_deny.so\nauth required pam_permit.so\n"


@pytest.mark.parametrize(
    "text,table,expected",
    [
        ("", {}, False),
        ("auth required pam_deny.so\n", {"pam_deny.so": ("auth_err",)}, False),
        ("auth required pam_permit.so\n", {"pam_permit.so": ("success",)}, True),
        ("auth optional pam_permit.so\n", {"pam_permit.so": ("success",)}, True),
        ("auth required pam_x.so\n", {"pam_x.so": ("ignore",)}, False),  # ignore alone never succeeds
        ("auth [success=ok ignore=ok] pam_x.so\n", {"pam_x.so": ("ignore",)}, False),  # status must be success
        ("auth sufficient pam_x.so\n", {"pam_x.so": ("auth_err",)}, False),
        # Debian common-auth: the jump over pam_deny is the only way through.
        (COMMON_AUTH, {"pam_unix.so": ("success",), "pam_deny.so": ("auth_err",), "pam_permit.so": ("success",)}, True),
        (COMMON_AUTH, {"pam_unix.so": ("auth_err",), "pam_deny.so": ("auth_err",), "pam_permit.so": ("success",)}, False),
        # a required failure is sticky even if later modules succeed
        ("auth required pam_x.so\nauth required pam_permit.so\n", {"pam_x.so": ("auth_err",), "pam_permit.so": ("success",)}, False),
        # requisite dies at once; sufficient after a failure does not rescue
        ("auth requisite pam_x.so\nauth sufficient pam_permit.so\n", {"pam_x.so": ("auth_err",), "pam_permit.so": ("success",)}, False),
        ("auth required pam_x.so\nauth sufficient pam_permit.so\n", {"pam_x.so": ("auth_err",), "pam_permit.so": ("success",)}, False),
        # sufficient success ends the stack before a later failure
        ("auth sufficient pam_x.so\nauth required pam_deny.so\n", {"pam_x.so": ("success",), "pam_deny.so": ("auth_err",)}, True),
        # a jump past the end is a broken stack
        ("auth [success=5 default=ignore] pam_x.so\nauth required pam_permit.so\n", {"pam_x.so": ("success",), "pam_permit.so": ("success",)}, False),
        # reset forgets an earlier failure
        (
            "auth required pam_x.so\nauth [success=reset default=ignore] pam_y.so\nauth required pam_permit.so\n",
            {"pam_x.so": ("auth_err",), "pam_y.so": ("success",), "pam_permit.so": ("success",)},
            True,
        ),
    ],
)
def test_can_succeed_table(text, table, expected):
    assert _pam.can_succeed(stack(text), by_name(table)) is expected


PASSWORD_AUTH = "auth sufficient pam_unix.so\nauth required pam_deny.so\n"


@pytest.mark.parametrize("control,bypass", [("include", True), ("substack", False)])
def test_sufficient_inside_include_ends_the_whole_stack_but_not_a_substack(control, bypass):
    """The reason RHEL's sshd uses 'substack password-auth': a second factor after it cannot be skipped."""
    text = "auth %s password-auth\nauth required pam_google_authenticator.so\n" % control
    handlers = stack(text, {"password-auth": PASSWORD_AUTH})
    wrong_code = by_name({"pam_unix.so": ("success",), "pam_deny.so": ("auth_err",), "pam_google_authenticator.so": ("auth_err",)})
    assert _pam.can_succeed(handlers, wrong_code) is bypass
    right_code = by_name({"pam_unix.so": ("success",), "pam_deny.so": ("auth_err",), "pam_google_authenticator.so": ("success",)})
    assert _pam.can_succeed(handlers, right_code)


def test_jump_skips_a_substack_as_one_line():
    files = {"inner": "auth required pam_deny.so\nauth required pam_deny.so\n"}
    text = "auth [success=1 default=ignore] pam_x.so\nauth substack inner\nauth required pam_permit.so\n"
    handlers = stack(text, files)
    table = {"pam_x.so": ("success",), "pam_deny.so": ("auth_err",), "pam_permit.so": ("success",)}
    assert _pam.can_succeed(handlers, by_name(table))
    table["pam_x.so"] = ("auth_err",)
    assert not _pam.can_succeed(handlers, by_name(table))


def test_die_inside_a_substack_only_ends_the_substack():
    files = {"inner": "auth requisite pam_deny.so\nauth required pam_permit.so\n"}
    handlers = stack("auth substack inner\nauth required pam_permit.so\n", files)
    assert not _pam.can_succeed(handlers, by_name({"pam_deny.so": ("auth_err",), "pam_permit.so": ("success",)}))
    files = {"inner": "auth [success=done default=ignore] pam_x.so\nauth required pam_deny.so\n"}
    handlers = stack("auth substack inner\nauth required pam_permit.so\n", files)
    assert _pam.can_succeed(handlers, by_name({"pam_x.so": ("success",), "pam_deny.so": ("auth_err",), "pam_permit.so": ("success",)}))
