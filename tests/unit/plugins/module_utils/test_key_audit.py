# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The audit on a real directory tree: symlink attacks, FIFOs, huge files, StrictModes, enforce.

sshd itself is replaced by a runtime that answers ``sshd -T`` from a dict (the
runtime layer has its own tests); everything else -- files, links, modes, owners --
is real. Tests that change ownership need root (CI runs as root) and skip otherwise.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import stat
import tempfile
import time

import pytest

from ansible_collections.fleetauth.ssh.plugins.module_utils import _authorized_keys as ak
from ansible_collections.fleetauth.ssh.plugins.module_utils import _key_audit as ka
from ansible_collections.fleetauth.ssh.plugins.module_utils._sshd_runtime import parse_effective

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "authorized_keys")
ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason="needs root (chown to other users)")

ALICE, BOB, CAROL = 4241, 4242, 4243


def fixture_line(comment):
    with open(os.path.join(FIXTURES, "all_types.authorized_keys")) as handle:
        for line in handle:
            if line.rstrip("\n").endswith(" " + comment):
                return line.rstrip("\n")
    raise AssertionError(comment)


ED = fixture_line("fixture-ed25519")
RSA2048 = fixture_line("fixture-rsa-2048")
RSA4096 = fixture_line("fixture-rsa-4096")
ECDSA = fixture_line("fixture-ecdsa-256")
DSA = fixture_line("fixture-dsa")
CA = fixture_line("fixture-ca-ed25519")


def fp(line):
    return ak.parse_file(line.encode())[0].key.fingerprint


BOOKWORM = {
    "authorizedkeysfile": ".ssh/authorized_keys .ssh/authorized_keys2",
    "authorizedkeyscommand": "none",
    "authorizedkeyscommanduser": "none",
    "pubkeyacceptedalgorithms": "ssh-ed25519-cert-v01@openssh.com,rsa-sha2-512-cert-v01@openssh.com,ssh-ed25519,ecdsa-sha2-nistp256,"
    "ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,sk-ssh-ed25519@openssh.com,sk-ecdsa-sha2-nistp256@openssh.com,rsa-sha2-512,rsa-sha2-256",
    "casignaturealgorithms": "ssh-ed25519,ecdsa-sha2-nistp256,rsa-sha2-512,rsa-sha2-256",
    "strictmodes": "yes",
    "pubkeyauthentication": "yes",
    "requiredrsasize": "1024",
}


class FakeRuntime:
    """Answers version() and effective() like SshdRuntime; per-user overrides; counts calls."""

    version_text = "OpenSSH_9.2p1 Debian-2+deb12u10, OpenSSL 3.0.17 1 Jul 2025"

    def __init__(self, values=None, per_user=None, version=(9, 2)):
        self.values = dict(BOOKWORM, **(values or {}))
        self.per_user = per_user or {}
        self._version = version
        self.calls = []

    def version(self):
        return self._version

    def effective(self, config_path=None, context=None):
        self.calls.append(dict(context or {}))
        text = "\n".join("%s %s" % item for item in dict(self.values, **self.per_user.get(context["user"], {})).items())
        return parse_effective(text)


class FakeModule:
    def __init__(self, check_mode=False, diff=True):
        self.check_mode = check_mode
        self._diff = diff

    @staticmethod
    def selinux_enabled():
        return False


class FakeGroups(ka.GroupMap):
    def __init__(self, members=None):
        super().__init__(getgrall=lambda: [])
        self._members = {name: set(gids) for name, gids in (members or {}).items()}
        self._names = {gid: "g%d" % gid for gids in (members or {}).values() for gid in gids}
        self._names.update({ALICE: "alice", BOB: "bob", CAROL: "carol", 777: "admins"})


@pytest.fixture
def tree():
    base = tempfile.mkdtemp(prefix="aka-", dir="/tmp")
    os.chmod(base, 0o755)
    os.makedirs(os.path.join(base, "home"), mode=0o755)
    yield base
    shutil.rmtree(base, ignore_errors=True)


