# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The structural editor: where settings go, conflicts, Match region, idempotence, candidates; hostile input."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.fleetauth.ssh.plugins.module_utils import _sshd_auth as auth
from ansible_collections.fleetauth.ssh.plugins.module_utils import _sshd_config as sc
from ansible_collections.fleetauth.ssh.tests.unit.plugins.module_utils.sshd_fixtures import MemFS, fixture_fs, fixture_names

MAIN = "/etc/ssh/sshd_config"
DROP_IN = "/etc/ssh/sshd_config.d/00-fleetauth.conf"


def load(fs, version=(9, 2)):
    return sc.ConfigTree.load(MAIN, fs.read, fs.listdir, legacy=version < (8, 7))


def plan_for(fs, params, version=(9, 2), conflicts="comment", destination="auto", add_include=False):
    tree = load(fs, version)
    request = auth.build_request(params, version)
    target, mode, include_line, _note = auth.choose_destination(tree, destination, "00-fleetauth.conf", add_include, request.names, MAIN)
    return tree, request, sc.plan_changes(tree, target, mode, request.settings, request.blocks, conflicts, include_line)


def apply(fs, plan):
    fs.apply(plan.contents)
    return fs


def text(data):
    return data.decode("utf-8", "surrogateescape")


# ---------------------------------------------------------------- where settings go


def test_ubuntu_cloud_drop_in_beats_cloud_init_and_comments_it():
    fs = fixture_fs("ubuntu-cloud")
    _tree, _req, plan = plan_for(fs, {"password": "disabled"})
    assert plan.target == DROP_IN and plan.mode == "drop_in" and plan.created == [DROP_IN]
    assert sorted(plan.contents) == [DROP_IN, "/etc/ssh/sshd_config.d/50-cloud-init.conf"]
    assert text(plan.contents[DROP_IN]).splitlines()[-1] == "PasswordAuthentication no"
    assert plan.contents["/etc/ssh/sshd_config.d/50-cloud-init.conf"] == b"# fleetauth.ssh conflict: PasswordAuthentication yes\n"
    new = load(apply(fs, plan))
    assert auth.model_effective(new, (9, 2))["passwordauthentication"] == "no"
    assert not plan_for(fs, {"password": "disabled"})[2].contents


def test_conflicts_remove_and_fail():
    fs = fixture_fs("ubuntu-cloud")
    plan = plan_for(fs, {"password": "disabled"}, conflicts="remove")[2]
    assert plan.contents["/etc/ssh/sshd_config.d/50-cloud-init.conf"] == b""
    plan = plan_for(fixture_fs("ubuntu-cloud"), {"password": "disabled"}, conflicts="fail")[2]
    assert [c.as_dict()["path"] for c in plan.conflicts] == ["/etc/ssh/sshd_config.d/50-cloud-init.conf"]
    assert "/etc/ssh/sshd_config.d/50-cloud-init.conf" not in plan.contents


@pytest.mark.parametrize(
    "version,lines",
    [((8, 4), ["ChallengeResponseAuthentication yes", "KbdInteractiveAuthentication yes"]), ((9, 2), ["KbdInteractiveAuthentication yes"])],
)
def test_rhel_style_kbdint_keyword_by_version(version, lines):
    fs = fixture_fs("rhel-style")
    plan = plan_for(fs, {"kbdint": "enabled"}, version=version)[2]
    assert text(plan.contents[DROP_IN]).splitlines()[-len(lines) :] == lines
    assert b"# fleetauth.ssh conflict: ChallengeResponseAuthentication no" in plan.contents["/etc/ssh/sshd_config.d/50-redhat.conf"]
    new = load(apply(fs, plan), version)
    assert auth.model_effective(new, version)["kbdinteractiveauthentication"] == "yes"


def test_other_spelling_with_same_value_is_left_alone():
    fs = MemFS({MAIN: b"Include /etc/ssh/sshd_config.d/*.conf\n", "/etc/ssh/sshd_config.d/50-x.conf": b"ChallengeResponseAuthentication yes\n"})
    plan = plan_for(fs, {"kbdint": "enabled"})[2]
    assert list(plan.contents) == [DROP_IN] and not plan.conflicts


def test_main_mode_edits_first_line_in_place_and_keeps_crlf():
    fs = fixture_fs("quirks")
    tree, _req, plan = plan_for(fs, {"password": "disabled", "max_auth_tries": 5, "use_pam": True})
    assert plan.mode == "main" and list(plan.contents) == [MAIN]
    before = fs.files[MAIN]
    after = plan.contents[MAIN]
    assert b"\tpasswordAUTHENTICATION=no\r\n" in after  # already right: untouched
    assert b"# fleetauth.ssh conflict: PasswordAuthentication yes\r\n" in after
    assert b"MaxAuthTries 5\r\n" in after and b"MaxAuthTries\t3" not in after
    assert after.count(b"\r\n") == before.count(b"\r\n") and b"\n" not in after.replace(b"\r\n", b"")
    assert not plan_for(apply(fs, plan), {"password": "disabled", "max_auth_tries": 5, "use_pam": True})[2].contents
    assert tree.main.data == before


