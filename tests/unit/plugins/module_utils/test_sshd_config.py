# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The sshd_config model: tokenizer, tree, effective values (checked against recorded real sshd), glob."""

from __future__ import annotations

import json
import os

import pytest

from ansible_collections.fleetauth.ssh.plugins.module_utils import _sshd_auth as auth
from ansible_collections.fleetauth.ssh.plugins.module_utils import _sshd_config as sc
from ansible_collections.fleetauth.ssh.tests.unit.plugins.module_utils.sshd_fixtures import FIXTURES, MemFS, fixture_fs, fixture_names

VERSIONS = {"8.4": (8, 4), "9.2": (9, 2), "10.0": (10, 0)}

# ---------------------------------------------------------------- tokenizer


@pytest.mark.parametrize(
    "line,keyword,args",
    [
        ("PasswordAuthentication no", "passwordauthentication", ["no"]),
        ("passwordAUTHENTICATION=no", "passwordauthentication", ["no"]),
        ("PasswordAuthentication = no", "passwordauthentication", ["no"]),
        ("PasswordAuthentication\tno\t", "passwordauthentication", ["no"]),
        ('"PubkeyAuthentication" yes', "pubkeyauthentication", ["yes"]),
        ('AuthenticationMethods "publickey,password" publickey', "authenticationmethods", ["publickey,password", "publickey"]),
        ("AuthenticationMethods 'a b' c", "authenticationmethods", ["a b", "c"]),
        ("PermitRootLogin no # trailing comment", "permitrootlogin", ["no"]),
        ("PermitRootLogin no#notacomment", "permitrootlogin", ["no#notacomment"]),
        ("AllowUsers a\\ b c", "allowusers", ["a b", "c"]),
        ("Match User deploy Address 10.0.0.0/8", "match", ["User", "deploy", "Address", "10.0.0.0/8"]),
        ("UsePAM yes\r", "usepam", ["yes"]),
        ("UsePAM yes\f", "usepam", ["yes"]),
    ],
)
def test_parse_line_modern(line, keyword, args):
    directive = sc.parse_line(line)
    assert directive.keyword == keyword
    assert directive.args == args
    assert directive.error is None


@pytest.mark.parametrize("line", ["", "# comment", "#PasswordAuthentication yes", "   ", '"unterminated keyword'])
def test_parse_line_ignored(line):
    assert sc.parse_line(line) is None


@pytest.mark.parametrize(
    "line,error",
    [("PasswordAuthentication", "no argument"), ("PasswordAuthentication   ", "no argument"), ('AllowUsers "open', "invalid quotes")],
)
def test_parse_line_errors_sshd_would_report(line, error):
    assert error in sc.parse_line(line).error


def test_legacy_tokenizer_splits_on_equals_and_strips_hash_anywhere():
    # Before 8.7 load_server_config cut every line at its first '#'.
    lines = sc.split_logical(b"PermitRootLogin no#comment\nAllowUsers a=b\n", legacy=True)
    assert [ln.text for ln in lines] == ["PermitRootLogin no", "AllowUsers a=b"]
    assert sc.parse_line(lines[0].text, legacy=True).args == ["no"]
    assert sc.parse_line(lines[1].text, legacy=True).args == ["a", "b"]
    assert sc.parse_line("PermitRootLogin no#comment").args == ["no#comment"]


def test_logical_lines_nul_glues_next_line_like_sshd():
    data = b"PasswordAuth\0junk\nentication yes\nUsePAM yes\n"
    lines = sc.split_logical(data)
    assert [ln.text for ln in lines] == ["PasswordAuthentication yes", "UsePAM yes"]
    assert (lines[0].start, lines[0].end) == (0, len(b"PasswordAuth\0junk\nentication yes\n"))
    assert lines[0].nul and not lines[1].nul


def test_logical_lines_keep_spans_for_crlf_and_missing_final_newline():
    data = b"  A b\r\n\r\nC d"
    lines = sc.split_logical(data)
    assert [(ln.text, data[ln.start : ln.end]) for ln in lines] == [("A b\r", b"  A b\r\n"), ("", b"\r\n"), ("C d", b"C d")]


# ---------------------------------------------------------------- glob and tree


def test_glob_lexical_order_dotfiles_and_directories():
    fs = MemFS({"/d/b.conf": b"", "/d/a.conf": b"", "/d/.h.conf": b"", "/d/sub/x.conf": b"", "/d/c.txt": b"", "/d/B.conf": b""})
    assert sc.glob_paths("/d/*.conf", fs.listdir) == ["/d/B.conf", "/d/a.conf", "/d/b.conf"]
    assert sc.glob_paths("/d/.*.conf", fs.listdir) == ["/d/.h.conf"]
    assert sc.glob_paths("/d/*/*.conf", fs.listdir) == ["/d/sub/x.conf"]
    assert sc.glob_paths("/d/a.conf", fs.listdir) == ["/d/a.conf"]
    assert sc.glob_paths("/d/missing.conf", fs.listdir) == []
    assert sc.glob_paths("/nowhere/*.conf", fs.listdir) == []
    assert sc.glob_paths("relative/*.conf", fs.listdir) == []