def make_home(tree, name, uid, lines=None, mode=0o600, ssh_mode=0o700):
    home = os.path.join(tree, "home", name)
    os.makedirs(os.path.join(home, ".ssh"))
    os.chmod(home, 0o755)
    os.chmod(os.path.join(home, ".ssh"), ssh_mode)
    path = os.path.join(home, ".ssh", "authorized_keys")
    if lines is not None:
        with open(path, "wb") as handle:
            handle.write(lines if isinstance(lines, bytes) else ("\n".join(lines) + "\n").encode())
        os.chmod(path, mode)
    if ROOT:
        for p in (home, os.path.join(home, ".ssh")) + ((path,) if lines is not None else ()):
            os.lchown(p, uid, uid)
    return ka.Account(name, uid, uid, home), path


def audit(accounts, runtime=None, groups=None, **policy):
    auditor = ka.Auditor(ka.Policy(**policy), runtime=runtime or FakeRuntime(), groups=groups or FakeGroups())
    auditor.audit(accounts, auditor.configure(accounts))
    return auditor


def enforce(auditor, check_mode=False):
    enforcer = ka.Enforcer(FakeModule(check_mode=check_mode), auditor)
    enforcer.apply(ka.plan_enforce(auditor))
    auditor.walker.close()
    return enforcer


def kinds(auditor, user=None):
    return sorted((f["kind"], f.get("reason"), f["line"]) for f in auditor.findings if user is None or f["user"] == user)


def read_text(path):
    with open(path) as handle:
        return handle.read()


def sha(path):
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


# ------------------------------------------------------------------ symlink attacks


@needs_root
def test_authorized_keys_symlinked_to_a_secret_is_reported_not_read_not_written(tree):
    secret = os.path.join(tree, "shadow")
    with open(secret, "w") as handle:
        handle.write("root:$6$SECRETHASH:19000:0:99999:7:::\n" + ED + " planted\n")
    os.chmod(secret, 0o640)
    before = sha(secret)
    account, path = make_home(tree, "alice", ALICE)
    os.symlink(secret, path)
    os.lchown(path, ALICE, ALICE)
    auditor = audit([account], remove=list(ka.REMOVABLE), allowed_fingerprints=[])
    result = ka.build_result(auditor)
    found = [f for f in auditor.findings if f["kind"] == "symlink"]
    assert len(found) == 1 and found[0]["severity"] == "high" and found[0]["reason"] == "untrusted_link"
    assert found[0]["path"] == path and secret in found[0]["message"]
    text = json.dumps(result)
    assert "SECRETHASH" not in text and fp(ED) not in text
    enforcer = enforce(auditor)
    assert not enforcer.changed and not enforcer.errors
    assert sha(secret) == before and os.readlink(path) == secret
    assert stat.S_IMODE(os.stat(secret).st_mode) == 0o640


@needs_root
def test_ssh_directory_symlinked_elsewhere_is_not_followed(tree):
    elsewhere = os.path.join(tree, "etc")
    os.makedirs(elsewhere)
    with open(os.path.join(elsewhere, "authorized_keys"), "w") as handle:
        handle.write("garbage line\n" + ED + "\n")
    os.chmod(os.path.join(elsewhere, "authorized_keys"), 0o666)
    before = sha(os.path.join(elsewhere, "authorized_keys"))
    account, _path = make_home(tree, "eve", ALICE)
    shutil.rmtree(os.path.join(account.home, ".ssh"))
    os.symlink(elsewhere, os.path.join(account.home, ".ssh"))
    os.lchown(os.path.join(account.home, ".ssh"), ALICE, ALICE)
    auditor = audit([account], remove=list(ka.REMOVABLE))
    assert [f["kind"] for f in auditor.findings] == ["symlink"]  # once, though both key files sit behind it
    assert auditor.findings[0]["path"] == os.path.join(account.home, ".ssh")
    assert ka.build_result(auditor)["users"]["eve"]["keys"] == []
    enforcer = enforce(auditor)
    assert not enforcer.changed
    assert sha(os.path.join(elsewhere, "authorized_keys")) == before
    assert stat.S_IMODE(os.stat(os.path.join(elsewhere, "authorized_keys")).st_mode) == 0o666