def test_main_mode_inserts_before_first_directive():
    fs = fixture_fs("debian-bookworm")
    plan = plan_for(fs, {"pubkey": "enabled", "kbdint": "enabled"}, destination="main")[2]
    lines = text(plan.contents[MAIN]).splitlines()
    include_at = lines.index("Include /etc/ssh/sshd_config.d/*.conf")
    assert lines[include_at - 1] == "PubkeyAuthentication yes"
    # the main file's own line is changed in place (it is the first global one in that file)
    assert "KbdInteractiveAuthentication no" not in lines and lines.count("KbdInteractiveAuthentication yes") == 1
    assert text(fs.files[MAIN]).splitlines().index("KbdInteractiveAuthentication no") + 1 == lines.index("KbdInteractiveAuthentication yes")


def test_auto_uses_main_when_main_sets_keyword_before_include():
    fs = MemFS({MAIN: b"PasswordAuthentication yes\nInclude /etc/ssh/sshd_config.d/*.conf\n"})
    _tree, _req, plan = plan_for(fs, {"password": "disabled"})
    assert plan.mode == "main" and plan.contents[MAIN] == b"PasswordAuthentication no\nInclude /etc/ssh/sshd_config.d/*.conf\n"
    # ...but only for the keywords asked: another keyword still goes to the drop-in
    _tree, _req, plan = plan_for(fs, {"pubkey": "enabled"})
    assert plan.mode == "drop_in"


def test_existing_drop_in_is_sticky():
    fs = MemFS({MAIN: b"PasswordAuthentication yes\nInclude /etc/ssh/sshd_config.d/*.conf\n", DROP_IN: b"PubkeyAuthentication yes\n"})
    plan = plan_for(fs, {"password": "disabled"})[2]
    assert plan.mode == "drop_in"
    assert plan.contents[MAIN] == b"# fleetauth.ssh conflict: PasswordAuthentication yes\nInclude /etc/ssh/sshd_config.d/*.conf\n"


def test_add_include_when_main_has_none():
    fs = fixture_fs("quirks")
    with pytest.raises(auth.AuthError, match="add_include"):
        plan_for(fs, {"password": "disabled"}, destination="drop_in")
    plan = plan_for(fs, {"password": "disabled"}, add_include=True)[2]
    assert plan.target == DROP_IN
    first = next(line for line in text(plan.contents[MAIN]).splitlines() if not line.startswith("#"))
    assert first == "Include /etc/ssh/sshd_config.d/*.conf"
    assert b"\r\nInclude /etc/ssh/sshd_config.d/*.conf\r\n" in plan.contents[MAIN]
    new = load(apply(fs, plan))
    assert DROP_IN in new.files
    assert auth.model_effective(new, (9, 2))["passwordauthentication"] == "no"
    assert not plan_for(fs, {"password": "disabled"}, add_include=True)[2].contents


def test_drop_in_name_must_be_plain():
    fs = fixture_fs("debian-bookworm")
    tree = load(fs)
    for bad in ("../x.conf", ".hidden.conf", "a/b.conf", ""):
        with pytest.raises(auth.AuthError, match="drop_in_name"):
            auth.choose_destination(tree, "auto", bad, False, set(), MAIN)


def test_drop_in_name_not_matching_glob_falls_back_to_main():
    fs = fixture_fs("debian-bookworm")
    tree = load(fs)
    assert auth.choose_destination(tree, "auto", "00-fleetauth.cfg", False, set(), MAIN)[:2] == (MAIN, "main")


# ---------------------------------------------------------------- Match blocks and lists


