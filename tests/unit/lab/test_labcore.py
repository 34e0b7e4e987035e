# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The lab's pure parts: names, ports, banners, mounts, inventory YAML."""

from __future__ import annotations

import json

import pytest
import yaml

from ansible_collections.fleetauth.ssh.tests.lab import labcore
from ansible_collections.fleetauth.ssh.tests.lab.labcore import LabError


@pytest.mark.parametrize("name", ["a", "lab1", "molecule-default", "x" * 24])
def test_valid_names(name):
    assert labcore.validate_name(name) == name


@pytest.mark.parametrize("name", ["", "1lab", "Lab", "lab_1", "lab-", "a--b", "x" * 25, "../etc", "a b", None])
def test_invalid_names(name):
    with pytest.raises(LabError, match="invalid lab name"):
        labcore.validate_name(name)


def test_suites():
    assert labcore.validate_suite("trixie") == "trixie"
    with pytest.raises(LabError, match="unknown suite"):
        labcore.validate_suite("sid")


def test_host_names():
    assert labcore.host_names("web", 3) == ["web-1", "web-2", "web-3"]
    with pytest.raises(LabError):
        labcore.host_names("web", 0)


def test_allocate_ports_skips_used_and_busy():
    busy = {22201}
    ports = labcore.allocate_ports(3, used={22200}, is_free=lambda p: p not in busy)
    assert ports == [22202, 22203, 22204]


def test_allocate_ports_exhausted():
    with pytest.raises(LabError, match="no free TCP port"):
        labcore.allocate_ports(2, used=set(), is_free=lambda p: p == 22200, port_range=(22200, 22201))


def test_sshd_opts_only_sets_port_and_loopback():
    line = labcore.sshd_opts(22205)
    assert line == 'SSHD_OPTS="-p 22205 -o ListenAddress=127.0.0.1"\n'


@pytest.mark.parametrize(
    "banner,version",
    [
        (b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3", "9.2p1"),
        (b"SSH-2.0-OpenSSH_8.4p1 Debian-5+deb11u3", "8.4p1"),
        (b"SSH-2.0-OpenSSH_10.0p2 Debian-7", "10.0p2"),
        (b"SSH-2.0-OpenSSH_10.0", "10.0"),
        (b"SSH-2.0-dropbear_2022.83", None),
        (b"garbage", None),
    ],
)
def test_parse_banner(banner, version):
    assert labcore.parse_ssh_banner(banner) == version


def test_stamp_matches():
    wanted = labcore.root_stamp("bookworm", labcore.DEFAULT_MIRROR)
    assert labcore.stamp_matches(json.dumps(wanted), wanted)
    assert not labcore.stamp_matches(None, wanted)
    assert not labcore.stamp_matches("{not json", wanted)
    other = dict(wanted, packages=wanted["packages"][:-1])
    assert not labcore.stamp_matches(json.dumps(other), wanted)


def test_known_hosts_lines():
    lines = labcore.known_hosts_lines(22201, ["ssh-ed25519 AAAAC3Nz root@h\n", "", "bogus"])
    assert lines == ["[127.0.0.1]:22201 ssh-ed25519 AAAAC3Nz"]


def test_mounts_under_deepest_first_and_octal():
    text = "\n".join(
        [
            "overlay /root/.cache/fleetauth-lab/labs/a/hosts/a-1/merged overlay rw 0 0",
            "proc /root/.cache/fleetauth-lab/labs/a/hosts/a-1/merged/proc proc rw 0 0",
            "overlay /root/.cache/fleetauth-lab/labs/ab/hosts/ab-1/merged overlay rw 0 0",
            "tmpfs /root/.cache/fleetauth-lab/labs/a/with\\040space tmpfs rw 0 0",
        ]
    )
    found = labcore.mounts_under(text, "/root/.cache/fleetauth-lab/labs/a")
    assert found == [
        "/root/.cache/fleetauth-lab/labs/a/hosts/a-1/merged/proc",
        "/root/.cache/fleetauth-lab/labs/a/hosts/a-1/merged",
        "/root/.cache/fleetauth-lab/labs/a/with space",
    ]


def _state():
    return {
        "name": "t-1",
        "suite": "bookworm",
        "dir": "/x/labs/t-1",
        "known_hosts": "/x/labs/t-1/known_hosts",
        "command": "python3 lab.py",
        "users": {
            "admin": {"password": "-Pa:ss 'yes'", "private_key": "/x/keys/admin", "public_key": "ssh-ed25519 AAAA admin@lab"},
            "mfa": {"password": "no", "private_key": "/x/keys/mfa", "public_key": "ssh-ed25519 BBBB mfa@lab"},
            "pwonly": {"password": "0123"},
        },
        "hosts": [
            {"name": "t-1-1", "port": 22200, "machine": "fl-t-1-1", "root": "/x/m1", "openssh_version": "9.2p1", "totp_secrets": {"mfa": "ABC"}},
        ],
    }


def test_inventory_round_trips_through_yaml():
    inventory = labcore.build_inventory(_state())
    parsed = yaml.safe_load(labcore.render_yaml(inventory))
    assert parsed == inventory
    group = parsed["all"]["children"]["lab_t_1"]
    assert group["hosts"]["t-1-1"]["ansible_port"] == 22200
    assert group["vars"]["ansible_become_password"] == "-Pa:ss 'yes'"
    assert group["vars"]["lab_users"]["pwonly"]["password"] == "0123"
    assert group["vars"]["lab_users"]["mfa"]["password"] == "no"
    assert "StrictHostKeyChecking=yes" in group["vars"]["ansible_ssh_common_args"]
    assert group["vars"]["ansible_kbdint_known_hosts_file"] == "/x/labs/t-1/known_hosts"


@pytest.mark.parametrize(
    "value",
    [
        "yes",
        "No",
        "on",
        "null",
        "~",
        "1.5",
        "0x1F",
        "-x",
        ": x",
        "a: b",
        "#c",
        "tab\there",
        "trailing ",
        "",
        "ünï",
        "[x]",
        "{y}",
        "*a",
        "&b",
        "!t",
        "'q'",
        '"dq"',
        "a #b",
    ],
)
def test_render_yaml_scalars_round_trip(value):
    assert yaml.safe_load(labcore.render_yaml({"k": value, "l": [value, {"n": value}]})) == {"k": value, "l": [value, {"n": value}]}


def test_setup_script_leaves_sshd_config_and_pam_alone():
    script = labcore.setup_script("h-1", {"admin": "ssh-ed25519 AAAA admin@lab", "mfa": "ssh-ed25519 BBBB mfa@lab"})
    assert "sshd_config" not in script
    assert "pam.d" not in script
    assert "google-authenticator -t -d -f -C" in script
    assert "useradd -m -s /bin/bash -G sudo admin" in script
    assert "NOPASSWD: /usr/sbin/sshd -T" in script