def test_root_owned_system_link_is_low_severity(tree):
    real = os.path.join(tree, "realhomes")
    os.makedirs(os.path.join(real, "svc", ".ssh"))
    os.symlink(real, os.path.join(tree, "homes"))
    account = ka.Account("svc", os.geteuid(), os.getegid(), os.path.join(tree, "homes", "svc"))
    auditor = audit([account])
    (finding,) = auditor.findings
    expected = ("low", "system_link") if ROOT else ("high", "untrusted_link")
    assert (finding["severity"], finding["reason"]) == expected


# ------------------------------------------------------------------ hostile files


@needs_root
def test_fifo_is_reported_and_never_blocks(tree):
    account, path = make_home(tree, "alice", ALICE)
    os.mkfifo(path)
    os.lchown(path, ALICE, ALICE)
    signal.alarm(20)
    try:
        auditor = audit([account])
    finally:
        signal.alarm(0)
    assert kinds(auditor) == [("not_regular_file", None, None)]
    assert "FIFO" in auditor.findings[0]["message"]


@needs_root
def test_huge_sparse_file_is_not_read(tree):
    account, path = make_home(tree, "alice", ALICE, [ED])
    with open(path, "r+b") as handle:
        handle.truncate(10 << 30)
    started = time.monotonic()
    auditor = audit([account], max_file_size=1 << 20)
    assert time.monotonic() - started < 5
    assert kinds(auditor) == [("oversized_file", None, None)]
    plans = ka.plan_enforce(auditor)
    assert plans == []


@needs_root
def test_millions_of_lines_are_refused_cheaply(tree):
    account, _path = make_home(tree, "alice", ALICE, b"\n" * 3000000 + (ED + "\n").encode())
    started = time.monotonic()
    auditor = audit([account])
    assert time.monotonic() - started < 5
    assert [(f["kind"], f.get("reason")) for f in auditor.findings] == [("oversized_file", "too_many_lines")]


def test_split_key_search_is_bounded():
    piece = b"A" * 8000
    data = b"\n".join([b"ssh-rsa " + piece] + [piece] * 60) * 40 + b"\n"
    started = time.monotonic()
    lines = ak.parse_file(data)
    assert time.monotonic() - started < 10
    assert all(line.kind == ak.INVALID for line in lines)


@needs_root
def test_binary_and_long_lines_are_findings_with_bounded_output(tree):
    lines = os.urandom(1 << 16) + b"\n" + ED.encode() + b"\n" + b"A" * 100000 + b"\n"
    account, _path = make_home(tree, "alice", ALICE, lines)
    auditor = audit([account])
    result = ka.build_result(auditor)
    assert result["users"]["alice"]["keys"][0]["fingerprint"] == fp(ED)
    assert len([f for f in auditor.findings if f["kind"] == "invalid"]) <= ka.MAX_FINDINGS_PER_FILE
    assert len(json.dumps(result)) < 200000


@needs_root
def test_hardlinked_file_is_reported_and_left_alone(tree):
    other = os.path.join(tree, "other")
    with open(other, "w") as handle:
        handle.write("not a key\n" + ED + "\n")
    os.chmod(other, 0o644)
    account, path = make_home(tree, "alice", ALICE)
    os.link(other, path)
    before = sha(other)
    auditor = audit([account])
    assert ("hardlink", None, None) in kinds(auditor)
    enforcer = enforce(auditor)
    assert not enforcer.changed and sha(other) == before and os.stat(path).st_nlink == 2


# ------------------------------------------------------------------ StrictModes and permissions


@needs_root
def test_strict_modes_file_dir_home_and_fixes(tree):
    account, path = make_home(tree, "alice", ALICE, [ED], mode=0o664)
    os.chmod(account.home, 0o777)
    os.lchown(os.path.join(account.home, ".ssh"), BOB, BOB)
    auditor = audit([account])
    strict = sorted(f["path"] for f in auditor.findings if f["kind"] == "strict_modes")
    assert strict == sorted([path, os.path.join(account.home, ".ssh"), account.home])
    entry = ka.build_result(auditor)["users"]["alice"]
    assert entry["files"][0]["used_by_sshd"] is False and entry["keys"][0]["usable"] is False
    enforcer = enforce(auditor)
    assert enforcer.changed and enforcer.permissions_fixed == 3
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    assert stat.S_IMODE(os.stat(account.home).st_mode) == 0o755
    assert os.stat(os.path.join(account.home, ".ssh")).st_uid == ALICE
    again = audit([account])
    assert kinds(again) == []
    assert not enforce(again).changed