@pytest.mark.parametrize("arg,resolved", [("sshd_config.d/*.conf", "/etc/ssh/sshd_config.d/*.conf"), ("/opt/x.conf", "/opt/x.conf"), ("~/x", "~/x")])
def test_include_relative_to_etc_ssh(arg, resolved):
    assert sc.resolve_include(arg) == resolved


def test_tree_order_include_inside_match_and_no_leak():
    fs = fixture_fs("nested")
    tree = sc.ConfigTree.load("/etc/ssh/sshd_config", fs.read, fs.listdir)
    order = [(occ.path.rpartition("/")[2], occ.keyword) for occ in tree.occurrences][:6]
    assert order == [
        ("sshd_config", "include"),
        ("10-base.conf", "include"),
        ("a.conf", "logingracetime"),
        ("a.conf", "allowusers"),
        ("b.conf", "logingracetime"),
        ("10-base.conf", "permitrootlogin"),
    ]
    assert "/etc/ssh/nested/.hidden.conf" not in tree.files
    assert "/etc/ssh/conf.d/README" not in tree.files
    deploy = [occ for occ in tree.occurrences if occ.path == "/etc/ssh/match.d/deploy.conf"]
    assert [occ.keyword for occ in deploy] == ["authenticationmethods", "allowusers", "match", "passwordauthentication"]
    assert [b.criteria for b in deploy[0].chain] == ["User deploy"]
    assert [b.criteria for b in deploy[3].chain] == ["User deploy", "Address 198.51.100.0/24"]
    # The included file's Match did not leak: X11Forwarding after the Include is in Match User deploy only.
    x11 = tree.find(["x11forwarding"])[0]
    assert [b.criteria for b in x11.chain] == ["User deploy"]
    # A Match block in a drop-in ends at the end of that file.
    late = [occ for occ in tree.occurrences if occ.keyword == "passwordauthentication" and occ.path == "/etc/ssh/sshd_config"]
    assert all(occ.is_global for occ in late[:2])


def test_include_loop_is_refused_like_sshd():
    fs = MemFS({"/etc/ssh/sshd_config": b"Include /etc/ssh/loop.conf\n", "/etc/ssh/loop.conf": b"Include loop.conf\nUsePAM yes\n"})
    with pytest.raises(sc.ConfigError, match="more than 16 levels deep"):
        sc.ConfigTree.load("/etc/ssh/sshd_config", fs.read, fs.listdir)


def test_include_explosion_is_bounded():
    files = {"/etc/ssh/sshd_config": b"Include /etc/ssh/l0.conf\n"}
    for level in range(16):
        files["/etc/ssh/l%d.conf" % level] = b"Include /etc/ssh/l%d.conf /etc/ssh/l%d.conf /etc/ssh/l%d.conf\n" % ((level + 1,) * 3)
    files["/etc/ssh/l16.conf"] = b"UsePAM yes\n" * 5
    fs = MemFS(files)
    with pytest.raises(sc.ConfigError, match="more than"):
        sc.ConfigTree.load("/etc/ssh/sshd_config", fs.read, fs.listdir)


def test_missing_main_file():
    with pytest.raises(sc.ConfigError, match="does not exist"):
        sc.ConfigTree.load("/etc/ssh/sshd_config", MemFS().read, MemFS().listdir)


def test_errors_lists_parse_errors():
    fs = MemFS({"/etc/ssh/sshd_config": b"UsePAM\nAllowUsers 'x\n"})
    tree = sc.ConfigTree.load("/etc/ssh/sshd_config", fs.read, fs.listdir)
    assert tree.errors() == ['/etc/ssh/sshd_config line 1: no argument after keyword "UsePAM"', "/etc/ssh/sshd_config line 2: invalid quotes"]


# ---------------------------------------------------------------- effective values vs real sshd


def _expected_cases():
    cases = []
    for name in fixture_names():
        path = os.path.join(FIXTURES, name, "expected.json")
        with open(path, encoding="utf-8") as handle:
            recorded = json.load(handle)
        for version, contexts in sorted(recorded.items()):
            for context, values in sorted(contexts.items()):
                cases.append(pytest.param(name, version, context, values, id="%s-%s-%s" % (name, version, context)))
    return cases


