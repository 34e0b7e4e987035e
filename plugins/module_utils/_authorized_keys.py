# -*- coding: utf-8 -*-
# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""authorized_keys as sshd reads it: pure parsing and checks, no I/O.

Everything here works on bytes handed in by the caller (``_key_audit`` does the
file system and sshd work), so it can be tested on fixture files alone.

What it mirrors from OpenSSH (checked against openssh-portable 8.4 to 10.x):

* a line is read up to ``\\n``; C string handling ends it at the first NUL;
  leading spaces/tabs are skipped; empty lines and ``#`` lines are comments;
* sshd first tries to read a key at the start of the line; when that fails it
  skips an options field (quote-aware, ``\\"`` escapes a quote), then reads the
  key; the options are then parsed with sshd's grammar (case-insensitive,
  ``no-`` negations, quoted values for ``command``/``from``/``principals``/
  ``expiry-time``/``environment``/``permitopen``/``permitlisten``/``tunnel``);
  any error makes sshd ignore the line;
* the key type names sshd knows (including the signature-only aliases
  ``rsa-sha2-256``/``rsa-sha2-512`` and ``webauthn-sk-ecdsa-…``), base64 as
  ``b64_pton`` decodes it (whitespace skipped, strict padding, zero trailing
  bits), the SSH wire format of every key type (RSA, DSA, ECDSA on the three
  NIST curves with an on-curve check, Ed25519, FIDO ``sk-`` keys, ML-DSA hybrid,
  and OpenSSH certificates), the blob type having to equal the declared type;
* fingerprints exactly as ``ssh-keygen -lf`` prints them: SHA256 over the
  canonical plain public key blob (a certificate's fingerprint is its key's),
  base64 without padding; sizes as ``sshkey_size`` reports them.

Not mirrored: certificate signatures are not verified (that needs the CA's
public-key arithmetic); a certificate line in authorized_keys is never usable
by sshd anyway and is reported as such.

Python 3.8+ standard library only: this runs on managed hosts.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import hashlib
import re
import stat
import struct
import time

# ------------------------------------------------------------------ limits (as OpenSSH has them)

