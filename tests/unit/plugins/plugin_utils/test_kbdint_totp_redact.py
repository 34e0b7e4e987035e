# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""TOTP codes and the reuse guard; redaction of secrets in texts and log records."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import logging
import os
import stat
import struct
import subprocess
import sys
import time

import pyotp
import pytest
from kbdint_fixtures import RFC_SECRET, TOTP_SECRET

from ansible_collections.fleetauth.ssh.plugins.plugin_utils._kbdint.errors import AuthError, MasterError
from ansible_collections.fleetauth.ssh.plugins.plugin_utils._kbdint.paths import ensure_private_dir, socket_path
from ansible_collections.fleetauth.ssh.plugins.plugin_utils._kbdint.redact import LOG_CHANNEL, MASK, RedactingFilter, Redactor
from ansible_collections.fleetauth.ssh.plugins.plugin_utils._kbdint.session import route_paramiko_logs
from ansible_collections.fleetauth.ssh.plugins.plugin_utils._kbdint.totp import StepGuard, TotpGenerator

# ----------------------------------------------------------------- codes


@pytest.mark.parametrize(("when", "code"), [(59, "287082"), (1111111109, "081804"), (1234567890, "005924"), (2000000000, "279037")])
def test_rfc6238_vectors_sha1_six_digits(when, code):
    assert TotpGenerator(RFC_SECRET).code_at(when) == code


def test_codes_match_pyotp_and_the_secret_may_be_spaced_or_lower_case():
    now = time.time()
    spaced = " ".join(TOTP_SECRET[i : i + 4] for i in range(0, len(TOTP_SECRET), 4)).lower()
    assert TotpGenerator(spaced).code_at(now) == pyotp.TOTP(TOTP_SECRET).at(now)


def _hotp(secret, counter):
    """RFC 4226, written out independently of pyotp."""
    key = base64.b32decode(secret)
    digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 15
    return "%06d" % ((struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF) % 10**6)


