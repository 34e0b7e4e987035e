# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The authorized_keys parser against fixtures made (and fingerprinted) by the real ssh-keygen."""

from __future__ import annotations

import base64
import glob
import os
import re
import shutil
import struct
import subprocess
import time

import pytest

from ansible_collections.fleetauth.ssh.plugins.module_utils import _authorized_keys as ak

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "authorized_keys")
# fixtures with CR bytes are stored base64-encoded (NAME.b64): ansible-test refuses CRLF files
FIXTURE_NAMES = sorted(os.path.basename(p).replace(".b64", "") for p in glob.glob(os.path.join(FIXTURES, "*.authorized_keys*")) if not p.endswith(".lf"))
KEYGEN = shutil.which("ssh-keygen")
_LF = re.compile(r"^(\d+) (SHA256:[A-Za-z0-9+/]{43}) .* \(([A-Z0-9-]+)\)$", re.S)


def read(name):
    path = os.path.join(FIXTURES, name)
    if os.path.exists(path + ".b64"):
        with open(path + ".b64", "rb") as handle:
            return base64.decodebytes(handle.read())
    with open(path, "rb") as handle:
        return handle.read()


def keygen_lines(text):
    """(bits, fingerprint, TYPE) per line of ssh-keygen -l output."""
    out = []
    for line in text.split("\n"):
        if not line:
            continue
        match = _LF.match(line)
        assert match, line
        out.append((int(match.group(1)), match.group(2), match.group(3)))
    return out


def ours(data):
    return [(line.key.bits, line.key.fingerprint, line.key.keygen_type) for line in ak.parse_file(data) if line.readable]


def fixture_lines(name):
    return {line.number: line for line in ak.parse_file(read(name))}


def key_body(name, comment):
    for line in read(name).decode().splitlines():
        if line.endswith(" " + comment):
            return " ".join(line.split()[:2])
    raise AssertionError(comment)


# ------------------------------------------------------------------ the oracle


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_fingerprints_sizes_types_equal_stored_ssh_keygen_output(name):
    with open(os.path.join(FIXTURES, name + ".lf"), "rb") as handle:
        expected = keygen_lines(handle.read().decode("utf-8", "replace"))
    assert ours(read(name)) == expected


def test_fixture_set_covers_every_key_type():
    types = {line.key.keygen_type for line in ak.parse_file(read("all_types.authorized_keys")) if line.key}
    assert types == {
        "DSA",
        "RSA",
        "ECDSA",
        "ED25519",
        "ECDSA-SK",
        "ED25519-SK",
        "DSA-CERT",
        "RSA-CERT",
        "ECDSA-CERT",
        "ED25519-CERT",
        "ECDSA-SK-CERT",
        "ED25519-SK-CERT",
    }
    sizes = sorted(line.key.bits for line in ak.parse_file(read("all_types.authorized_keys")) if line.key and line.key.base == ak.RSA and not line.key.cert)
    assert {1024, 2048, 3072, 4096} <= set(sizes)


@pytest.mark.skipif(KEYGEN is None, reason="ssh-keygen not installed")
@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_live_ssh_keygen_agrees(name, tmp_path):
    """The same comparison against the ssh-keygen installed here (another OpenSSH version than the stored output, maybe)."""
    data = read(name)
    path = tmp_path / name
    path.write_bytes(data)
    result = subprocess.run([KEYGEN, "-lf", str(path)], capture_output=True, check=False)
    theirs = keygen_lines(result.stdout.decode("utf-8", "replace").replace("\r", ""))
    mine = ours(data)
    if not _keygen_knows_dsa():
        mine = [entry for entry in mine if not entry[2].startswith("DSA")]
    assert mine == theirs


def _keygen_knows_dsa():
    line = read("all_types.authorized_keys").decode().splitlines()
    dsa = [entry for entry in line if entry.startswith("ssh-dss ")]
    result = subprocess.run([KEYGEN, "-lf", "/dev/stdin"], input=(dsa[0] + "\n").encode(), capture_output=True, check=False)
    return b"SHA256:" in result.stdout