@needs_root
def test_directory_outside_home_is_reported_not_fixed(tree):
    shared = os.path.join(tree, "keys")
    os.makedirs(shared)
    os.chmod(shared, 0o777)
    account, _path = make_home(tree, "alice", ALICE)
    keyfile = os.path.join(shared, "alice")
    with open(keyfile, "w") as handle:
        handle.write(ED + "\n")
    os.chmod(keyfile, 0o644)
    auditor = audit([account], runtime=FakeRuntime({"authorizedkeysfile": shared + "/%u"}))
    messages = [f["message"] for f in auditor.findings if f["kind"] == "strict_modes"]
    assert len(messages) == 2 and any("outside the home directory" in m for m in messages)  # tree/keys and /tmp
    enforcer = enforce(auditor)
    assert not enforcer.changed
    assert stat.S_IMODE(os.stat(shared).st_mode) == 0o777


class Entry:
    def __init__(self, **kw):
        self.__dict__.update(kw)


def debian_groups():
    groups = [Entry(gr_name="alice", gr_gid=ALICE, gr_mem=[]), Entry(gr_name="team", gr_gid=4300, gr_mem=["alice", "bob"])]
    groups.append(Entry(gr_name="solo", gr_gid=4301, gr_mem=["alice"]))
    users = [Entry(pw_name="alice", pw_uid=ALICE, pw_gid=ALICE), Entry(pw_name="bob", pw_uid=BOB, pw_gid=BOB)]
    return ka.GroupMap(getgrall=lambda: groups, getpwall=lambda: users)


@needs_root
@pytest.mark.parametrize(
    "rule,gid,flagged",
    [("debian", ALICE, False), ("debian", 4300, True), ("debian", 4301, False), ("debian", 4999, True), ("upstream", ALICE, True)],
)
def test_debian_accepts_a_group_writable_file_of_a_private_group(tree, rule, gid, flagged):
    account, path = make_home(tree, "alice", ALICE, [ED], mode=0o664)
    os.lchown(path, ALICE, gid)
    auditor = audit([account], groups=debian_groups(), strict_modes_rule=rule)
    assert (kinds(auditor) == [("strict_modes", None, None)]) is flagged
    if flagged:
        assert "group-writable" in auditor.findings[0]["message"]


@pytest.mark.parametrize(
    "text,binary,rule",
    [
        ("OpenSSH_10.0p2 Debian-7+deb13u4, OpenSSL 3.5.7", None, "debian"),
        ("OpenSSH_9.2, OpenSSL 3.0.20 7 Apr 2026", b"\0OpenSSH_9.2p1 Debian-2+deb12u10\0usage", "debian"),
        ("OpenSSH_9.6p1 Ubuntu-3ubuntu13.5, OpenSSL 3.0.13", None, "debian"),
        ("OpenSSH_9.8p1, OpenSSL 3.2.2", b"\0OpenSSH_9.8p1\0", "upstream"),
        ("OpenSSH_9.8p1, OpenSSL 3.2.2", None, "upstream"),
    ],
)
def test_detect_strict_rule(text, binary, rule):
    assert ka.detect_strict_rule(text, lambda: binary) == rule


def test_auto_rule_follows_the_sshd_build(tree):
    account = ka.Account("alice", ALICE, ALICE, os.path.join(tree, "none"))
    debian = ka.Auditor(ka.Policy(), runtime=FakeRuntime(), groups=FakeGroups())
    debian.configure([account])
    upstream_runtime = FakeRuntime()
    upstream_runtime.version_text = "OpenSSH_9.8p1, OpenSSL 3.2.2 4 Jun 2024"
    upstream_runtime.sshd = "/nonexistent/sshd"
    upstream = ka.Auditor(ka.Policy(), runtime=upstream_runtime, groups=FakeGroups())
    upstream.configure([account])
    assert (debian.strict_rule, upstream.strict_rule) == ("debian", "upstream")


