# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Property tests: the parser never crashes, whatever bytes it is given, and keeps its promises."""

from __future__ import annotations

import base64
import binascii
import os
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.fleetauth.ssh.plugins.module_utils import _authorized_keys as ak

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "authorized_keys")
with open(os.path.join(FIXTURES, "all_types.authorized_keys"), "rb") as _handle:
    REAL_LINES = [line for line in _handle.read().split(b"\n") if line]
REAL_BLOBS = [base64.b64decode(line.split()[1]) for line in REAL_LINES]
FINGERPRINT = re.compile(r"SHA256:[A-Za-z0-9+/]{43}")

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

fragments = st.sampled_from(
    [
        b" ",
        b"\t",
        b"\r",
        b"\0",
        b",",
        b'"',
        b'\\"',
        b"=",
        b"#",
        b"no-pty",
        b"restrict",
        b"cert-authority",
        b'command="',
        b'from="10.0.0.1,*.example"',
        b'expiry-time="20200101"',
        b'expiry-time="20991231Z"',
        b'principals="a,b"',
        b'environment="A=1"',
        b'permitopen="h:22"',
        b'tunnel="1"',
        b"ssh-rsa",
        b"ssh-ed25519",
        b"ecdsa-sha2-nistp256",
        b"sk-ssh-ed25519@openssh.com",
        b"ssh-ed25519-cert-v01@openssh.com",
        b"AAAA",
        b"-----BEGIN OPENSSH PRIVATE KEY-----",
        b"\xff\xfe",
        "\u00fc\U0001f511".encode(),
    ]
    + [line.split()[1] for line in REAL_LINES]
    + [line.split()[1][: len(line.split()[1]) // 2] for line in REAL_LINES]
    + REAL_LINES
)
structured_line = st.lists(fragments, max_size=8).map(b"".join)
structured_file = st.lists(structured_line, max_size=12).map(lambda lines: b"\n".join(lines) + b"\n")


def check_invariants(data, lines):
    assert [line.number for line in lines] == list(range(1, len(lines) + 1))
    assert ak.rebuild(data, lines, set()) == data
    assert ak.rebuild(data, lines, {line.number for line in lines}) == b""
    for line in lines:
        assert line.kind in (ak.BLANK, ak.COMMENT, ak.KEY, ak.INVALID)
        if line.kind == ak.KEY:
            assert line.readable and FINGERPRINT.fullmatch(line.key.fingerprint)
            assert line.key.bits > 0
        if line.kind == ak.INVALID:
            assert line.reason and line.message
        if line.comment is not None:
            assert isinstance(line.comment, str) and "\x00" not in line.comment and "\x1b" not in line.comment
    # the output never carries base64 key data beyond what fingerprints are made of
    for line in lines:
        if line.kind == ak.INVALID:
            for token in re.findall(rb"[A-Za-z0-9+/]{24,}", line.raw):
                assert token.decode() not in line.message


@SETTINGS
@given(st.binary(max_size=4096))
def test_parse_file_never_crashes_on_arbitrary_bytes(data):
    lines = ak.parse_file(data)
    check_invariants(data, lines)


@SETTINGS
@given(structured_file)
def test_parse_file_never_crashes_on_near_miss_lines(data):
    lines = ak.parse_file(data)
    check_invariants(data, lines)
    again = ak.parse_file(ak.rebuild(data, lines, {line.number for line in lines if line.kind == ak.INVALID}))
    assert [line.key.fingerprint for line in again if line.kind == ak.KEY] == [line.key.fingerprint for line in lines if line.kind == ak.KEY]


@SETTINGS
@given(st.binary(max_size=512), st.booleans())
def test_parse_options_only_raises_badoptions(data, utc):
    try:
        opts, end = ak.parse_options(data, 0, utc)
    except ak.BadOptions as exc:
        assert str(exc)
    else:
        assert 0 <= end <= len(data)
        assert len(opts.raw) == len(opts.names)


@SETTINGS
@given(st.binary(max_size=256))
def test_b64_decode_agrees_with_the_standard_library(token):
    try:
        value = ak.b64_decode(token)
    except ak.BadKey:
        return
    cleaned = re.sub(rb"[\t\n\v\f\r ]", b"", token)
    assert value == binascii.a2b_base64(cleaned)
    assert base64.b64encode(value) == cleaned


@SETTINGS
@given(st.sampled_from(REAL_BLOBS), st.lists(st.tuples(st.integers(min_value=0), st.integers(min_value=0, max_value=255)), max_size=4), st.integers(0, 8))
def test_parse_blob_on_damaged_real_keys(blob, edits, cut):
    damaged = bytearray(blob)
    for pos, value in edits:
        damaged[pos % len(damaged)] = value
    damaged = bytes(damaged[: len(damaged) - cut])
    try:
        info = ak.parse_blob(damaged)
    except ak.BadKey as exc:
        assert exc.reason and exc.message
    else:
        assert FINGERPRINT.fullmatch(info.fingerprint)


@SETTINGS
@given(st.binary(max_size=600))
def test_parse_blob_on_arbitrary_bytes(blob):
    try:
        info = ak.parse_blob(blob)
    except ak.BadKey as exc:
        assert exc.reason
    else:
        assert FINGERPRINT.fullmatch(info.fingerprint)


def reference_advance(s, pos):
    """sshkey_advance_past_options, character by character as the C code walks."""
    quoted = False
    n = len(s)
    while pos < n and (quoted or s[pos] not in (0x20, 0x09)):
        if s[pos] == 0x5C and pos + 1 < n and s[pos + 1] == 0x22:
            pos += 1
        elif s[pos] == 0x22:
            quoted = not quoted
        pos += 1
    return -1 if (pos >= n and quoted) else pos


def reference_dequote(s, pos):
    """opt_dequote, character by character."""
    if pos >= len(s) or s[pos] != 0x22:
        return None
    pos += 1
    out = bytearray()
    while pos < len(s) and s[pos] != 0x22:
        if s[pos] == 0x5C and pos + 1 < len(s) and s[pos + 1] == 0x22:
            pos += 1
        out.append(s[pos])
        pos += 1
    if pos >= len(s):
        return None
    return bytes(out), pos + 1


quoting = st.lists(st.sampled_from([b'"', b"\\", b" ", b"\t", b"a", b",", b"="]), max_size=40).map(b"".join)


@SETTINGS
@given(quoting, st.integers(0, 3))
def test_option_scanning_matches_the_c_walk(data, start):
    start = min(start, len(data))
    assert ak.advance_past_options(data, start) == reference_advance(data, start)
    try:
        mine = ak._dequote(data, start)  # pylint: disable=protected-access
    except ak.BadOptions:
        mine = None
    assert mine == reference_dequote(data, start)