def _mutations(blob, rng):
    """Blobs near a valid one: bit flips, truncations, stretched or shrunk length fields, trailing bytes."""
    out = []
    for _index in range(12):
        flipped = bytearray(blob)
        pos = rng.randrange(len(flipped))
        flipped[pos] ^= 1 << rng.randrange(8)
        out.append(bytes(flipped))
    for cut in (1, 2, 7, len(blob) // 2):
        out.append(blob[:-cut])
    out.append(blob + b"\0")
    out.append(blob + b"extra")
    # length fields: the first three u32 prefixes, off by one either way
    pos = 0
    for _index in range(3):
        if pos + 4 > len(blob):
            break
        (length,) = struct.unpack(">I", blob[pos : pos + 4])
        for delta in (-1, 1):
            out.append(blob[:pos] + struct.pack(">I", max(0, length + delta)) + blob[pos + 4 :])
        pos += 4 + length
    # an RSA modulus with a superfluous leading zero (non-canonical, sshd strips it)
    if blob.startswith(b"\x00\x00\x00\x07ssh-rsa"):
        (elen,) = struct.unpack(">I", blob[11:15])
        npos = 15 + elen
        (nlen,) = struct.unpack(">I", blob[npos : npos + 4])
        out.append(blob[:npos] + struct.pack(">I", nlen + 1) + b"\0" + blob[npos + 4 :])
    return out


@pytest.mark.skipif(KEYGEN is None, reason="ssh-keygen not installed")
def test_differential_against_ssh_keygen_on_mutated_keys(tmp_path):
    """Hundreds of almost-valid keys: ssh-keygen and the parser must accept and fingerprint exactly the same ones."""
    import random

    rng = random.Random(20260411)
    lines = []
    for line in read("all_types.authorized_keys").decode().splitlines():
        kind, b64 = line.split()[:2]
        if "cert" in kind or kind == "ssh-dss":
            continue  # certificates need signature checks we do not do; DSA may be compiled out
        for mutated in _mutations(base64.b64decode(b64), rng):
            lines.append("%s %s mutated" % (kind, base64.b64encode(mutated).decode()))
        lines.append(line)
    path = tmp_path / "mutated"
    path.write_text("\n".join(lines) + "\n")
    result = subprocess.run([KEYGEN, "-lf", str(path)], capture_output=True, check=False)
    theirs = keygen_lines(result.stdout.decode())
    mine = ours(path.read_bytes())
    assert mine == theirs
    assert len(mine) > 20  # the unmutated keys and the harmless mutations (e.g. non-canonical bignums)


@pytest.mark.skipif(KEYGEN is None, reason="ssh-keygen not installed")
def test_fresh_keys_of_every_generatable_type(tmp_path):
    lines = []
    for args in (["-t", "ed25519"], ["-t", "ecdsa", "-b", "256"], ["-t", "ecdsa", "-b", "384"], ["-t", "ecdsa", "-b", "521"], ["-t", "rsa", "-b", "1024"]):
        key = tmp_path / ("k%d" % len(lines))
        subprocess.run([KEYGEN, "-q", "-N", "", "-C", "fresh", "-f", str(key), *args], check=True)
        lines.append((tmp_path / (key.name + ".pub")).read_text().strip())
    path = tmp_path / "fresh"
    path.write_text("\n".join(lines) + "\n")
    result = subprocess.run([KEYGEN, "-lf", str(path)], capture_output=True, check=True)
    assert ours(path.read_bytes()) == keygen_lines(result.stdout.decode())


# ------------------------------------------------------------------ what sshd makes of each line


def test_all_types_kinds():
    lines = fixture_lines("all_types.authorized_keys")
    by_comment = {line.comment: line for line in lines.values()}
    assert by_comment["fixture-ed25519"].kind == ak.KEY
    assert by_comment["fixture-sk-ed25519"].key.sk_application == "ssh:"
    assert by_comment["fixture-sk-ecdsa"].key.type_name == "sk-ecdsa-sha2-nistp256@openssh.com"
    assert by_comment["fixture-ecdsa-521"].key.bits == 521
    cert = by_comment["fixture-c-ed"]
    assert cert.kind == ak.INVALID and cert.reason == "certificate" and cert.readable
    info = cert.key.cert_info
    assert info["cert_type"] == "user" and info["key_id"] == "alice@fixture" and info["principals"] == ["alice", "deploy"]
    assert info["ca_fingerprint"] == by_comment["fixture-ca-ed25519"].key.fingerprint
    host = by_comment["fixture-c-ec"].key.cert_info
    assert host["cert_type"] == "host" and host["ca_type"] == "ecdsa-sha2-nistp384"
    assert by_comment["fixture-c-rsa"].key.cert_info["ca_type"] == "ssh-rsa"


@pytest.mark.parametrize(
    "number,kind,reason",
    [
        (1, ak.INVALID, "bad_base64"),
        (2, ak.INVALID, "bad_base64"),
        (3, ak.INVALID, "bad_blob"),
        (4, ak.INVALID, "type_mismatch"),
        (5, ak.INVALID, "type_mismatch"),
        (6, ak.KEY, None),
        (7, ak.INVALID, "bad_base64"),
        (8, ak.INVALID, "unknown_type"),
        (9, ak.INVALID, "no_key_data"),
        (10, ak.INVALID, "not_a_key"),
        (11, ak.INVALID, "private_key"),
        (12, ak.INVALID, "private_key"),
        (13, ak.INVALID, "private_key"),
        (14, ak.INVALID, "private_key"),
        (15, ak.KEY, None),
    ],
)
def test_bad_lines(number, kind, reason):
    line = fixture_lines("bad.authorized_keys")[number]
    assert (line.kind, line.reason) == (kind, reason)


def test_type_mismatch_names_both_types_and_the_real_key():
    lines = fixture_lines("bad.authorized_keys")
    assert "says ssh-rsa but the key data is ssh-ed25519" in lines[4].message
    assert lines[4].key.fingerprint == lines[15].key.fingerprint
    assert "nistp384" in lines[5].message and "nistp256" in lines[5].message
    assert lines[6].key.type_name == "ssh-rsa"  # rsa-sha2-512 alias: sshd reads it as an RSA key


def test_private_key_lines_never_keep_text():
    for line in ak.parse_file(read("bad.authorized_keys")):
        if line.reason == "private_key":
            assert line.severity == "high" and line.comment is None and line.key is None
            assert "b3BlbnNz" not in line.message


@pytest.mark.parametrize(
    "number,kind,reason,names",
    [
        (1, ak.KEY, None, ["command", "no-pty"]),
        (2, ak.KEY, None, ["from", "no-agent-forwarding", "no-x11-forwarding"]),
        (3, ak.KEY, None, ["restrict", "pty"]),
        (4, ak.KEY, None, ["no-pty", "no-port-forwarding"]),
        (5, ak.KEY, None, ["expiry-time"]),
        (6, ak.KEY, None, ["expiry-time"]),
        (7, ak.KEY, None, ["cert-authority", "principals"]),
        (8, ak.KEY, None, ["cert-authority"]),
        (9, ak.KEY, None, ["environment", "permitopen", "permitlisten", "tunnel"]),
        (10, ak.KEY, None, ["verify-required", "no-touch-required"]),
        (11, ak.INVALID, "bad_options", None),
        (12, ak.INVALID, "bad_options", None),
        (13, ak.INVALID, "principals_without_cert_authority", None),
        (14, ak.INVALID, "bad_options", None),
        (15, ak.INVALID, "bad_options", None),
        (16, ak.INVALID, "bad_options", None),
        (17, ak.INVALID, "bad_options", None),
        (18, ak.INVALID, "bad_options", None),
        (19, ak.KEY, None, ["no-pty"]),
        (20, ak.INVALID, "bad_options", None),
    ],
)
def test_options_fixture(number, kind, reason, names):
    line = fixture_lines("options.authorized_keys")[number]
    assert (line.kind, line.reason) == (kind, reason)
    if names is not None:
        assert line.options.names == names


def test_quoted_values_with_commas_and_escaped_quotes():
    line = fixture_lines("options.authorized_keys")[1]
    assert line.options.command == 'echo a,b "quoted" c'
    assert line.options.raw == ['command="echo a,b \\"quoted\\" c"', "no-pty"]
    assert line.comment == "quoted-commas"
    assert fixture_lines("options.authorized_keys")[2].options.from_ == "10.0.0.0/8,192.168.1.*"


def test_restrict_then_pty_reenables_only_pty():
    opts = fixture_lines("options.authorized_keys")[3].options
    assert opts.restrict and opts.permits["pty"]
    assert not opts.permits["port-forwarding"] and not opts.permits["agent-forwarding"]
    assert opts.satisfies("no-port-forwarding") and not opts.satisfies("no-pty") and opts.satisfies("restrict")


def test_expiry_times():
    lines = fixture_lines("options.authorized_keys")
    assert lines[5].options.expiry == int(time.mktime((2020, 1, 1, 0, 0, 0, 0, 0, -1)))
    assert lines[6].options.expiry_utc and lines[6].options.expiry == 4102444799


@pytest.mark.parametrize(
    "options,error",
    [
        ("no-such-option", "unknown key option"),
        ('command="a",command="b"', 'multiple "command" clauses'),
        ('from="a",from="b"', 'multiple "from" clauses'),
        ('principals="a",principals="b"', 'multiple "principals" clauses'),
        ("command=a", "missing start quote"),
        ('command="a', "missing end quote"),
        ('expiry-time="2020"', "invalid expires time"),
        ('expiry-time="20201301"', "invalid expires time"),
        ('expiry-time="1960010100"', "invalid expires time"),
        ('environment="NOEQUALS"', "invalid environment string"),
        ('environment="A B=1"', "invalid environment string"),
        ('permitopen="host"', "invalid permission port"),
        ('permitopen="host:0"', "invalid permission port"),
        ('permitopen="host:70000"', "invalid permission port"),
        ('permitopen="[::1:22"', "invalid permission hostname"),
        ('tunnel="-1"', "invalid tun device"),
        ("restricted", "unknown key option"),
        ("no-restrict", "unknown key option"),
    ],
)
def test_option_errors_quote_sshd(options, error):
    with pytest.raises(ak.BadOptions, match=re.escape(error)):
        ak.parse_options((options + " ssh-ed25519 AAAA").encode())


@pytest.mark.parametrize(
    "options,check",
    [
        (",no-pty", lambda o: not o.permits["pty"]),  # sshd skips an empty leading option
        ("NO-X11-FORWARDING", lambda o: not o.permits["x11-forwarding"]),
        ('permitlisten="8080"', lambda o: o.permitlisten == ["8080"]),
        ('permitopen="[::1]:22"', lambda o: o.permitopen == ["[::1]:22"]),
        ('permitopen="db/5432"', lambda o: o.permitopen == ["db/5432"]),
        ('permitopen="*:ssh"', lambda o: o.permitopen == ["*:ssh"]),
        ('tunnel="any"', lambda o: o.tunnel == "any"),
        ('expiry-time="202001010000Z"', lambda o: o.expiry == 1577836800 and o.expiry_utc),
        ('expiry-time="20200101UTC",expiry-time="20190101Z"', lambda o: o.expiry == 1546300800),
        ('command="has \\\\ backslash"', lambda o: o.command == "has \\\\ backslash"),
        ('command="spaces inside, \\"and\\" quotes"', lambda o: o.command == 'spaces inside, "and" quotes'),
    ],
)
def test_option_grammar(options, check):
    opts, _end = ak.parse_options((options + " ssh-ed25519 AAAA").encode())
    assert check(opts)


def test_options_ending_in_a_comma():
    with pytest.raises(ak.BadOptions, match="unexpected end-of-options"):
        ak.parse_options(b"no-pty,")
    opts, end = ak.parse_options(b"no-pty, ssh-ed25519 AAAA")  # a comma before the space is fine for sshd
    assert opts.names == ["no-pty"] and end == 7


def test_expiry_utc_suffix_refused_by_old_sshd():
    with pytest.raises(ak.BadOptions):
        ak.parse_options(b'expiry-time="20200101Z" x', utc_suffix_ok=False)


def test_expiry_time_is_local_time_without_suffix(monkeypatch):
    monkeypatch.setenv("TZ", "Pacific/Auckland")
    time.tzset()
    try:
        opts, _end = ak.parse_options(b'expiry-time="202001011200" x')
        assert opts.expiry == 1577833200  # 12:00 NZDT is 23:00 UTC the day before
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_unterminated_quote_swallows_the_key_as_sshd_does():
    line = fixture_lines("options.authorized_keys")[20]
    assert line.kind == ak.INVALID and not line.readable


def test_key_then_options_fallback_like_sshd():
    ed = key_body("all_types.authorized_keys", "fixture-ed25519")
    # the first token is a key type but not followed by a key: sshd then reads it as an options field
    line = ak.parse_file(("ssh-ed25519 " + ed + " c\n").encode())[0]
    assert line.readable and line.kind == ak.INVALID and line.reason == "bad_options"


# ------------------------------------------------------------------ hostile input


def test_split_keys_detected_with_the_joined_fingerprint():
    lines = fixture_lines("split.authorized_keys")
    rsa = [n for n, line in lines.items() if line.reason == "split_key" and line.key.base == ak.RSA]
    assert rsa == list(range(2, 14))
    assert {lines[n].end_line for n in rsa} == {13}
    assert lines[2].key.fingerprint == ak.parse_file(read("all_types.authorized_keys"))[17].key.fingerprint
    assert (lines[15].reason, lines[16].reason, lines[15].end_line) == ("split_key", "split_key", 16)
    assert (lines[18].reason, lines[19].reason) == ("split_key", "split_key")
    assert lines[20].kind == ak.KEY
    assert lines[22].reason == "continuation"


def test_split_key_pieces_are_not_readable_keys():
    assert not any(line.readable for line in ak.parse_file(read("split.authorized_keys")) if line.reason == "split_key")


def test_nul_bytes():
    lines = fixture_lines("nul_bytes.authorized_keys")
    assert lines[1].kind == ak.KEY and lines[1].reason == "nul_byte" and lines[1].comment == "nul-after-key"
    assert lines[2].kind == ak.INVALID and lines[2].reason == "nul_byte"
    assert lines[3].kind == ak.INVALID and lines[3].reason == "nul_byte"
    assert lines[4].kind == ak.KEY and lines[4].reason is None


def test_binary_garbage():
    lines = ak.parse_file(read("binary.authorized_keys"))
    assert lines and all(line.kind == ak.INVALID for line in lines)
    assert {line.reason for line in lines} <= {"binary", "nul_byte", "not_a_key", "bad_options"}
    assert any(line.reason == "binary" for line in lines)
    assert all(line.comment is None for line in lines)


def test_long_lines_are_not_parsed():
    lines = fixture_lines("long_line.authorized_keys")
    assert (lines[1].reason, lines[2].kind, lines[3].reason) == ("too_long", ak.KEY, "too_long")
    assert fixture_lines("long_line.authorized_keys")[1].key is None
    line = ak.parse_file(read("long_line.authorized_keys"), max_line_length=40000)[0]
    assert line.kind == ak.INVALID and line.reason == "unknown_blob_type"


def test_crlf_lines_are_valid_as_for_sshd():
    lines = fixture_lines("crlf.authorized_keys")
    assert [lines[n].kind for n in (1, 2, 3, 4, 5)] == [ak.KEY, ak.KEY, ak.COMMENT, ak.BLANK, ak.KEY]
    assert lines[1].comment == "crlf-with-comment" and lines[2].comment is None


def test_unicode_comments_kept_and_control_characters_escaped():
    lines = fixture_lines("unicode.authorized_keys")
    assert lines[1].comment.startswith("J\u00fcrgen M\u00fcller")
    assert "\U0001f511" in lines[2].comment
    assert "\x1b" not in lines[4].comment and "\\x1b[31m" in lines[4].comment


def test_no_trailing_newline_and_empty():
    assert [line.kind for line in ak.parse_file(read("no_trailing_newline.authorized_keys"))] == [ak.KEY]
    assert ak.parse_file(b"") == []


def test_line_numbers_match_the_file():
    data = read("crlf.authorized_keys")
    lines = ak.parse_file(data)
    assert [line.number for line in lines] == list(range(1, data.count(b"\n") + 1))


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_rebuild_keeps_bytes(name):
    data = read(name)
    lines = ak.parse_file(data)
    assert ak.rebuild(data, lines, set()) == data
    assert ak.rebuild(data, lines, {line.number for line in lines}) == b""
    invalid = {line.number for line in lines if line.kind == ak.INVALID}
    rebuilt = ak.rebuild(data, lines, invalid)
    again = ak.parse_file(rebuilt)
    assert [(line.key.fingerprint if line.key else None) for line in again if line.kind == ak.KEY] == [
        line.key.fingerprint for line in lines if line.kind == ak.KEY
    ]
    assert not any(line.kind == ak.INVALID for line in again)


def test_rebuild_dropping_the_last_line_of_a_file_without_final_newline():
    data = b"a\nb\nc"
    lines = ak.parse_file(data)
    assert ak.rebuild(data, lines, {3}) == b"a\nb\n"
    assert ak.rebuild(data, lines, {1}) == b"b\nc"


# ------------------------------------------------------------------ base64 as b64_pton


@pytest.mark.parametrize(
    "token,ok",
    [
        (b"AAAA", True),
        (b"AAA=", True),
        (b"AA==", True),
        (b"AB==", False),  # non-zero trailing bits
        (b"AAB=", False),
        (b"AAA", False),
        (b"A===", False),
        (b"AAAA=", False),
        (b"AA=A", False),
        (b"AA\r\nAA", True),  # whitespace is skipped anywhere
        (b"AA*A", False),
        (b"", True),
    ],
)
def test_b64(token, ok):
    if ok:
        assert ak.b64_decode(token) == base64.b64decode(token.replace(b"\r\n", b""))
    else:
        with pytest.raises(ak.BadKey):
            ak.b64_decode(token)


def test_blob_edge_cases():
    ed = base64.b64decode(key_body("all_types.authorized_keys", "fixture-ed25519").split()[1])
    with pytest.raises(ak.BadKey, match="trailing"):
        ak.parse_blob(ed + b"\0")
    with pytest.raises(ak.BadKey):
        ak.parse_blob(b"\x00\x00\x00\x0bssh-unknown")
    # a type name with a final NUL is read as the C string before it (as sshd does)
    name_nul = b"\x00\x00\x00\x0cssh-ed25519\x00" + ed[15:]
    assert ak.parse_blob(name_nul).fingerprint == ak.parse_blob(ed).fingerprint
    # a non-canonical RSA modulus (extra zero byte) fingerprints as the canonical one
    rsa = base64.b64decode(key_body("all_types.authorized_keys", "fixture-rsa-2048").split()[1])
    (elen,) = struct.unpack(">I", rsa[11:15])
    npos = 15 + elen
    (nlen,) = struct.unpack(">I", rsa[npos : npos + 4])
    padded = rsa[:npos] + struct.pack(">I", nlen + 1) + b"\0" + rsa[npos + 4 :]
    assert ak.parse_blob(padded).fingerprint == ak.parse_blob(rsa).fingerprint


def test_ecdsa_point_must_be_on_the_curve():
    blob = bytearray(base64.b64decode(key_body("all_types.authorized_keys", "fixture-ecdsa-256").split()[1]))
    blob[-1] ^= 1
    with pytest.raises(ak.BadKey, match="not on the"):
        ak.parse_blob(bytes(blob))


def test_rsa_under_1024_bits_is_not_a_key_for_openssh():
    n = (1 << 767) | 1
    blob = b"".join(struct.pack(">I", len(p)) + p for p in (b"ssh-rsa", b"\x01\x00\x01", b"\0" + n.to_bytes(96, "big")))
    with pytest.raises(ak.BadKey, match="under 1024"):
        ak.parse_blob(blob)


# ------------------------------------------------------------------ algorithms, StrictModes, permissions


BOOKWORM_ALGOS = (
    "ssh-ed25519-cert-v01@openssh.com,ecdsa-sha2-nistp256-cert-v01@openssh.com,rsa-sha2-512-cert-v01@openssh.com,"
    "rsa-sha2-256-cert-v01@openssh.com,ssh-ed25519,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,"
    "sk-ssh-ed25519@openssh.com,sk-ecdsa-sha2-nistp256@openssh.com,rsa-sha2-512,rsa-sha2-256"
)


@pytest.mark.parametrize(
    "name,algorithms,accepted",
    [
        ("ssh-rsa", BOOKWORM_ALGOS, True),  # via rsa-sha2-256/512 although ssh-rsa is not listed
        ("ssh-rsa", "ssh-ed25519", False),
        ("ssh-rsa", "rsa-sha2-512", True),
        ("ssh-dss", BOOKWORM_ALGOS, False),
        ("ssh-ed25519", BOOKWORM_ALGOS, True),
        ("sk-ecdsa-sha2-nistp256@openssh.com", "webauthn-sk-ecdsa-sha2-nistp256@openssh.com", True),
        ("sk-ssh-ed25519@openssh.com", "ssh-ed25519", False),
        ("ssh-rsa-cert-v01@openssh.com", "rsa-sha2-256-cert-v01@openssh.com", True),
        ("ssh-ed25519", "ssh-*", True),
        ("ssh-ed25519", "*,!ssh-ed25519", False),
        ("ssh-ed25519", "", False),
    ],
)
def test_algorithm_accepted(name, algorithms, accepted):
    assert ak.algorithm_accepted(name, algorithms) is accepted


@pytest.mark.parametrize(
    "mode,uid,user,is_file,problem",
    [
        (0o100600, 1000, 1000, True, None),
        (0o100644, 0, 1000, True, None),
        (0o100664, 1000, 1000, True, "group-writable"),
        (0o100646, 1000, 1000, True, "world-writable"),
        (0o100600, 1001, 1000, True, "owned by uid 1001"),
        (0o010600, 1000, 1000, True, "not a regular file"),
        (0o040755, 1000, 1000, False, None),
        (0o040775, 0, 1000, False, "group-writable"),
        (0o041777, 0, 1000, False, "group- and world-writable"),
    ],
)
def test_strict_modes_rule(mode, uid, user, is_file, problem):
    found = ak.strict_modes_problem(mode, uid, user, is_file)
    if problem is None:
        assert found is None
    else:
        assert problem in found


@pytest.mark.parametrize(
    "gid,owner,user,expected",
    [
        (10, 1000, 1000, True),  # alice's private group: she is its only (primary) member
        (20, 1000, 1000, False),  # bob has it as primary group too
        (30, 1000, 1000, True),  # no primary members, alice as the one supplementary member
        (40, 1000, 1000, False),  # two supplementary members
        (50, 1000, 1000, False),  # no members at all
        (99, 1000, 1000, False),  # no such group
        (10, 0, 1000, True),  # root-owned, alice's private group: the only member is still alice
    ],
)
def test_debian_private_group_rule(gid, owner, user, expected):
    group_members = {10: [], 20: [], 30: ["alice"], 40: ["alice", "bob"], 50: []}
    primary_members = {10: [1000], 20: [1000, 1001]}
    names = {0: "root", 1000: "alice", 1001: "bob"}
    assert ak.private_group(gid, owner, user, group_members, primary_members, names) is expected


def test_strict_modes_with_the_debian_rule():
    assert ak.strict_modes_problem(0o100664, 1000, 1000, True, group_ok=lambda: True) is None
    assert "group-writable" in ak.strict_modes_problem(0o100664, 1000, 1000, True, group_ok=lambda: False)
    assert "world-writable" in ak.strict_modes_problem(0o100666, 1000, 1000, True, group_ok=lambda: True)


def test_can_access():
    assert ak.can_access(0o100600, 0, 0, 1000, {1000}, 4) is False
    assert ak.can_access(0o100640, 0, 50, 1000, {1000, 50}, 4) is True
    assert ak.can_access(0o100604, 0, 50, 1000, {1000}, 4) is True
    assert ak.can_access(0o040700, 1000, 1000, 1000, {1000}, 1) is True
    assert ak.can_access(0o040700, 0, 0, 0, {0}, 1) is True


def test_match_pattern_list():
    assert ak.match_pattern_list("alice", "a*,!admin") == 1
    assert ak.match_pattern_list("admin", "a*,!admin") == -1
    assert ak.match_pattern_list("bob", "a?ice") == 0
    assert ak.match_pattern_list("a.b", "a?b") == 1