@needs_root
def test_strict_modes_off_means_no_findings(tree):
    account, _path = make_home(tree, "alice", ALICE, [ED], mode=0o666)
    auditor = audit([account], runtime=FakeRuntime({"strictmodes": "no"}))
    assert kinds(auditor) == []


@needs_root
def test_file_the_user_cannot_read(tree):
    account, path = make_home(tree, "alice", ALICE, [ED], mode=0o600)
    os.lchown(path, 0, 0)
    auditor = audit([account])
    assert kinds(auditor) == [("unreadable_by_user", None, None)]
    assert ka.build_result(auditor)["users"]["alice"]["keys"][0]["usable"] is False


# ------------------------------------------------------------------ line findings and enforce


def mixed_lines():
    return [
        "# team keys",
        ED + " alice@laptop",
        RSA2048 + " old-laptop",
        DSA,
        'expiry-time="20200101" ' + ECDSA,
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI broken",
        "",
        ED + " again",
        RSA4096 + " good-rsa",
    ]


@needs_root
def test_line_findings(tree):
    account, _path = make_home(tree, "alice", ALICE, mixed_lines())
    auditor = audit([account])
    assert kinds(auditor) == [
        ("duplicate", "same_user", 8),
        ("expired", "expiry_time", 5),
        ("invalid", "bad_base64", 6),
        ("refused_by_server", "algorithm", 4),
        ("weak", "dsa", 4),
        ("weak", "rsa_bits", 3),
    ]
    for finding in auditor.findings:
        assert set(finding) >= {"severity", "kind", "user", "file", "line", "fingerprint", "message"}
    keys = ka.build_result(auditor)["users"]["alice"]["keys"]
    assert [(k["line"], k["usable"]) for k in keys] == [(2, True), (3, True), (4, False), (5, False), (8, True), (9, True)]


@needs_root
@pytest.mark.parametrize(
    "remove,kept",
    [
        (["invalid", "expired"], [1, 2, 3, 4, 7, 8, 9]),
        (["weak"], [1, 2, 5, 6, 7, 8, 9]),
        (["duplicate"], [1, 2, 3, 4, 5, 6, 7, 9]),
        (list(ka.REMOVABLE), [1, 2, 7, 9]),
    ],
)
def test_enforce_removes_exactly_the_chosen_lines(tree, remove, kept):
    lines = mixed_lines()
    account, path = make_home(tree, "alice", ALICE, lines, mode=0o640)
    auditor = audit([account], remove=remove)
    check = enforce(auditor, check_mode=True)
    assert check.changed and read_text(path) == "\n".join(lines) + "\n"
    auditor = audit([account], remove=remove)
    enforcer = enforce(auditor)
    assert enforcer.changed and enforcer.files == [path]
    assert read_text(path) == "".join(lines[n - 1] + "\n" for n in kept)
    st = os.stat(path)
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o640, ALICE, ALICE)
    second = enforce(audit([account], remove=remove))
    assert not second.changed


@needs_root
def test_diff_shows_fingerprints_not_key_data(tree):
    account, _path = make_home(tree, "alice", ALICE, mixed_lines())
    enforcer = enforce(audit([account], remove=list(ka.REMOVABLE)), check_mode=True)
    text = json.dumps(enforcer.diffs)
    assert fp(DSA) in text and fp(ED) in text
    for line in mixed_lines():
        parts = line.split()
        for part in parts:
            if len(part) > 40:
                assert part not in text


@needs_root
def test_file_changed_during_the_run_is_left_alone(tree):
    account, path = make_home(tree, "alice", ALICE, mixed_lines())
    auditor = audit([account])
    with open(path, "a") as handle:
        handle.write(ECDSA + " added-meanwhile\n")
    enforcer = enforce(auditor)
    assert enforcer.errors and "changed while the audit ran" in enforcer.errors[0]
    assert "added-meanwhile" in read_text(path)