MAX_BIGNUM_BYTES = 16384 // 8  # SSHBUF_MAX_BIGNUM
MAX_ECPOINT_BYTES = (528 * 2 // 8) + 1  # SSHBUF_MAX_ECPOINT
RSA_MIN_MODULUS_BITS = 1024  # SSH_RSA_MINIMUM_MODULUS_SIZE
CERT_MAX_PRINCIPALS = 256
AUTHOPT_PERMIT_MAX = 4096
AUTHOPT_ENV_MAX = 1024
TUNID_MAX = 0x7FFFFFFF - 2
NI_MAXHOST = 1025
ED25519_PK_BYTES = 32
MLDSA44_ED25519_PK_BYTES = 1312 + 32

DEFAULT_MAX_LINE_LENGTH = 16384

# ------------------------------------------------------------------ key types

# base families
RSA = "rsa"
DSA = "dsa"
ECDSA = "ecdsa"
ECDSA_SK = "ecdsa-sk"
ED25519 = "ed25519"
ED25519_SK = "ed25519-sk"
MLDSA = "mldsa44-ed25519"

# NIST curves: ssh curve name, field bytes, p, b (a = -3), ssh-keygen size
_CURVES = {
    256: (
        b"nistp256",
        32,
        0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF,
        0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B,
    ),
    384: (
        b"nistp384",
        48,
        0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFFFF0000000000000000FFFFFFFF,
        0xB3312FA7E23EE7E4988E056BE3F82D19181D9C6EFE8141120314088F5013875AC656398D8A2ED19D2A85C8EDD3EC2AEF,
    ),
    521: (
        b"nistp521",
        66,
        (1 << 521) - 1,
        0x0051953EB9618E1C9A1F929A21A0B68540EEA2DA725B99B315F3B8B489918EF109E156193951EC7E937B1652C0BD3BB1BF073573DF883D2C34F1EF451FD46B503F00,
    ),
}


class KeyType:
    """One key type name sshd knows: family, certificate or not, ECDSA curve."""

    __slots__ = ("base", "cert", "name", "nid", "plain")

    def __init__(self, name, base, cert, nid, plain):
        self.name = name
        self.base = base
        self.cert = cert
        self.nid = nid
        self.plain = plain  # canonical plain name (what the fingerprint blob starts with)

    @property
    def ident(self):
        return (self.base, self.cert, self.nid)


_PLAIN_NAMES = {
    (RSA, None): "ssh-rsa",
    (DSA, None): "ssh-dss",
    (ECDSA, 256): "ecdsa-sha2-nistp256",
    (ECDSA, 384): "ecdsa-sha2-nistp384",
    (ECDSA, 521): "ecdsa-sha2-nistp521",
    (ECDSA_SK, 256): "sk-ecdsa-sha2-nistp256@openssh.com",
    (ED25519, None): "ssh-ed25519",
    (ED25519_SK, None): "sk-ssh-ed25519@openssh.com",
    (MLDSA, None): "ssh-mldsa44-ed25519@openssh.com",
}

_TYPE_TABLE = [
    # name, base, cert, nid
    ("ssh-rsa", RSA, False, None),
    ("rsa-sha2-256", RSA, False, None),  # signature-only alias sshd still reads as RSA
    ("rsa-sha2-512", RSA, False, None),
    ("ssh-dss", DSA, False, None),
    ("ecdsa-sha2-nistp256", ECDSA, False, 256),
    ("ecdsa-sha2-nistp384", ECDSA, False, 384),
    ("ecdsa-sha2-nistp521", ECDSA, False, 521),
    ("sk-ecdsa-sha2-nistp256@openssh.com", ECDSA_SK, False, 256),
    ("webauthn-sk-ecdsa-sha2-nistp256@openssh.com", ECDSA_SK, False, 256),
    ("ssh-ed25519", ED25519, False, None),
    ("sk-ssh-ed25519@openssh.com", ED25519_SK, False, None),
    ("ssh-mldsa44-ed25519@openssh.com", MLDSA, False, None),
    ("ssh-rsa-cert-v01@openssh.com", RSA, True, None),
    ("rsa-sha2-256-cert-v01@openssh.com", RSA, True, None),
    ("rsa-sha2-512-cert-v01@openssh.com", RSA, True, None),
    ("ssh-dss-cert-v01@openssh.com", DSA, True, None),
    ("ecdsa-sha2-nistp256-cert-v01@openssh.com", ECDSA, True, 256),
    ("ecdsa-sha2-nistp384-cert-v01@openssh.com", ECDSA, True, 384),
    ("ecdsa-sha2-nistp521-cert-v01@openssh.com", ECDSA, True, 521),
    ("sk-ecdsa-sha2-nistp256-cert-v01@openssh.com", ECDSA_SK, True, 256),
    ("webauthn-sk-ecdsa-sha2-nistp256-cert-v01@openssh.com", ECDSA_SK, True, 256),
    ("ssh-ed25519-cert-v01@openssh.com", ED25519, True, None),
    ("sk-ssh-ed25519-cert-v01@openssh.com", ED25519_SK, True, None),
    ("ssh-mldsa44-ed25519-cert-v01@openssh.com", MLDSA, True, None),
]

KEY_TYPES = {}
for _name, _base, _cert, _nid in _TYPE_TABLE:
    KEY_TYPES[_name.encode("ascii")] = KeyType(_name, _base, _cert, _nid, _PLAIN_NAMES[(_base, _nid)])
del _name, _base, _cert, _nid

# canonical names as sshd prints/negotiates them (first table entry of each kind)
CANONICAL_NAME = {}
for _kt in KEY_TYPES.values():
    CANONICAL_NAME.setdefault(_kt.ident, _kt.name)
del _kt

# what ssh-keygen prints in parentheses
_SHORT = {RSA: "RSA", DSA: "DSA", ECDSA: "ECDSA", ECDSA_SK: "ECDSA-SK", ED25519: "ED25519", ED25519_SK: "ED25519-SK", MLDSA: "MLDSA44-ED25519"}


def keygen_type(base, cert):
    """The type label ``ssh-keygen -l`` prints, e.g. ``ED25519-SK`` or ``RSA-CERT``."""
    return _SHORT[base] + ("-CERT" if cert else "")


# ------------------------------------------------------------------ errors


class BadKey(Exception):
    """A key blob or key field sshd would not load; ``reason`` is a short code."""

    def __init__(self, reason, message):
        super().__init__(message)
        self.reason = reason
        self.message = message


class BadOptions(Exception):
    """An options field sshd's parser refuses (the message is sshd's own wording)."""


# ------------------------------------------------------------------ base64 as b64_pton


_B64_STRICT = re.compile(rb"[A-Za-z0-9+/]*(?:={0,2})")
_B64_LOOSE_WS = re.compile(rb"[\t\n\v\f\r ]")
_B64_VALUE = {c: i for i, c in enumerate(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")}


def b64_decode(token):
    """Decode *token* the way OpenSSH's ``b64_pton`` does; raise BadKey on anything it refuses."""
    if _B64_LOOSE_WS.search(token):
        token = _B64_LOOSE_WS.sub(b"", token)
    if not _B64_STRICT.fullmatch(token):
        raise BadKey("bad_base64", "the key data is not valid base64 (a character outside the base64 alphabet)")
    pads = len(token) - len(token.rstrip(b"="))
    data_len = len(token) - pads
    rem = data_len % 4
    if pads:
        if rem not in (2, 3) or (rem == 2 and pads != 2) or (rem == 3 and pads != 1):
            raise BadKey("bad_base64", "the key data is not valid base64 (wrong padding)")
        last = _B64_VALUE[token[data_len - 1]]
        if (rem == 2 and last & 0x0F) or (rem == 3 and last & 0x03):
            raise BadKey("bad_base64", "the key data is not valid base64 (non-zero bits after the last byte)")
    elif rem:
        raise BadKey("bad_base64", "the key data is not valid base64 (its length is not a multiple of 4; truncated?)")
    try:
        return binascii.a2b_base64(token)
    except (binascii.Error, ValueError):  # pragma: no cover - the checks above cover what a2b refuses
        raise BadKey("bad_base64", "the key data is not valid base64") from None


# ------------------------------------------------------------------ SSH wire format


def _u32(buf, pos):
    end = pos + 4
    if end > len(buf):
        raise BadKey("bad_blob", "the key blob is truncated")
    return int.from_bytes(buf[pos:end], "big"), end


def _u64(buf, pos):
    end = pos + 8
    if end > len(buf):
        raise BadKey("bad_blob", "the key blob is truncated")
    return int.from_bytes(buf[pos:end], "big"), end


def _string(buf, pos):
    length, pos = _u32(buf, pos)
    end = pos + length
    if end > len(buf):
        raise BadKey("bad_blob", "the key blob is truncated")
    return buf[pos:end], end


def _cstring(buf, pos):
    value, pos = _string(buf, pos)
    nul = value.find(b"\0")
    if nul != -1:
        if nul < len(value) - 1:
            raise BadKey("bad_blob", "the key blob has a NUL byte inside a text field")
        value = value[:-1]
    return value, pos


def _bignum(buf, pos):
    value, pos = _string(buf, pos)
    if value and value[0] & 0x80:
        raise BadKey("bad_blob", "the key blob has a negative number")
    if len(value) > MAX_BIGNUM_BYTES + 1 or (len(value) == MAX_BIGNUM_BYTES + 1 and value[0] != 0):
        raise BadKey("bad_blob", "the key blob has a number over 16384 bits")
    if value[:1] == b"\0":
        value = value.lstrip(b"\0")
    return value, pos


def _put_string(value):
    return len(value).to_bytes(4, "big") + value


def _put_bignum(value):
    # value has no leading zero bytes; prepend one when the top bit is set
    if value and value[0] & 0x80:
        value = b"\0" + value
    return len(value).to_bytes(4, "big") + value


def _bits(value):
    return (len(value) - 1) * 8 + value[0].bit_length() if value else 0


class KeyInfo:
    """A public key as sshd loaded it (never holds more than public data)."""

    # rarely set: class-level defaults keep the constructor cheap (50,000 keys a run)
    sk_application = None
    cert_info = None

    def __init__(self, base=None, cert=False, nid=None, bits=0, type_name=None, fingerprint=None):
        self.base = base
        self.cert = cert
        self.nid = nid
        self.bits = bits
        self.type_name = type_name  # canonical sshd name of the key (certificate name for certificates)
        self.fingerprint = fingerprint

    @property
    def keygen_type(self):
        return keygen_type(self.base, self.cert)

    def describe(self):
        return "%s %s" % (self.type_name, self.fingerprint)


def fingerprint_sha256(blob):
    """``SHA256:…`` of a canonical public key blob, as ssh-keygen prints it."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode("ascii").rstrip("=")


def _ec_point(buf, pos, nid):
    curve_name, field, p, b = _CURVES[nid]
    point, pos = _string(buf, pos)
    if not point or len(point) > MAX_ECPOINT_BYTES:
        raise BadKey("bad_blob", "the ECDSA public point has a bad length")
    if point[0] != 4:
        raise BadKey("bad_blob", "the ECDSA public point is not in uncompressed form")
    if len(point) != 1 + 2 * field:
        raise BadKey("bad_blob", "the ECDSA public point has the wrong length for %s" % curve_name.decode())
    x = int.from_bytes(point[1 : 1 + field], "big")
    y = int.from_bytes(point[1 + field :], "big")
    if x >= p or y >= p or (y * y - (x * x * x - 3 * x + b)) % p:
        raise BadKey("bad_blob", "the ECDSA public point is not on the %s curve" % curve_name.decode())
    return point, pos


def _plain_fields(buf, pos, base, nid, type_name):
    """Parse the public fields of *base*; return (canonical plain blob, bits, sk application, pos)."""
    plain_name = _PLAIN_NAMES[(base, nid)].encode("ascii")
    sk_app = None
    if base == RSA:
        e, pos = _bignum(buf, pos)
        n, pos = _bignum(buf, pos)
        bits = _bits(n)
        if bits < RSA_MIN_MODULUS_BITS:
            raise BadKey("rsa_too_small", "the RSA key has %d bits; OpenSSH refuses RSA keys under %d bits" % (bits, RSA_MIN_MODULUS_BITS))
        canon = _put_string(plain_name) + _put_bignum(e) + _put_bignum(n)
    elif base == DSA:
        parts = []
        for _i in range(4):
            value, pos = _bignum(buf, pos)
            parts.append(value)
        bits = _bits(parts[0])
        canon = _put_string(plain_name) + b"".join(_put_bignum(v) for v in parts)
    elif base in (ECDSA, ECDSA_SK):
        curve, pos = _cstring(buf, pos)
        if curve != _CURVES[nid][0]:
            raise BadKey("curve_mismatch", "the ECDSA key names curve %r but its type is %s" % (_printable(curve, 20), type_name))
        point, pos = _ec_point(buf, pos, nid)
        bits = nid
        canon = _put_string(plain_name) + _put_string(curve) + _put_string(point)
    elif base in (ED25519, ED25519_SK):
        pk, pos = _string(buf, pos)
        if len(pk) != ED25519_PK_BYTES:
            raise BadKey("bad_blob", "the Ed25519 public key is %d bytes instead of 32" % len(pk))
        bits = 256
        canon = _put_string(plain_name) + _put_string(pk)
    else:  # MLDSA
        pk, pos = _string(buf, pos)
        if len(pk) != MLDSA44_ED25519_PK_BYTES:
            raise BadKey("bad_blob", "the ML-DSA-44/Ed25519 public key has the wrong length")
        bits = 256
        canon = _put_string(plain_name) + _put_string(pk)
    if base in (ECDSA_SK, ED25519_SK):
        sk_app, pos = _cstring(buf, pos)
        canon += _put_string(sk_app)
    return canon, bits, sk_app, pos


def parse_blob(blob, allow_cert=True):
    """Parse a public key blob the way ``sshkey_fromb`` does; return :class:`KeyInfo` or raise BadKey."""
    name, pos = _cstring(blob, 0)
    kt = KEY_TYPES.get(name)
    if kt is None:
        raise BadKey("unknown_blob_type", "the key blob is of an unknown type")
    if kt.cert and not allow_cert:
        raise BadKey("bad_blob", "a certificate cannot sign a certificate")
    info = KeyInfo(kt.base, kt.cert, kt.nid, 0, CANONICAL_NAME[kt.ident])
    if kt.cert:
        _nonce, pos = _string(blob, pos)
    canon, info.bits, sk_app, pos = _plain_fields(blob, pos, kt.base, kt.nid, kt.name)
    if sk_app is not None:
        info.sk_application = sk_app.decode("utf-8", "replace")
    if kt.cert:
        info.cert_info, pos = _cert_fields(blob, pos)
    if pos != len(blob):
        raise BadKey("bad_blob", "the key blob has trailing data")
    info.fingerprint = fingerprint_sha256(canon)
    return info


_U32 = struct.Struct(">I")
_RSA_PREFIX = _put_string(b"ssh-rsa")
_ED25519_PREFIX = _put_string(b"ssh-ed25519") + (32).to_bytes(4, "big")
_EC_FAST = {
    nid: (_put_string(b"ecdsa-sha2-" + curve[0]) + _put_string(curve[0]) + (1 + 2 * curve[1]).to_bytes(4, "big"), curve[1], curve[2], curve[3])
    for nid, curve in _CURVES.items()
}


def _fast_key(kt, blob):
    """KeyInfo for a canonical RSA/ECDSA/Ed25519 *blob*; None means "take the careful path"."""
    base = kt.base
    size = len(blob)
    if base == ED25519:
        if size != 51 or not blob.startswith(_ED25519_PREFIX):
            return None
        bits = 256
    elif base == RSA:
        if size < 17 or not blob.startswith(_RSA_PREFIX):
            return None
        elen = _U32.unpack_from(blob, 11)[0]
        npos = 15 + elen
        if npos + 6 > size:
            return None
        nlen = _U32.unpack_from(blob, npos)[0]
        if npos + 4 + nlen != size or elen < 1 or nlen < 2 or nlen > MAX_BIGNUM_BYTES + 1:
            return None
        e0 = blob[15]
        n0 = blob[npos + 4]
        n1 = blob[npos + 5]
        if e0 & 0x80 or (e0 == 0 and (elen == 1 or blob[16] < 0x80)) or n0 & 0x80 or (n0 == 0 and n1 < 0x80):
            return None
        bits = (nlen - 1) * 8 + n0.bit_length() if n0 else (nlen - 2) * 8 + n1.bit_length()
        if bits < RSA_MIN_MODULUS_BITS:
            return None
    elif base == ECDSA:
        nid = kt.nid
        prefix, field, p, b = _EC_FAST[nid]
        start = len(prefix)
        if size != start + 1 + 2 * field or not blob.startswith(prefix) or blob[start] != 4:
            return None
        x = int.from_bytes(blob[start + 1 : start + 1 + field], "big")
        y = int.from_bytes(blob[start + 1 + field :], "big")
        if x >= p or y >= p or (y * y - x * (x * x - 3) - b) % p:
            return None
        bits = nid
    else:
        return None
    return KeyInfo(base, False, kt.nid, bits, kt.plain, "SHA256:" + binascii.b2a_base64(hashlib.sha256(blob).digest())[:43].decode("ascii"))


def _cert_fields(blob, pos):
    serial, pos = _u64(blob, pos)
    ctype, pos = _u32(blob, pos)
    key_id, pos = _cstring(blob, pos)
    principals_buf, pos = _string(blob, pos)
    valid_after, pos = _u64(blob, pos)
    valid_before, pos = _u64(blob, pos)
    critical, pos = _string(blob, pos)
    extensions, pos = _string(blob, pos)
    _reserved, pos = _string(blob, pos)
    ca_blob, pos = _string(blob, pos)
    _signature, pos = _string(blob, pos)
    if ctype not in (1, 2):
        raise BadKey("bad_certificate", "the certificate type %d is neither user (1) nor host (2)" % ctype)
    principals = []
    ppos = 0
    while ppos < len(principals_buf):
        if len(principals) >= CERT_MAX_PRINCIPALS:
            raise BadKey("bad_certificate", "the certificate lists more than %d principals" % CERT_MAX_PRINCIPALS)
        principal, ppos = _cstring(principals_buf, ppos)
        principals.append(_printable(principal, 128))
    names = {}
    for label, section in (("critical_options", critical), ("extensions", extensions)):
        spos = 0
        found = []
        while spos < len(section):
            key, spos = _string(section, spos)
            _value, spos = _string(section, spos)
            found.append(_printable(key, 64))
        names[label] = found
    try:
        ca = parse_blob(ca_blob, allow_cert=False)
    except BadKey as exc:
        raise BadKey("bad_certificate", "the certificate's CA key is invalid: %s" % exc.message) from None
    info = {
        "cert_type": "user" if ctype == 1 else "host",
        "key_id": _printable(key_id, 256),
        "serial": serial,
        "principals": principals,
        "valid_after": valid_after,
        "valid_before": valid_before,
        "critical_options": names["critical_options"],
        "extensions": names["extensions"],
        "ca_type": ca.type_name,
        "ca_fingerprint": ca.fingerprint,
    }
    return info, pos


# ------------------------------------------------------------------ text helpers

_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f]")


def _printable(value, limit):
    """Text safe to show: UTF-8 (invalid bytes replaced), control characters escaped, capped."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if _CONTROL.search(value):
        value = _CONTROL.sub(lambda m: "\\x%02x" % ord(m.group(0)), value)
    if len(value) > limit:
        value = value[: limit - 1] + "\u2026"
    return value


# ------------------------------------------------------------------ options (sshauthopt_parse)

_FLAG_OPTIONS = (
    # name, negatable -- in sshd's order (prefix matches, first wins)
    (b"restrict", False),
    (b"cert-authority", False),
    (b"port-forwarding", True),
    (b"agent-forwarding", True),
    (b"x11-forwarding", True),
    (b"touch-required", True),
    (b"verify-required", True),
    (b"pty", True),
    (b"user-rc", True),
)
_VALUE_OPTIONS = (b"command", b"principals", b"from", b"expiry-time", b"environment", b"permitopen", b"permitlisten", b"tunnel")
_PERMITS = ("port-forwarding", "agent-forwarding", "x11-forwarding", "pty", "user-rc")
_ENV_NAME = re.compile(rb"[A-Za-z0-9_]+")
_DIGITS = re.compile(rb"[0-9]+")
_NUMBER = re.compile(rb"[ \t\n\v\f\r]*[+-]?[0-9]+")
_SERVICE = re.compile(rb"[A-Za-z][A-Za-z0-9._+-]*")


class Options:
    """Parsed options of one line (sshd's semantics: restrict, then later flags win)."""

    __slots__ = (
        "cert_authority",
        "command",
        "environment",
        "expiry",
        "expiry_text",
        "expiry_utc",
        "from_",
        "names",
        "no_touch_required",
        "permitlisten",
        "permitopen",
        "permits",
        "principals",
        "raw",
        "restrict",
        "tunnel",
        "verify_required",
    )

    def __init__(self):
        self.raw = []  # each option as written (text)
        self.names = []  # canonical names as written, e.g. "no-pty", "from"
        self.restrict = False
        self.cert_authority = False
        self.command = None
        self.principals = None
        self.from_ = None
        self.expiry = None  # epoch seconds (earliest expiry-time)
        self.expiry_text = None
        self.expiry_utc = False
        self.environment = []
        self.permitopen = []
        self.permitlisten = []
        self.tunnel = None
        self.no_touch_required = False
        self.verify_required = False
        self.permits = dict.fromkeys(_PERMITS, True)

    def satisfies(self, required):
        """Whether the requirement *required* (an option name, e.g. ``from`` or ``no-pty``) holds."""
        req = required.lower()
        if req in ("from", "command", "principals", "expiry-time", "tunnel"):
            return getattr(self, {"from": "from_", "expiry-time": "expiry"}.get(req, req)) is not None
        if req in ("environment", "permitopen", "permitlisten"):
            return bool(getattr(self, req))
        if req == "restrict":
            return self.restrict
        if req == "cert-authority":
            return self.cert_authority
        if req == "verify-required":
            return self.verify_required
        if req.startswith("no-") and req[3:] in _PERMITS:
            return not self.permits[req[3:]]
        raise ValueError("unknown option name %r" % required)


REQUIRABLE_OPTIONS = (
    "from",
    "command",
    "principals",
    "expiry-time",
    "environment",
    "permitopen",
    "permitlisten",
    "tunnel",
    "restrict",
    "cert-authority",
    "verify-required",
    "no-port-forwarding",
    "no-agent-forwarding",
    "no-x11-forwarding",
    "no-pty",
    "no-user-rc",
)


_QUOTE_END = re.compile(rb'\\"|"')
_OPTIONS_END = re.compile(rb'\\"|["\t ]')


def _dequote(s, pos):
    """sshd's opt_dequote: a double-quoted value, ``\\"`` for a quote; return (bytes, new pos)."""
    if pos >= len(s) or s[pos] != 0x22:
        raise BadOptions("missing start quote")
    start = pos + 1
    for match in _QUOTE_END.finditer(s, start):
        if match.end() - match.start() == 1:  # an unescaped quote ends the value
            return s[start : match.start()].replace(b'\\"', b'"'), match.end()
    raise BadOptions("missing end quote")


def parse_absolute_time(value, utc_suffix_ok=True):
    """``expiry-time`` as sshd reads it: YYYYMMDD[HHMM[SS]] local time, or with Z/UTC; return (epoch, utc)."""
    text = value
    utc = False
    if utc_suffix_ok and len(text) > 1 and text[-1:].lower() == b"z":
        utc, text = True, text[:-1]
    elif utc_suffix_ok and len(text) > 3 and text[-3:].lower() == b"utc":
        utc, text = True, text[:-3]
    if len(text) not in (8, 12, 14) or not _DIGITS.fullmatch(text):
        raise BadOptions("invalid expires time")
    year, month, day = int(text[0:4]), int(text[4:6]), int(text[6:8])
    hour = int(text[8:10]) if len(text) > 8 else 0
    minute = int(text[10:12]) if len(text) > 8 else 0
    second = int(text[12:14]) if len(text) > 12 else 0
    if not (1 <= month <= 12 and 1 <= day <= 31 and hour <= 23 and minute <= 59 and second <= 61) or year < 1970:
        raise BadOptions("invalid expires time")
    fields = (year, month, day, hour, minute, second, 0, 0, -1)
    try:
        epoch = calendar.timegm(fields) if utc else int(time.mktime(fields))
    except (OverflowError, ValueError):
        raise BadOptions("invalid expires time") from None
    if epoch <= 0:
        raise BadOptions("invalid expires time")
    return epoch, utc


def _check_permit(value, bare_port_ok):
    if bare_port_ok and b":" not in value:
        value = b"*:" + value
    if value[:1] == b"[":
        end = value.find(b"]")
        if end == -1:
            raise BadOptions("invalid permission hostname")
        host, rest = value[: end + 1], value[end + 1 :]
        if rest and rest[:1] not in (b":", b"/"):
            raise BadOptions("invalid permission hostname")
    else:
        match = re.search(rb"[:/]", value)
        host, rest = (value, b"") if match is None else (value[: match.start()], value[match.start() :])
    if len(host) >= NI_MAXHOST:
        raise BadOptions("invalid permission hostname")
    if not rest:
        raise BadOptions("invalid permission port")
    port = rest[1:]
    if port != b"*":
        if _NUMBER.fullmatch(port):
            if not 0 < int(port) <= 65535:
                raise BadOptions("invalid permission port")
        elif not _SERVICE.fullmatch(port):
            raise BadOptions("invalid permission port")


def parse_options(s, pos=0, utc_suffix_ok=True):
    """Parse the options field starting at *pos* of line *s* like ``sshauthopt_parse``.

    Returns ``(Options, end)``; raises :class:`BadOptions` with sshd's reason.
    """
    opts = Options()
    n = len(s)
    while pos < n and s[pos] not in (0x20, 0x09):
        start = pos
        head = s[pos : pos + 24].lower()
        name = None
        for flag, negatable in _FLAG_OPTIONS:
            negate = negatable and head.startswith(b"no-")
            skip = 3 if negate else 0
            if head.startswith(flag, skip):
                pos += skip + len(flag)
                name = flag.decode()
                if name == "restrict":
                    opts.restrict = True
                    for permit in _PERMITS:
                        opts.permits[permit] = False
                elif name == "cert-authority":
                    opts.cert_authority = True
                elif name == "touch-required":
                    opts.no_touch_required = negate
                elif name == "verify-required":
                    opts.verify_required = not negate
                else:
                    opts.permits[name] = not negate
                name = ("no-" if negate else "") + name
                break
        if name is None:
            for term in _VALUE_OPTIONS:
                if head.startswith(term) and s[pos + len(term) : pos + len(term) + 1] == b"=":
                    name = term.decode()
                    value, pos = _dequote(s, pos + len(term) + 1)
                    _set_value_option(opts, name, value, utc_suffix_ok)
                    break
        if name is not None:
            opts.names.append(name)
            opts.raw.append(s[start:pos].decode("utf-8", "replace"))
        if pos >= n or s[pos] in (0x20, 0x09):
            break
        if s[pos] != 0x2C:
            raise BadOptions("unknown key option")
        pos += 1
        if pos >= n:
            raise BadOptions("unexpected end-of-options")
    return opts, pos


def _set_value_option(opts, name, value, utc_suffix_ok):
    if name == "command":
        if opts.command is not None:
            raise BadOptions('multiple "command" clauses')
        opts.command = value.decode("utf-8", "replace")
    elif name == "principals":
        if opts.principals is not None:
            raise BadOptions('multiple "principals" clauses')
        opts.principals = value.decode("utf-8", "replace")
    elif name == "from":
        if opts.from_ is not None:
            raise BadOptions('multiple "from" clauses')
        opts.from_ = value.decode("utf-8", "replace")
    elif name == "expiry-time":
        epoch, utc = parse_absolute_time(value, utc_suffix_ok)
        if opts.expiry is None or epoch < opts.expiry:
            opts.expiry, opts.expiry_utc, opts.expiry_text = epoch, utc, value.decode("ascii", "replace")
    elif name == "environment":
        if len(opts.environment) > AUTHOPT_ENV_MAX:
            raise BadOptions("too many environment strings")
        eq = value.find(b"=")
        if eq == -1 or not _ENV_NAME.fullmatch(value[:eq]):
            raise BadOptions("invalid environment string")
        opts.environment.append(value[:eq].decode("ascii"))
    elif name in ("permitopen", "permitlisten"):
        target = opts.permitopen if name == "permitopen" else opts.permitlisten
        if len(target) > AUTHOPT_PERMIT_MAX:
            raise BadOptions("too many permission directives")
        _check_permit(value, name == "permitlisten")
        target.append(value.decode("utf-8", "replace"))
    else:  # tunnel
        if value.lower() != b"any" and not (_NUMBER.fullmatch(value) and 0 <= int(value) <= TUNID_MAX):
            raise BadOptions("invalid tun device")
        opts.tunnel = value.decode("ascii", "replace")


def advance_past_options(s, pos):
    """sshd's sshkey_advance_past_options: end of the options field, or -1 for an unterminated quote."""
    quoted = False
    for match in _OPTIONS_END.finditer(s, pos):
        char = s[match.start()]
        if match.end() - match.start() == 2:
            continue  # \" does not open or close a quote
        if char == 0x22:
            quoted = not quoted
        elif not quoted:
            return match.start()
    return -1 if quoted else len(s)


# ------------------------------------------------------------------ lines

BLANK = "blank"
COMMENT = "comment"
KEY = "key"
INVALID = "invalid"

_SPACE_TAB = re.compile(rb"[ \t]")
_NOT_SPACE_TAB = re.compile(rb"[^ \t]")
_B64_CHARS = re.compile(rb"[A-Za-z0-9+/=]+")
_TYPEISH = re.compile(rb"[a-z0-9][a-z0-9@._-]{2,63}")


class Line:
    """One line of an authorized_keys file and what sshd makes of it."""

    # defaults for what most lines never set (class-level: cheap construction)
    options = None  # Options when the line has an options field that parsed
    comment = None
    reason = None  # short code for invalid lines (and "nul_byte" for keys followed by one)
    message = None
    severity = None
    end_line = None  # last line of a key split over several lines
    readable = False  # sshd (and ssh-keygen -l) read a key here, whatever else is wrong

    def __init__(self, number, raw, kind=BLANK, key=None):
        self.number = number
        self.raw = raw  # the original bytes without the newline (used to rewrite the file)
        self.kind = kind
        self.key = key  # KeyInfo when a key could be read (also for some invalid lines)


def _skip(s, pos):
    m = _NOT_SPACE_TAB.search(s, pos)
    return m.start() if m else len(s)


def _token_end(s, pos):
    m = _SPACE_TAB.search(s, pos)
    return m.start() if m else len(s)


def read_key(s, pos):
    """sshd's ``sshkey_read`` at *pos*: return (KeyInfo, position of the comment); raise BadKey."""
    end = _token_end(s, pos)
    if end == len(s):
        if s[pos:] in KEY_TYPES:
            raise BadKey("no_key_data", "the key type %s is not followed by key data" % s[pos:].decode())
        raise BadKey("no_key", "no key type and key data found")
    kt = KEY_TYPES.get(s[pos:end])
    if kt is None:
        raise BadKey("unknown_type", "unknown key type")
    bpos = _skip(s, end)
    if bpos == len(s):
        raise BadKey("no_key_data", "the key type %s is not followed by key data" % kt.name)
    bend = _token_end(s, bpos)
    blob = b64_decode(s[bpos:bend])
    info = parse_blob(blob)
    if (info.base, info.cert, info.nid) != kt.ident:
        raise BadKey(
            "type_mismatch",
            "the line says %s but the key data is %s" % (kt.name, info.type_name),
        )
    return info, _skip(s, bend)


def _comment(s, pos):
    return _comment_text(s[pos:])


def _comment_text(text):
    """The comment as shown: up to a CR, printable, capped (None when empty)."""
    if not text:
        return None
    if text.isascii():
        value = text.decode("ascii")
        if value.isprintable() and len(value) <= 512:
            return value
    cr = text.find(b"\r")
    if cr != -1:
        text = text[:cr]
    return _printable(text, 512) if text else None


def parse_line(number, raw, max_line_length=DEFAULT_MAX_LINE_LENGTH, utc_suffix_ok=True):
    """Classify one line (*raw*: its bytes without the newline) the way sshd reads it."""
    line = Line(number, raw)
    if len(raw) > max_line_length:
        return _invalid(line, "too_long", "the line is %d bytes long, over the limit of %d; it was not parsed" % (len(raw), max_line_length))
    return _parse_line_slow(line, raw, utc_suffix_ok)


def _parse_line_slow(line, s, utc_suffix_ok):
    nul = s.find(b"\0")
    if nul != -1:
        s = s[:nul]
    pos = _skip(s, 0)
    if pos == len(s) or (s[pos] == 0x0D and not s[pos:].strip()):
        if nul != -1:
            return _invalid(line, "nul_byte", "the line has a NUL byte (binary data?) and no key before it")
        return line
    if s[pos] == 0x23:  # '#'
        line.kind = COMMENT
        return line
    # sshd: a key at the start of the line; failing that, an options field and then a key
    options_end = None
    try:
        key, cpos = read_key(s, pos)
    except BadKey as first:
        options_end = advance_past_options(s, pos)
        kpos = _skip(s, options_end) if options_end != -1 else len(s)
        try:
            if options_end == -1:
                raise BadKey("bad_options", "the options field has an unterminated quote") from None
            key, cpos = read_key(s, kpos)
        except BadKey as second:
            if nul != -1:
                return _invalid(
                    line, "nul_byte", "the line has a NUL byte at column %d; sshd reads only the part before it, which holds no valid key" % (nul + 1)
                )
            if s[pos : _token_end(s, pos)] in KEY_TYPES:
                line.key = _salvage_key(s, pos)
                return _invalid(line, first.reason, first.message)
            if kpos < len(s) and s[kpos : _token_end(s, kpos)] in KEY_TYPES:
                line.key = _salvage_key(s, kpos)
                return _invalid(line, second.reason, second.message)
            if second.reason == "bad_options" and not _BINARY.search(s):
                return _invalid(line, second.reason, second.message)
            return _unknown_line(line, s, pos)
    line.key = key
    line.readable = True
    line.comment = _comment(s, cpos)
    if options_end is not None:
        try:
            line.options, _end = parse_options(s, pos, utc_suffix_ok)
        except BadOptions as exc:
            return _invalid(line, "bad_options", "sshd refuses the options: %s" % exc)
        if line.options.principals is not None and not line.options.cert_authority:
            return _invalid(
                line, "principals_without_cert_authority", 'principals= is only allowed with cert-authority; sshd refuses this key ("principals on non-CA key")'
            )
    if key.cert:
        return _invalid(line, "certificate", "a certificate in authorized_keys is never matched by sshd; list the CA key with cert-authority instead")
    line.kind = KEY
    if nul != -1:
        # sshd uses the key before the NUL: the line works, but carries hidden bytes
        line.reason = "nul_byte"
        line.severity = "low"
        line.message = "the line has a NUL byte at column %d after the key; sshd uses the key and ignores the rest" % (nul + 1)
    return line


def _salvage_key(s, pos):
    """For a line whose key is wrong only by its declared type: the key it really holds (or None)."""
    end = _token_end(s, pos)
    bpos = _skip(s, end)
    if bpos == len(s):
        return None
    try:
        return parse_blob(b64_decode(s[bpos : _token_end(s, bpos)]))
    except BadKey:
        return None


_BINARY = re.compile(rb"[\x00-\x08\x0a-\x0c\x0e-\x1f\x7f]")


def _unknown_line(line, s, pos):
    token = s[pos : _token_end(s, pos)]
    if _BINARY.search(s):
        return _invalid(line, "binary", "the line holds binary data (control bytes), not a key")
    try:
        s.decode("utf-8")
    except UnicodeDecodeError:
        return _invalid(line, "binary", "the line holds binary data (not UTF-8 text), not a key")
    if _B64_CHARS.fullmatch(token) and len(token) >= 16:
        return _invalid(line, "continuation", "the line starts with base64 data and no key type: a piece of a key split over lines?")
    if _TYPEISH.fullmatch(token) and b"-" in token:
        return _invalid(line, "unknown_type", "unknown key type %r" % token.decode("ascii"))
    return _invalid(line, "not_a_key", "no key sshd can read on this line")


def _invalid(line, reason, message, severity="medium"):
    line.kind = INVALID
    line.reason = reason
    line.message = message
    line.severity = severity
    return line


_JOINABLE = frozenset({"bad_base64", "bad_blob", "no_key_data", "no_key"})
MAX_JOIN_LINES = 64


def split_lines(data):
    """Lines as getline(3) returns them, without their newline."""
    lines = data.split(b"\n")
    if lines and not lines[-1]:
        lines.pop()
    return lines


def rebuild(data, lines, drop):
    """*data* (the file parsed into *lines*) without the lines numbered in *drop*; newlines kept as they were."""
    if not drop:
        return data
    kept = [line.raw for line in lines if line.number not in drop]
    if not kept:
        return b""
    out = b"\n".join(kept)
    last_kept_is_last = lines[-1].number not in drop
    if data.endswith(b"\n") or not last_kept_is_last:
        out += b"\n"
    return out


_KEY_CACHE = {}  # (type, base64) -> KeyInfo: a key deployed to many accounts is decoded once per run
_KEY_CACHE_LIMIT = 200000


def parse_file(data, max_line_length=DEFAULT_MAX_LINE_LENGTH, utc_suffix_ok=True):
    """Parse a whole file (bytes); returns a list of :class:`Line`, keys split over lines detected."""
    parsed = []
    append = parsed.append
    cache = _KEY_CACHE
    number = 0
    for raw in split_lines(data):
        number += 1
        # fast path: "TYPE BASE64[ comment]" with canonical base64 and blob, the shape of nearly every line;
        # anything else (options, tabs, odd spacing or encodings, NUL bytes) takes sshd's full path below
        parts = raw.split(b" ", 2)
        if len(parts) > 1 and len(raw) <= max_line_length and b"\0" not in raw:
            token = parts[1]
            if len(parts) == 2 and token[-1:] == b"\r":
                token = token[:-1]
            cache_key = (parts[0], token)
            info = cache.get(cache_key)
            if info is None:
                info = _fast_path_key(parts[0], token)
                if info is not None and len(cache) < _KEY_CACHE_LIMIT:
                    cache[cache_key] = info
            if info is not None:
                line = Line(number, raw, KEY, info)
                line.readable = True
                if len(parts) == 3:
                    line.comment = _comment_text(parts[2].lstrip(b" \t"))
                append(line)
                continue
        append(parse_line(number, raw, max_line_length, utc_suffix_ok))
    if any(line.kind == INVALID for line in parsed):
        _detect_private_keys(parsed)
        _detect_split_keys(parsed, max_line_length)
    return parsed


def _fast_path_key(head, token):
    kt = KEY_TYPES.get(head)
    if kt is None or kt.cert:
        return None
    try:
        blob = binascii.a2b_base64(token)
    except (binascii.Error, ValueError):
        return None
    # canonical base64 only (what ssh-keygen writes); anything else takes the careful path
    if not blob or binascii.b2a_base64(blob, newline=False) != token:
        return None
    return _fast_key(kt, blob)


_PRIVATE_MARKERS = (b"PRIVATE KEY-----", b"PuTTY-User-Key-File-", b"b3BlbnNzaC1rZXktdjE")


def _detect_private_keys(parsed):
    """Mark pasted private keys (PEM/OpenSSH/PuTTY blocks): never shown, reported as high severity."""
    inside = False
    for line in parsed:
        if line.kind == KEY:
            inside = False
            continue
        raw = line.raw
        starts = any(marker in raw for marker in _PRIVATE_MARKERS)
        if starts or inside:
            _invalid(line, "private_key", "the line is part of a PRIVATE key: authorized_keys must hold public keys only (treat that key as exposed)", "high")
            line.key = None
            line.comment = None
            if b"-----END" in raw or b"Private-MAC:" in raw:
                inside = False
            elif b"-----BEGIN" in raw or b"PuTTY-User-Key-File-" in raw:
                inside = True


SPLIT_JOIN_BUDGET = 4 << 20  # bytes of base64 tried per file: a hostile file cannot make the search quadratic


def _detect_split_keys(parsed, max_line_length):
    count = len(parsed)
    budget = SPLIT_JOIN_BUDGET
    i = 0
    while i < count and budget > 0:
        line = parsed[i]
        if line.kind != INVALID or line.reason not in _JOINABLE:
            i += 1
            continue
        s = line.raw.rstrip(b"\r")
        pos = _skip(s, 0)
        type_end = _token_end(s, pos)
        kt = KEY_TYPES.get(s[pos:type_end])
        if kt is None:
            i += 1
            continue
        bpos = _skip(s, type_end)
        acc = s[bpos : _token_end(s, bpos)]
        found = None
        j = i + 1
        while j < count and j <= i + MAX_JOIN_LINES and len(acc) <= max_line_length:
            nxt = parsed[j]
            if nxt.kind == KEY:
                break
            t = nxt.raw.rstrip(b"\r")
            tpos = _skip(t, 0)
            tend = _token_end(t, tpos)
            token = t[tpos:tend]
            if not token or not _B64_CHARS.fullmatch(token):
                break
            acc += token
            budget -= len(acc)
            try:
                info = parse_blob(b64_decode(acc))
            except BadKey:
                info = None
            if info is not None and (info.base, info.cert, info.nid) == kt.ident:
                found = (j, info)
                break
            if _skip(t, tend) != len(t):  # a comment follows: the key should have ended here
                break
            j += 1
        if found is None:
            i += 1
            continue
        last, info = found
        for k in range(i, last + 1):
            piece = parsed[k]
            piece.kind = INVALID
            piece.reason = "split_key"
            piece.severity = "medium"
            piece.key = info
            piece.end_line = parsed[last].number
            piece.message = "the %s key %s is split over lines %d-%d (a paste broke it); sshd reads none of it" % (
                info.type_name,
                info.fingerprint,
                line.number,
                parsed[last].number,
            )
        i = last + 1


# ------------------------------------------------------------------ algorithm matching (match_pattern_list)


def _match_pattern(string, pattern):
    # '*' and '?' wildcards, as OpenSSH's match_pattern
    regex = _PATTERN_CACHE.get(pattern)
    if regex is None:
        regex = re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern), re.S)
        _PATTERN_CACHE[pattern] = regex
    return regex.fullmatch(string) is not None


_PATTERN_CACHE = {}


def match_pattern_list(string, patterns):
    """OpenSSH's match_pattern_list: 1 positive match, -1 negated match, 0 none (case-sensitive)."""
    positive = 0
    for item in patterns.split(","):
        negated = item.startswith("!")
        sub = item[1:] if negated else item
        if _match_pattern(string, sub):
            if negated:
                return -1
            positive = 1
    return positive


def algorithm_accepted(key_type_name, algorithms):
    """sshkey_match_keyname_to_sigalgs: whether a key of this type can sign with one of *algorithms*."""
    cache_key = (key_type_name, algorithms)
    cached = _ACCEPTED_CACHE.get(cache_key)
    if cached is None:
        cached = _ACCEPTED_CACHE[cache_key] = _algorithm_accepted(key_type_name, algorithms)
    return cached


_ACCEPTED_CACHE = {}


def _algorithm_accepted(key_type_name, algorithms):
    if not algorithms:
        return False
    kt = KEY_TYPES.get(key_type_name.encode("ascii"))
    if kt is None:
        return False
    if kt.base == RSA:
        names = (
            ("ssh-rsa-cert-v01@openssh.com", "rsa-sha2-256-cert-v01@openssh.com", "rsa-sha2-512-cert-v01@openssh.com")
            if kt.cert
            else ("ssh-rsa", "rsa-sha2-256", "rsa-sha2-512")
        )
    elif kt.base == ECDSA_SK:
        names = (
            ("sk-ecdsa-sha2-nistp256-cert-v01@openssh.com", "webauthn-sk-ecdsa-sha2-nistp256-cert-v01@openssh.com")
            if kt.cert
            else ("sk-ecdsa-sha2-nistp256@openssh.com", "webauthn-sk-ecdsa-sha2-nistp256@openssh.com")
        )
    else:
        names = (kt.name,)
    return any(match_pattern_list(name, algorithms) == 1 for name in names)


# ------------------------------------------------------------------ StrictModes (auth.c safe_path)


def strict_modes_problem(st_mode, st_uid, uid, is_file, group_ok=None):
    """Why sshd's StrictModes refuses this file/directory (None when it is fine).

    The rule sshd applies (auth.c/misc.c safe_path): owned by the user or root, and
    no group/world write bit; the file must also be a regular file. Debian and
    Ubuntu patch sshd ("user-group-modes") to accept a group-writable file or
    directory when its group has the user as its only member: pass *group_ok*,
    a callable answering that for the file's group, to apply their rule.
    """
    if is_file and not stat.S_ISREG(st_mode):
        return "is not a regular file"
    problems = []
    if st_uid not in (0, uid):
        problems.append("is owned by uid %d (must be the user or root)" % st_uid)
    writable = st_mode & 0o022
    if writable == 0o020 and group_ok is not None and group_ok():
        writable = 0
    if writable:
        if writable == 0o022:
            what = "group- and world-writable"
        elif writable == 0o020:
            what = "group-writable (by a group with other members)" if group_ok is not None else "group-writable"
        else:
            what = "world-writable"
        problems.append("is %s (mode %04o)" % (what, stat.S_IMODE(st_mode)))
    return " and ".join(problems) if problems else None


def private_group(gid, owner_uid, user_uid, group_members, primary_members, names):
    """Debian's user-group-modes test: does group *gid* have *user_uid* as its only member?

    *group_members*: gid -> list of member names (group database order, or None when the
    group does not exist); *primary_members*: gid -> uids whose primary group it is
    (every passwd entry); *names*: uid -> account name. Zero members is not enough.
    """
    members = group_members.get(gid)
    if members is None:
        return False
    count = 0
    for member_uid in primary_members.get(gid, ()):
        count += 1
        if member_uid != user_uid:
            return False
    owner = names.get(owner_uid)
    if owner is None:
        return False
    if members:
        count += 1
        if members[0] != owner or len(members) > 1:
            return False
    return count > 0


def can_access(st_mode, st_uid, st_gid, uid, gids, bits):
    """POSIX permission check for *uid* (supplementary *gids*) wanting *bits* (4 read, 1 search); root may do anything."""
    if uid == 0:
        return True
    if st_uid == uid:
        return (st_mode >> 6) & bits == bits
    if st_gid in gids:
        return (st_mode >> 3) & bits == bits
    return st_mode & bits == bits


__all__ = [
    "BLANK",
    "COMMENT",
    "INVALID",
    "KEY",
    "KEY_TYPES",
    "REQUIRABLE_OPTIONS",
    "BadKey",
    "BadOptions",
    "KeyInfo",
    "Line",
    "Options",
    "algorithm_accepted",
    "b64_decode",
    "can_access",
    "fingerprint_sha256",
    "keygen_type",
    "match_pattern_list",
    "parse_blob",
    "parse_file",
    "parse_line",
    "parse_options",
    "strict_modes_problem",
]