CONTEXT_SPECS = {
    "global": None,
    "deploy@10.1.2.3": {"user": "deploy", "host": "client.example", "addr": "10.1.2.3"},
    "deploy@192.0.2.7": {"user": "deploy", "host": "client.example", "addr": "192.0.2.7"},
    "deploy@198.51.100.9": {"user": "deploy", "host": "client.example", "addr": "198.51.100.9"},
    "ops@203.0.113.9": {"user": "ops", "host": "client.example", "addr": "203.0.113.9"},
    "pwonly@203.0.113.9": {"user": "pwonly", "host": "client.example", "addr": "203.0.113.9"},
}


@pytest.mark.parametrize("name,version,context,recorded", _expected_cases())
def test_model_matches_recorded_sshd(name, version, context, recorded):
    """The pure model gives what the real sshd -T (-C) printed for the same files (tests/unit/fixtures/sshd/record_expected.py)."""
    assert "error" not in recorded
    ver = VERSIONS[version]
    fs = fixture_fs(name)
    tree = sc.ConfigTree.load("/etc/ssh/sshd_config", fs.read, fs.listdir, legacy=ver < (8, 7))
    spec = CONTEXT_SPECS[context]
    model = auth.model_effective(tree, ver, sc.context_matcher(spec) if spec else None)
    for key, value in recorded.items():
        if key == "challengeresponseauthentication" and ver >= (8, 7):
            continue
        assert model[key] == value, "%s: model %r, sshd %r" % (key, model[key], value)


def test_match_all_overrides_everything_like_sshd():
    fs = fixture_fs("match-all")
    tree = sc.ConfigTree.load("/etc/ssh/sshd_config", fs.read, fs.listdir)
    assert tree.effective(["passwordauthentication"]).text() == "PasswordAuthentication yes"
    assert tree.effective(["passwordauthentication"], sc.context_matcher({"user": "pwonly"})).path == "/etc/ssh/sshd_config"


@pytest.mark.parametrize(
    "context,criteria,expected",
    [
        ({"user": "deploy"}, "User deploy", True),
        ({"user": "deploy"}, "User dep*,ops", True),
        ({"user": "deploy"}, "User *,!deploy", False),
        ({}, "User deploy", False),
        ({"addr": "10.1.2.3"}, "Address 10.0.0.0/8", True),
        ({"addr": "10.1.2.3"}, "Address 10.1.2.*", True),
        ({"addr": "10.1.2.3"}, "Address 10.0.0.0/8,!10.1.2.3", False),
        ({"addr": "10.1.2.3", "user": "x"}, "User x Address 192.168.0.0/16", False),
        ({"host": "Client.Example"}, "Host *.example", True),
        ({"user": "x"}, "Group wheel", False),
        ({"lport": 22}, "LocalPort 22", True),
        ({}, "all", True),
    ],
)
def test_context_matcher(context, criteria, expected):
    block = sc.MatchBlock("/f", 0, 1, sc.parse_line("Match " + criteria))
    assert sc.context_matcher(context)(block) is expected


@pytest.mark.parametrize(
    ("groups", "criteria", "expected"),
    [
        (["mfa", "ops"], "Group ops", True),
        (["mfa", "ops"], "Group op?,dev", True),
        (["mfa", "ops"], "Group *,!ops", False),
        (["mfa"], "Group ops", False),
        (None, "Group ops", False),
        (["ops"], "Group ops User deploy", True),
        (["ops"], "Group ops User other", False),
    ],
)
def test_context_matcher_groups(groups, criteria, expected):
    block = sc.MatchBlock("/f", 0, 1, sc.parse_line("Match " + criteria))
    assert sc.context_matcher({"user": "deploy"}, groups=groups)(block) is expected


# ---------------------------------------------------------------- editor


def test_editor_keeps_untouched_bytes_and_line_endings():
    data = b"# head\r\nPasswordAuthentication yes\r\n\tMaxAuthTries 3\r\nlast line without newline"
    cfile = sc.ConfigFile("/f", data)
    ed = sc.FileEditor("/f", cfile)
    ed.replace(1, "PasswordAuthentication no")
    ed.comment(2)
    ed.insert(4, ["UsePAM yes"])
    out = ed.render()
    assert out == b"# head\r\nPasswordAuthentication no\r\n\t# fleetauth.ssh conflict: MaxAuthTries 3\r\nlast line without newline\r\nUsePAM yes\r\n"
    ed2 = sc.FileEditor("/f", cfile)
    ed2.delete(1)
    assert ed2.render() == data.replace(b"PasswordAuthentication yes\r\n", b"")
    assert sc.FileEditor("/f", cfile).render() == data