@needs_root
def test_allowlists_required_options_and_shared_keys(tree):
    alice, _path = make_home(tree, "alice", ALICE, [ED, 'from="10.0.0.0/8",restrict ' + RSA4096])
    bob, _path = make_home(tree, "bob", BOB, [ED])
    auditor = audit(
        [alice, bob],
        allowed_fingerprints=[fp(ED)],
        allowed_fingerprints_by_user={"alice": [fp(RSA4096)]},
        required_options_by_user={"alice": ["from", "no-pty"]},
    )
    assert kinds(auditor, "alice") == [("duplicate", "other_users", 1), ("missing_options", None, 1)]
    assert kinds(auditor, "bob") == [("duplicate", "other_users", 1)]
    auditor = audit([alice, bob], allowed_fingerprints=[fp(RSA4096)])
    assert ("unlisted", None, 1) in kinds(auditor, "alice") and ("unlisted", None, 1) in kinds(auditor, "bob")


@needs_root
def test_server_refusals(tree):
    account, _path = make_home(tree, "alice", ALICE, [ED, RSA2048, "cert-authority " + CA])
    runtime = FakeRuntime({"pubkeyacceptedalgorithms": "rsa-sha2-512", "requiredrsasize": "3072", "casignaturealgorithms": "rsa-sha2-512"})
    auditor = audit([account], runtime=runtime, min_rsa_bits=1024)
    assert kinds(auditor) == [
        ("refused_by_server", "algorithm", 1),
        ("refused_by_server", "ca_algorithm", 3),
        ("refused_by_server", "required_rsa_size", 2),
    ]


@needs_root
def test_authorized_keys_command_and_disabled_pubkey_are_noted(tree):
    account, _path = make_home(tree, "alice", ALICE, [ED])
    runtime = FakeRuntime({"authorizedkeyscommand": "/usr/bin/fetch-keys %u", "authorizedkeyscommanduser": "nobody", "pubkeyauthentication": "no"})
    result = ka.build_result(audit([account], runtime=runtime))
    by_kind = {f["kind"]: f for f in result["findings"]}
    assert "/usr/bin/fetch-keys %u" in by_kind["authorized_keys_command"]["message"]
    assert by_kind["pubkey_disabled"]["users"] == ["alice"]
    assert result["users"]["alice"]["keys"][0]["usable"] is False


# ------------------------------------------------------------------ paths and the sshd configuration


def test_expand_tokens():
    account = ka.Account("alice", 1001, 1001, "/home/alice")
    assert ka.expand_tokens(".ssh/authorized_keys", account) == "/home/alice/.ssh/authorized_keys"
    assert ka.expand_tokens("/etc/ssh/keys/%u.%U", account) == "/etc/ssh/keys/alice.1001"
    assert ka.expand_tokens("%h/k%%", account) == "/home/alice/k%"
    with pytest.raises(ka.AuditError, match="unknown token %x"):
        ka.expand_tokens("%x", account)
    with pytest.raises(ka.AuditError, match="lone"):
        ka.expand_tokens("a%", account)
    root = ka.Account("root", 0, 0, "/")
    assert ka.normalize(ka.expand_tokens(".ssh/authorized_keys", root)) == "/.ssh/authorized_keys"
    assert ka.normalize("/home/alice/../bob//.ssh/./k") == "/home/bob/.ssh/k"


@needs_root
def test_tokens_and_glob_on_openssh_10(tree):
    account, _path = make_home(tree, "alice", ALICE)
    keydir = os.path.join(account.home, ".ssh", "authorized_keys.d")
    os.makedirs(keydir)
    for name, line in (("a.pub", ED), ("b.pub", ECDSA), (".hidden", RSA4096)):
        with open(os.path.join(keydir, name), "w") as handle:
            handle.write(line + "\n")
        os.chmod(os.path.join(keydir, name), 0o600)
        os.lchown(os.path.join(keydir, name), ALICE, ALICE)
    os.lchown(keydir, ALICE, ALICE)
    runtime = FakeRuntime({"authorizedkeysfile": ".ssh/authorized_keys.d/*.pub %h/.ssh/k_%u"}, version=(10, 0))
    result = ka.build_result(audit([account], runtime=runtime))
    files = [f["path"] for f in result["users"]["alice"]["files"]]
    assert files == [os.path.join(keydir, "a.pub"), os.path.join(keydir, "b.pub")]
    old = ka.build_result(audit([account], runtime=FakeRuntime({"authorizedkeysfile": ".ssh/authorized_keys.d/*.pub"})))
    assert "alice" not in old["users"]  # before 10.0 the * is a literal character: no such file