def test_an_80_bit_secret_from_older_google_authenticator_works():
    short = "JBSWY3DPEHPK3PXP"  # pyotp alone refuses secrets under 112 bits
    with pytest.raises(ValueError):
        pyotp.TOTP(short).at(1000)
    assert TotpGenerator(short).code_at(1000) == _hotp(short, 1000 // 30)
    assert TotpGenerator(RFC_SECRET).code_at(1000) == _hotp(RFC_SECRET, 1000 // 30)


def test_otpauth_uri():
    uri = "otpauth://totp/lab:mfa?secret=%s&issuer=lab&digits=8&period=60&algorithm=SHA256" % TOTP_SECRET
    generator = TotpGenerator(uri)
    assert (generator.digits, generator.period, generator.algorithm) == (8, 60, "sha256")
    assert generator.code_at(1200) == pyotp.TOTP(TOTP_SECRET, digits=8, interval=60, digest=hashlib.sha256).at(1200)
    assert generator.code_at(1200) != TotpGenerator(TOTP_SECRET).code_at(1200)


@pytest.mark.parametrize("bad", ["", "   ", "not base32 !!", "0189"])
def test_invalid_secrets_are_refused_without_quoting_them(bad):
    with pytest.raises(AuthError) as caught:
        TotpGenerator(bad)
    if bad.strip():
        assert bad not in str(caught.value)


# ----------------------------------------------------------------- reuse guard


class FakeClock:
    def __init__(self, start):
        self.now = start
        self.slept = []

    def time(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


def test_guard_never_hands_out_a_step_twice_and_waits_for_the_next(tmp_path):
    clock = FakeClock(30 * 1000 + 5)
    guard = StepGuard(str(tmp_path / "totp"), clock=clock.time, sleep=clock.sleep)
    generator = TotpGenerator(TOTP_SECRET)
    waits = []
    first = guard.code("h:22:mfa", generator, on_wait=waits.append)
    second = guard.code("h:22:mfa", generator, on_wait=waits.append)
    assert first == generator.code_for_step(1000)
    assert second == generator.code_for_step(1001)
    assert waits and 25 <= waits[0] <= 27
    assert clock.now >= 30 * 1001
    # Another host or user has its own steps.
    assert guard.code("other:22:mfa", generator) == generator.code_for_step(1001)


def test_guard_state_is_private(tmp_path):
    guard = StepGuard(str(tmp_path / "totp"))
    guard.code("h:22:mfa", TotpGenerator(TOTP_SECRET))
    directory = tmp_path / "totp"
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    (state,) = list(directory.iterdir())
    assert stat.S_IMODE(state.stat().st_mode) == 0o600
    assert "mfa" not in state.name  # names are digests, not host/user


def test_guard_refuses_beyond_max_wait(tmp_path):
    clock = FakeClock(30 * 1000 + 1)
    guard = StepGuard(str(tmp_path / "totp"), clock=clock.time, sleep=clock.sleep)
    generator = TotpGenerator(TOTP_SECRET)
    guard.code("k", generator)
    with pytest.raises(AuthError) as caught:
        guard.code("k", generator, max_wait=5)
    assert "already used" in str(caught.value)


def test_wait_until_fresh_sleeps_but_reserves_nothing(tmp_path):
    clock = FakeClock(30 * 1000 + 20)
    guard = StepGuard(str(tmp_path / "totp"), clock=clock.time, sleep=clock.sleep)
    generator = TotpGenerator(TOTP_SECRET)
    guard.code("k", generator)
    guard.wait_until_fresh("k", generator)
    assert generator.step(clock.now) == 1001
    assert guard.last_step("k") == 1000


GRAB = """
import sys, time
from ansible_collections.fleetauth.ssh.plugins.plugin_utils._kbdint.totp import StepGuard, TotpGenerator
generator = TotpGenerator(sys.argv[2], period=1)
code = StepGuard(sys.argv[1]).code("h:22:mfa", generator)
now = int(time.time())
print(next(step for step in range(now - 10, now + 2) if generator.code_for_step(step) == code))
"""


def test_guard_works_across_processes(tmp_path):
    # Four separate processes log in to the same host and user at once: four different steps.
    directory = str(tmp_path / "totp")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    procs = [subprocess.Popen([sys.executable, "-c", GRAB, directory, TOTP_SECRET], stdout=subprocess.PIPE, env=env) for _proc in range(4)]
    steps = [int(proc.communicate(timeout=30)[0]) for proc in procs]
    assert len(set(steps)) == 4
    assert StepGuard(directory).last_step("h:22:mfa") == max(steps)


# ----------------------------------------------------------------- private dirs and socket names


def test_private_dir_is_created_0700_and_tightened(tmp_path):
    path = tmp_path / "ctl"
    ensure_private_dir(str(path))
    assert stat.S_IMODE(path.stat().st_mode) == 0o700
    os.chmod(path, 0o755)
    ensure_private_dir(str(path))
    assert stat.S_IMODE(path.stat().st_mode) == 0o700


def test_private_dir_refuses_a_symlink_or_a_file(tmp_path):
    target = tmp_path / "elsewhere"
    target.mkdir()
    link = tmp_path / "link"
    link.symlink_to(target)
    with pytest.raises(MasterError):
        ensure_private_dir(str(link))
    afile = tmp_path / "file"
    afile.write_text("x")
    with pytest.raises(MasterError):
        ensure_private_dir(str(afile))


def test_socket_path_too_long_is_an_actionable_error(tmp_path):
    with pytest.raises(MasterError) as caught:
        socket_path("/" + "d" * 120, "0123456789abcdef0123")
    assert "control_path_dir" in str(caught.value)


# ----------------------------------------------------------------- redaction


def test_redactor_masks_every_variant():
    redactor = Redactor("hunter2-password", TOTP_SECRET.lower(), None, "")
    text = "pw hunter2-password secret %s and %s" % (TOTP_SECRET, TOTP_SECRET.lower())
    masked = redactor.redact(text)
    assert "hunter2" not in masked
    assert TOTP_SECRET not in masked
    assert TOTP_SECRET.lower() not in masked
    assert masked.count(MASK) == 3
    assert redactor.redact(b"x hunter2-password") == b"x " + MASK.encode()


def test_redacting_filter_covers_arguments_and_tracebacks():
    redactor = Redactor("hunter2-password")
    stream = io.StringIO()
    logger = logging.getLogger("kbdint.test.redact")
    logger.propagate = False
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    logger.addFilter(RedactingFilter(redactor))
    try:
        logger.warning("sent %s", "hunter2-password")
        try:
            raise ValueError("boom hunter2-password")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    output = stream.getvalue()
    assert "hunter2" not in output
    assert output.count(MASK) >= 2


def test_paramiko_records_of_our_channel_never_reach_the_root_logger():
    redactor = Redactor("hunter2-password")
    sink = []
    root_stream = io.StringIO()
    root_handler = logging.StreamHandler(root_stream)
    logging.getLogger().addHandler(root_handler)
    try:
        route_paramiko_logs(redactor, lambda level, text: sink.append(text), level=logging.DEBUG)
        logging.getLogger(LOG_CHANNEL).error("Unknown exception: hunter2-password")
        logging.getLogger(LOG_CHANNEL + ".sftp").info("sftp hunter2-password")
    finally:
        logging.getLogger().removeHandler(root_handler)
        route_paramiko_logs(redactor)
    assert root_stream.getvalue() == ""
    assert sink
    assert not any("hunter2" in text for text in sink)