def test_match_region_create_replace_remove():
    fs = fixture_fs("debian-bookworm")
    blocks = [{"criteria": "User  deploy", "settings": {"authentication_methods": [["publickey"]]}}]
    plan = plan_for(fs, {"password": "disabled", "match": blocks})[2]
    lines = text(plan.contents[DROP_IN]).splitlines()
    assert lines[-4:] == [sc.REGION_BEGIN, "Match User deploy", "    AuthenticationMethods publickey", sc.REGION_END]
    assert lines.index("PasswordAuthentication no") < lines.index(sc.REGION_BEGIN)
    apply(fs, plan)
    assert not plan_for(fs, {"password": "disabled", "match": blocks})[2].contents
    # other options later go before the region, the region stays when match is omitted
    plan = plan_for(fs, {"pubkey": "enabled"})[2]
    lines = text(plan.contents[DROP_IN]).splitlines()
    assert lines.index("PubkeyAuthentication yes") < lines.index(sc.REGION_BEGIN) and "Match User deploy" in lines
    apply(fs, plan)
    plan = plan_for(fs, {"match": [{"criteria": "Address 10.0.0.0/8", "settings": {"password": "enabled"}}]})[2]
    assert text(plan.contents[DROP_IN]).splitlines()[-4:] == [sc.REGION_BEGIN, "Match Address 10.0.0.0/8", "    PasswordAuthentication yes", sc.REGION_END]
    apply(fs, plan)
    plan = plan_for(fs, {"match": []})[2]
    assert sc.REGION_BEGIN not in text(plan.contents[DROP_IN]) and "Match" not in text(plan.contents[DROP_IN])


def test_match_region_in_main_goes_before_existing_match_blocks():
    fs = fixture_fs("match-all")
    plan = plan_for(fs, {"match": [{"criteria": "User pwonly", "settings": {"password": "enabled"}}]}, destination="main")[2]
    lines = text(plan.contents[MAIN]).splitlines()
    assert lines.index(sc.REGION_END) < lines.index("Match User pwonly", lines.index(sc.REGION_END))
    # the same criteria elsewhere with another value is a conflict
    assert "    # fleetauth.ssh conflict: PasswordAuthentication no" in lines


def test_region_lines_are_not_conflicts_of_global_settings():
    fs = MemFS({MAIN: b"Include /etc/ssh/sshd_config.d/*.conf\n"})
    blocks = [{"criteria": "Address 10.0.0.0/8", "settings": {"password": "enabled"}}]
    apply(fs, plan_for(fs, {"password": "disabled", "match": blocks})[2])
    plan = plan_for(fs, {"password": "disabled"})[2]
    assert not plan.contents and not plan.conflicts


def test_damaged_region_is_refused():
    fs = MemFS({MAIN: b"Include /etc/ssh/sshd_config.d/*.conf\n", DROP_IN: (sc.REGION_BEGIN + "\nMatch User x\n  PasswordAuthentication yes\n").encode()})
    with pytest.raises(sc.ConfigError, match="damaged"):
        plan_for(fs, {"password": "disabled"})


def test_match_blocks_elsewhere_that_differ_are_conflicts():
    fs = fixture_fs("nested")
    plan = plan_for(fs, {"password": "disabled"}, destination="main")[2]
    reasons = {(c.as_dict()["path"], c.as_dict()["line"]): c.as_dict() for c in plan.conflicts}
    assert (MAIN, 4) in reasons  # the global duplicate "PasswordAuthentication yes"
    assert (MAIN, 14) in reasons and reasons[(MAIN, 14)]["context"] == "Match Address 10.1.0.0/16"
    assert ("/etc/ssh/match.d/deploy.conf", 5) not in reasons  # says "no" already
    new = load(apply(fs, plan))
    for spec in ({"user": "deploy", "addr": "10.1.2.3"}, {"user": "x", "addr": "10.1.9.9"}, None):
        assert auth.model_effective(new, (9, 2), sc.context_matcher(spec) if spec else None)["passwordauthentication"] == "no"


def test_accumulating_lists():
    fs = fixture_fs("nested")
    plan = plan_for(fs, {"allow_users": ["admin", "deploy"]}, destination="main")[2]
    where = sorted((c.as_dict()["path"], c.as_dict()["line"]) for c in plan.conflicts)
    assert where == [("/etc/ssh/match.d/deploy.conf", 3)]  # Match User deploy narrows the list
    assert b"AllowUsers admin deploy" in plan.contents[MAIN]
    plan = plan_for(fixture_fs("nested"), {"allow_users": []}, destination="main")[2]
    assert sorted(c.as_dict()["path"] for c in plan.conflicts) == ["/etc/ssh/match.d/deploy.conf", "/etc/ssh/nested/a.conf"]
    assert MAIN not in plan.contents


# ---------------------------------------------------------------- idempotence and effect, everywhere

REQUESTS = [
    {"password": "disabled"},
    {"password": "disabled", "kbdint": "enabled", "pubkey": "enabled", "use_pam": True},
    {"kbdint": "disabled", "permit_root_login": "without-password", "max_auth_tries": 3, "login_grace_time": "1m"},
    {"authentication_methods": [["publickey", "keyboard-interactive"]], "kbdint": "enabled", "allow_users": ["admin", "mfa"]},
    {"password": "enabled", "match": [{"criteria": "User deploy", "settings": {"password": "disabled", "authentication_methods": "publickey"}}]},
]