def test_scan_match_criteria(tree):
    main = os.path.join(tree, "sshd_config")
    drop = os.path.join(tree, "conf.d")
    os.makedirs(drop)
    with open(os.path.join(drop, "10-a.conf"), "w") as handle:
        handle.write('Match Group "admins,wheel"\n  PasswordAuthentication no\n')
    with open(main, "w") as handle:
        handle.write("Include %s/*.conf\nPort 22\n# Match User commented\nMatch User=alice,bob Address 10.0.0.0/8\n  X11Forwarding no\nMatch all\n" % drop)
    assert ka.scan_match_criteria(main) == [[("group", "admins,wheel")], [("user", "alice,bob"), ("address", "10.0.0.0/8")], [("all", None)]]
    with open(main, "a") as handle:
        handle.write("Match Exec /bin/true\n")
    assert ka.scan_match_criteria(main) is None
    os.symlink(main, os.path.join(tree, "link_config"))
    assert ka.scan_match_criteria(os.path.join(tree, "link_config")) is None


def test_grouped_evaluation_asks_sshd_once_per_distinguishable_group(tree):
    config = os.path.join(tree, "sshd_config")
    with open(config, "w") as handle:
        handle.write("Match User alice\n  StrictModes no\nMatch Group admins\n  PubkeyAuthentication no\n")
    accounts = [ka.Account(name, uid, uid, "/nonexistent/" + name) for name, uid in (("alice", ALICE), ("bob", BOB), ("carol", CAROL), ("dan", 4244))]
    groups = FakeGroups({"bob": [777], "dan": [777]})
    runtime = FakeRuntime(per_user={"alice": {"strictmodes": "no"}, "bob": {"pubkeyauthentication": "no"}, "dan": {"pubkeyauthentication": "no"}})
    auditor = ka.Auditor(ka.Policy(sshd_config=config), runtime=runtime, groups=groups)
    configs = auditor.configure(accounts)
    assert sorted(call["user"] for call in runtime.calls) == ["alice", "bob", "carol"]
    assert [configs[n].strict_modes for n in ("alice", "bob", "carol", "dan")] == [False, True, True, True]
    assert [configs[n].pubkey_authentication for n in ("alice", "bob", "carol", "dan")] == [True, False, True, False]
    per_user = ka.Auditor(ka.Policy(sshd_config=config, effective_config="per_user"), runtime=FakeRuntime(), groups=groups)
    per_user.configure(accounts)
    assert per_user.evaluations == 4


def test_no_user_match_blocks_means_one_evaluation(tree):
    config = os.path.join(tree, "sshd_config")
    with open(config, "w") as handle:
        handle.write("Match Address 10.0.0.0/8\n  PasswordAuthentication no\n")
    runtime = FakeRuntime()
    auditor = ka.Auditor(ka.Policy(sshd_config=config, connection={"addr": "10.1.1.1"}), runtime=runtime, groups=FakeGroups())
    auditor.configure([ka.Account("u%d" % i, 5000 + i, 5000 + i, "/nonexistent") for i in range(50)])
    assert len(runtime.calls) == 1 and runtime.calls[0] == {"user": "u0", "addr": "10.1.1.1"}


def test_policy_validation():
    with pytest.raises(ka.AuditError, match="SHA256 fingerprint"):
        ka.Policy(allowed_fingerprints=["MD5:aa:bb"])
    with pytest.raises(ka.AuditError, match="unknown option 'no-such'"):
        ka.Policy(required_options=["no-such"])
    with pytest.raises(ka.AuditError, match="connection"):
        ka.Policy(connection={"host": "a,b"})
    policy = ka.Policy(allowed_fingerprints_by_user={"bob": [fp(ED)]})
    assert policy.allowed_for(ka.Account("alice", 1, 1, "/")) is None
    assert policy.allowed_for(ka.Account("bob", 1, 1, "/")) == {fp(ED)}


