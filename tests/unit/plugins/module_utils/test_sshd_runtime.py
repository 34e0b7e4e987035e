# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The sshd runtime layer, driven by a fake runner that replays real sshd output."""

from __future__ import annotations

import pytest

from ansible_collections.fleetauth.ssh.plugins.module_utils import _sshd_runtime as rt


class FakeRun:
    def __init__(self, replies):
        self.replies = list(replies)
        self.calls = []

    def __call__(self, args, data=None):
        self.calls.append(list(args))
        return self.replies.pop(0)


@pytest.mark.parametrize(
    "text,version",
    [
        ("unknown option -- V\nOpenSSH_8.4p1 Debian-5+deb11u3, OpenSSL 1.1.1w  11 Sep 2023\nusage: sshd", (8, 4)),
        ("OpenSSH_9.2, OpenSSL 3.0.20 7 Apr 2026", (9, 2)),
        ("OpenSSH_10.0p2 Debian-7+deb13u4, OpenSSL 3.5.7", (10, 0)),
        ("sshd: command not found", None),
    ],
)
def test_parse_version(text, version):
    assert rt.parse_version(text) == version


def test_version_from_usage_text_on_old_sshd():
    run = FakeRun([(1, "", "unknown option -- V\nOpenSSH_8.4p1 Debian-5+deb11u3, OpenSSL 1.1.1w\nusage: sshd [-46DdeiqTt]")])
    runtime = rt.SshdRuntime(run, sshd_path="/bin/sh")
    assert runtime.version() == (8, 4)
    assert runtime.version_text == "OpenSSH_8.4p1 Debian-5+deb11u3, OpenSSL 1.1.1w"
    assert runtime.kbdint_keyword() == "ChallengeResponseAuthentication"
    assert run.calls == [["/bin/sh", "-V"]]


@pytest.mark.parametrize(
    "version,keyword", [((8, 6), "ChallengeResponseAuthentication"), ((8, 7), "KbdInteractiveAuthentication"), ((10, 0), "KbdInteractiveAuthentication")]
)
def test_kbdint_keyword_by_version(version, keyword):
    runtime = rt.SshdRuntime(FakeRun([(0, "", "OpenSSH_%d.%d, OpenSSL" % version)]), sshd_path="/bin/sh")
    assert runtime.kbdint_keyword() == keyword


def test_parse_effective_multivalued_and_aliases():
    text = "port 22\nPermitRootLogin without-password\nallowusers alice\nallowusers bob@10.0.0.0/8\nauthenticationmethods publickey,keyboard-interactive\n"
    parsed = rt.parse_effective(text)
    assert parsed["port"] == ["22"]
    assert parsed["permitrootlogin"] == "prohibit-password"
    assert parsed["allowusers"] == ["alice", "bob@10.0.0.0/8"]
    assert parsed["authenticationmethods"] == "publickey,keyboard-interactive"


def test_context_spec():
    assert rt.context_spec({"user": "ops", "addr": "10.1.2.3", "host": "h"}) == "user=ops,host=h,addr=10.1.2.3"
    with pytest.raises(rt.SshdError, match="no commas"):
        rt.context_spec({"user": "a,b"})
    with pytest.raises(rt.SshdError, match="unknown connection context"):
        rt.context_spec({"group": "x"})


def test_test_quotes_sshd_message():
    run = FakeRun([(255, "", "/tmp/x line 3: Bad configuration option: PasswordAuth\n/tmp/x: terminating, 1 bad configuration options\n")])
    runtime = rt.SshdRuntime(run, sshd_path="/bin/sh")
    with pytest.raises(rt.SshdError) as info:
        runtime.test("/tmp/x")
    assert "Bad configuration option: PasswordAuth" in str(info.value)
    assert info.value.sshd_message.startswith("/tmp/x line 3")
    assert run.calls == [["/bin/sh", "-t", "-f", "/tmp/x"]]


def test_no_hostkeys_retries_with_throwaway_key():
    run = FakeRun([(1, "", "sshd: no hostkeys available -- exiting.\n"), (0, "", ""), (0, "", "")])
    runtime = rt.SshdRuntime(run, sshd_path="/bin/sh", keygen_path="/usr/bin/ssh-keygen")
    runtime.test("/tmp/cand")
    assert run.calls[1][0] == "/usr/bin/ssh-keygen"
    assert run.calls[2][:4] == ["/bin/sh", "-t", "-f", "/tmp/cand"]
    assert run.calls[2][4] == "-h"
    assert any("throwaway host key" in note for note in runtime.notes)


def test_effective_retries_with_context_on_old_sshd_with_match():
    run = FakeRun(
        [
            (255, "", "'Match' in configuration but 'user' not in connection test specification.\nMatch blocks need -C"),
            (0, "passwordauthentication no\n", ""),
        ]
    )
    runtime = rt.SshdRuntime(run, sshd_path="/bin/sh")
    assert runtime.effective() == {"passwordauthentication": "no"}
    assert run.calls[1][-2:] == ["-C", "user=root,host=localhost,addr=127.0.0.1"]


def test_missing_sshd_path():
    with pytest.raises(rt.SshdError, match="does not exist"):
        rt.SshdRuntime(FakeRun([]), sshd_path="/nonexistent/sshd").version()