@pytest.mark.parametrize("version", [(8, 4), (9, 2), (10, 0)], ids=["8.4", "9.2", "10.0"])
@pytest.mark.parametrize("destination", ["auto", "main"])
@pytest.mark.parametrize("params", REQUESTS, ids=range(len(REQUESTS)))
@pytest.mark.parametrize("name", fixture_names())
def test_plan_gives_asked_effective_values_and_is_idempotent(name, params, destination, version):
    fs = fixture_fs(name)
    _tree, request, plan = plan_for(fs, params, version=version, destination=destination)
    new = load(apply(fs, plan), version)
    assert not new.errors()
    effective = auth.model_effective(new, version)
    assert auth.mismatches(request.settings, effective) == []
    for block in request.blocks or []:
        context = auth.context_for(block.criteria)
        found = auth.model_effective(new, version, sc.context_matcher(context))
        assert auth.mismatches(block.settings, found) == []
    again = plan_for(fs, params, version=version, destination=destination)[2]
    assert again.contents == {} and again.conflicts == []


# ---------------------------------------------------------------- candidates


def test_render_candidates_points_includes_at_copies_in_order():
    fs = fixture_fs("nested")
    tree = load(fs)
    main_copy, files, back = sc.render_candidates(tree, "/tmp/cand")
    assert main_copy == "/tmp/cand/000-sshd_config" and back[main_copy] == MAIN
    main_lines = text(files[main_copy]).splitlines()
    assert main_lines[1] == "Include /tmp/cand/001-10-base.conf /tmp/cand/004-20-late.conf"
    assert len(main_lines) == len(text(fs.files[MAIN]).splitlines())
    copies = MemFS(files)
    copy_tree = sc.ConfigTree.load(main_copy, copies.read, copies.listdir)
    assert [occ.keyword for occ in copy_tree.occurrences] == [occ.keyword for occ in tree.occurrences]
    assert auth.model_effective(copy_tree, (9, 2)) == auth.model_effective(tree, (9, 2))


def test_render_candidates_blank_for_include_without_files():
    fs = MemFS({MAIN: b"Include /etc/ssh/none/*.conf\r\nUsePAM yes\r\n"})
    _main, files, _back = sc.render_candidates(load(fs), "/c")
    assert files["/c/000-sshd_config"] == b"\r\nUsePAM yes\r\n"


# ---------------------------------------------------------------- hostile input


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048), st.booleans())
def test_parser_never_crashes_on_bytes(data, legacy):
    cfile = sc.ConfigFile("/x", data, legacy)
    assert sc.FileEditor("/x", cfile).render() == data
    for line in cfile.lines:
        assert 0 <= line.start <= line.end <= len(data)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.one_of(
            st.sampled_from(
                [
                    "PasswordAuthentication yes",
                    "passwordauthentication=no",
                    "KbdInteractiveAuthentication yes",
                    "ChallengeResponseAuthentication no",
                    "Match User x",
                    "Match all",
                    "Include /etc/ssh/sshd_config.d/*.conf",
                    "AllowUsers a b",
                    sc.REGION_BEGIN,
                    sc.REGION_END,
                    '"quoted',
                    "\tPubkeyAuthentication no # c",
                ]
            ),
            st.text(max_size=40),
        ),
        max_size=25,
    ),
    st.sampled_from(["\n", "\r\n"]),
    st.sampled_from(["comment", "remove"]),
)
def test_plan_never_crashes_and_leaves_a_parsable_tree(lines, newline, conflicts):
    fs = MemFS({MAIN: newline.join(lines).encode("utf-8", "surrogateescape"), "/etc/ssh/sshd_config.d/50-cloud-init.conf": b"PasswordAuthentication yes\n"})
    try:
        tree, request, plan = plan_for(fs, {"password": "disabled", "kbdint": "enabled"}, conflicts=conflicts)
    except (sc.ConfigError, auth.AuthError):
        return
    new = load(apply(fs, plan))
    effective = auth.model_effective(new, (9, 2))
    if not any(block.is_all for block in new.blocks()):
        assert effective["passwordauthentication"] == "no"
    assert tree is not None and request is not None


def test_huge_line_and_binary_garbage_do_not_break_the_plan():
    huge = b"Banner /etc/issue" + b"x" * 300000 + b"\n"
    fs = MemFS({MAIN: b"\x7fELF\x02\x01\x01\0\0\0" + bytes(range(256)) + b"\n" + huge + b"PasswordAuthentication yes\n"})
    plan = plan_for(fs, {"password": "disabled"})[2]
    out = plan.contents[MAIN]
    assert out.startswith(b"PasswordAuthentication no\n\x7fELF") or b"PasswordAuthentication no" in out
    assert huge in out