def test_load_accounts_from_passwd_and_names():
    accounts, missing = ka.load_accounts()
    assert "root" in [a.name for a in accounts]
    accounts, missing = ka.load_accounts(["root", "no-such-user-xyz", "root"])
    assert [a.name for a in accounts] == ["root"] and missing == ["no-such-user-xyz"]


def test_policy_from_module_params():
    policy = ka.policy_from_params(
        {
            "min_rsa_bits": 2048,
            "allowed_fingerprints": None,
            "allowed_fingerprints_by_user": {"alice": "%s, %s" % (fp(ED), fp(ECDSA)), "bob": [fp(RSA4096)]},
            "required_options": ["NO-PTY"],
            "required_options_by_user": {"deploy": ["from"]},
            "remove": ["weak"],
            "key_report": "fingerprints",
            "connection": {"host": "jump.example", "addr": None, "laddr": None, "lport": 22, "rdomain": None},
        }
    )
    assert policy.allowed_for(ka.Account("alice", 1, 1, "/")) == {fp(ED), fp(ECDSA)}
    assert policy.required_for(ka.Account("deploy", 1, 1, "/")) == ["no-pty", "from"]
    assert policy.remove == {"weak"} and policy.key_report == "fingerprints"
    assert policy.connection == {"host": "jump.example", "lport": 22}
    with pytest.raises(ka.AuditError, match="remove: unknown"):
        ka.policy_from_params({"remove": ["everything"]})


@needs_root
def test_fingerprints_and_none_reports(tree):
    account, _path = make_home(tree, "alice", ALICE, [ED, "garbage", RSA4096])
    result = ka.build_result(audit([account], key_report="fingerprints"))
    assert result["users"] == {"alice": {"keys": [fp(ED), fp(RSA4096)]}}
    assert result["summary"]["usable_keys"] == 2 and result["summary"]["by_kind"] == {"invalid": 1}
    assert ka.build_result(audit([account], key_report="none"))["users"] == {}


def test_render_never_shows_key_data():
    lines = ak.parse_file(("# c\n%s laptop\n\nno-pty %s\nssh-ed25519 AAAAbroken\n" % (ED, RSA4096)).encode())
    text = ka.render(lines, {5})
    assert text.splitlines() == [
        "1: # (comment)",
        "2: ssh-ed25519 256 %s fixture-ed25519 laptop" % fp(ED),
        "3: ",
        "4: no-pty ssh-rsa 4096 %s fixture-rsa-4096" % fp(RSA4096),
        "5: (invalid: bad_base64)",
    ]
    assert ED.split()[1] not in text
    long_text = ka.render(lines, {5}, limit=2)
    assert long_text.splitlines() == ["(5 lines; only the removed ones are shown)", "5: (invalid: bad_base64)"]


@needs_root
def test_parallel_audit_gives_the_same_result(tree):
    accounts = []
    for index in range(40):
        lines = [ED, "garbage %d" % index] if index % 3 else [RSA4096, 'expiry-time="20200101" ' + ECDSA, ED]
        account, _path = make_home(tree, "u%02d" % index, 5000 + index, lines, mode=0o644 if index % 7 else 0o666)
        accounts.append(account)
    sequential = ka.build_result(audit(accounts))
    auditor = ka.Auditor(ka.Policy(), runtime=FakeRuntime(), groups=FakeGroups())
    auditor.audit(accounts, auditor.configure(accounts), workers=3)
    parallel = ka.build_result(auditor)
    assert parallel == sequential
    assert sequential["summary"]["by_kind"]["duplicate"] == 40 + 14 + 14  # ED in all 40 accounts, RSA and ECDSA in every third
    assert not auditor.notes


def test_worker_count():
    assert ka.worker_count(range(10)) == 1
    assert 1 <= ka.worker_count(range(5000)) <= 4
