# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure parts of the lab: names, ports, paths, inventory rendering.

Nothing in here runs a process or touches the file system, so all of it is
unit-tested without root (tests/unit/lab/).
"""

from __future__ import annotations

import json
import re

SUITES = ("bullseye", "bookworm", "trixie")
DEFAULT_SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"

# Packages every lab root carries. Changing this list changes the stamp, so the
# next `build` rebuilds the cached root instead of silently using a stale one.
PACKAGES = (
    "openssh-server",
    "openssh-client",
    "python3",
    "sudo",
    "systemd",
    "systemd-sysv",
    "dbus",
    "libpam-google-authenticator",
    "libpam-oath",
    "oathtool",
    "procps",
    "iproute2",
)

# Bump when the post-debootstrap preparation of the root changes.
ROOT_FORMAT = 2

PORT_RANGE = (22200, 22999)
LISTEN_ADDRESS = "127.0.0.1"

USERS = ("admin", "mfa", "pwonly")

_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,23}$")


class LabError(Exception):
    """A failure the lab reports as one clear line."""


def validate_name(name: str) -> str:
    """Return *name* if it can name a lab (and prefix hostnames), else raise."""
    if not isinstance(name, str) or not _NAME_RE.match(name) or name.endswith("-") or "--" in name:
        raise LabError("invalid lab name %r: use 1-24 characters, lowercase letters, digits and single hyphens, starting with a letter" % (name,))
    return name


def validate_suite(suite: str) -> str:
    if suite not in SUITES:
        raise LabError("unknown suite %r: choose one of %s" % (suite, ", ".join(SUITES)))
    return suite


def host_names(lab: str, count: int) -> list[str]:
    """Hostnames of a lab's hosts: ``<lab>-1`` .. ``<lab>-N``."""
    if count < 1 or count > 50:
        raise LabError("--hosts must be between 1 and 50, got %d" % count)
    return ["%s-%d" % (lab, i) for i in range(1, count + 1)]


def machine_name(host: str) -> str:
    """Name given to systemd-nspawn (-M); prefixed so it never clashes with the host's."""
    return "fl-" + host


def allocate_ports(count, used, is_free, port_range=PORT_RANGE):
    """Pick *count* ports from *port_range* that are not in *used* and pass *is_free*."""
    ports = []
    low, high = port_range
    for port in range(low, high + 1):
        if port in used:
            continue
        if not is_free(port):
            continue
        ports.append(port)
        if len(ports) == count:
            return ports
    raise LabError(
        "no free TCP port left in %d-%d on %s for %d hosts; run `lab status` and `lab down` on labs you no longer need" % (low, high, LISTEN_ADDRESS, count)
    )


def sshd_opts(port: int) -> str:
    """The /etc/default/ssh line that sets the port without touching sshd_config.

    A port given on sshd's command line overrides ``Port`` (``sshd -T`` still
    prints the file's value), so the stock sshd_config and its Include line stay
    exactly as the distribution ships them.
    """
    return 'SSHD_OPTS="-p %d -o ListenAddress=%s"\n' % (port, LISTEN_ADDRESS)


def root_stamp(suite: str, mirror: str, packages=PACKAGES) -> dict:
    return {"format": ROOT_FORMAT, "suite": suite, "mirror": mirror, "packages": sorted(packages)}


def stamp_matches(existing_text: str | None, wanted: dict) -> bool:
    if not existing_text:
        return False
    try:
        existing = json.loads(existing_text)
    except ValueError:
        return False
    return existing == wanted


def parse_ssh_banner(banner: bytes) -> str | None:
    """Return the OpenSSH version (e.g. ``9.2p1``) from a server identification line."""
    match = re.match(rb"SSH-2\.0-OpenSSH_([0-9][0-9.]*p?[0-9]*)", banner)
    if not match:
        return None
    return match.group(1).decode("ascii")


def known_hosts_lines(port: int, pubkeys) -> list[str]:
    """known_hosts lines for a host at 127.0.0.1:*port* from its ``.pub`` host key texts."""
    lines = []
    for text in pubkeys:
        fields = text.split()
        if len(fields) < 2:
            continue
        lines.append("[%s]:%d %s %s" % (LISTEN_ADDRESS, port, fields[0], fields[1]))
    return lines


def parse_proc_mounts(text: str):
    """Yield mount points from /proc/mounts text (octal escapes decoded)."""
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 2:
            yield re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[1])


def mounts_under(proc_mounts_text: str, directory: str) -> list[str]:
    """Mount points at or below *directory*, deepest first (the order to unmount them)."""
    prefix = directory.rstrip("/") + "/"
    found = [m for m in parse_proc_mounts(proc_mounts_text) if m == directory or m.startswith(prefix)]
    return sorted(set(found), key=lambda m: (-m.count("/"), m))


def build_inventory(lab: dict) -> dict:
    """The Ansible inventory (as a dict) for a lab's state.

    *lab* is the state written by ``up``: name, suite, dir, users (passwords and
    private key paths) and hosts (name, port, openssh version, totp secrets).
    """
    users = lab["users"]
    group = "lab_" + lab["name"].replace("-", "_")
    hosts = {}
    for host in lab["hosts"]:
        hosts[host["name"]] = {
            "ansible_port": host["port"],
            "lab_machine": host["machine"],
            "lab_root": host["root"],
            "lab_openssh_version": host.get("openssh_version"),
            "lab_totp_secrets": dict(host.get("totp_secrets", {})),
        }
    return {
        "all": {
            "children": {
                group: {
                    "hosts": hosts,
                    "vars": {
                        "ansible_host": LISTEN_ADDRESS,
                        "ansible_user": "admin",
                        "ansible_ssh_private_key_file": users["admin"]["private_key"],
                        "ansible_become_password": users["admin"]["password"],
                        "ansible_python_interpreter": "/usr/bin/python3",
                        "ansible_ssh_common_args": (
                            "-o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes "
                            "-o IdentitiesOnly=yes -o PreferredAuthentications=publickey" % lab["known_hosts"]
                        ),
                        # the collection's kbdint connection plugin checks host keys against the same file
                        "ansible_kbdint_known_hosts_file": lab["known_hosts"],
                        "lab_name": lab["name"],
                        "lab_suite": lab["suite"],
                        "lab_dir": lab["dir"],
                        "lab_known_hosts": lab["known_hosts"],
                        "lab_command": lab["command"],
                        "lab_users": users,
                    },
                }
            }
        }
    }


_PLAIN_RE = re.compile(r"^[A-Za-z0-9_./@%+-][A-Za-z0-9_./@%+: -]*$")
_YAML_WORDS = {"y", "yes", "n", "no", "true", "false", "on", "off", "null", "~"}


def _scalar(value) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    text = str(value)
    if text and _PLAIN_RE.match(text) and text.lower() not in _YAML_WORDS and not text.endswith(" ") and ": " not in text and not re.match(r"^[0-9.+-]", text):
        return text
    # JSON strings are valid YAML double-quoted scalars.
    return json.dumps(text)


def render_yaml(data, indent: int = 0) -> str:
    """Render dicts, lists and scalars as block YAML (enough for an inventory)."""
    pad = "  " * indent
    out = []
    if isinstance(data, dict):
        if not data:
            return pad + "{}\n"
        for key, value in data.items():
            if isinstance(value, (dict, list)) and value:
                out.append("%s%s:\n" % (pad, _scalar(key)))
                out.append(render_yaml(value, indent + 1))
            elif isinstance(value, (dict, list)):
                out.append("%s%s: %s\n" % (pad, _scalar(key), "{}" if isinstance(value, dict) else "[]"))
            else:
                out.append("%s%s: %s\n" % (pad, _scalar(key), _scalar(value)))
        return "".join(out)
    if isinstance(data, list):
        for value in data:
            if isinstance(value, (dict, list)) and value:
                rendered = render_yaml(value, indent + 1)
                out.append("%s- %s" % (pad, rendered.lstrip()))
            else:
                out.append("%s- %s\n" % (pad, _scalar(value)))
        return "".join(out)
    return pad + _scalar(data) + "\n"


def setup_script(host: str, users_public_keys: dict, admin_sudo_nopasswd=("/usr/sbin/sshd -T", "/usr/sbin/sshd -t")) -> str:
    """Shell script run inside a host's root (chroot) before its first boot.

    Creates the test users, their authorized_keys, the mfa user's TOTP secret
    (with the real google-authenticator tool), host keys and hostname. It does
    not touch sshd_config or any PAM file. Passwords are set separately
    through chpasswd's standard input so they never sit in a file.
    """
    lines = [
        "set -eu",
        "echo %s > /etc/hostname" % host,
        "printf '127.0.0.1 localhost\\n127.0.1.1 %s\\n' > /etc/hosts" % host,
        "rm -f /etc/ssh/ssh_host_*",
        "ssh-keygen -A >/dev/null",
    ]
    for user in USERS:
        groups = " -G sudo" if user == "admin" else ""
        lines.append("id -u %s >/dev/null 2>&1 || useradd -m -s /bin/bash%s %s" % (user, groups, user))
        key = users_public_keys.get(user)
        if key:
            lines += [
                "install -d -m 0700 -o %s -g %s /home/%s/.ssh" % (user, user, user),
                "printf '%%s\\n' '%s' > /home/%s/.ssh/authorized_keys" % (key.strip(), user),
                "chown %s:%s /home/%s/.ssh/authorized_keys" % (user, user, user),
                "chmod 0600 /home/%s/.ssh/authorized_keys" % user,
            ]
    lines += [
        # Real secret from the real tool: time-based, disallow reuse, rate limit 3/30s, window 3.
        "su -s /bin/sh mfa -c 'google-authenticator -t -d -f -C -r 3 -R 30 -w 3 -Q NONE -s /home/mfa/.google_authenticator' >/dev/null",
        "chmod 0400 /home/mfa/.google_authenticator",
    ]
    if admin_sudo_nopasswd:
        rule = ", ".join("%s, %s *" % (cmd, cmd) for cmd in admin_sudo_nopasswd)
        lines += [
            "printf '%%s\\n' 'admin ALL=(root) NOPASSWD: %s' > /etc/sudoers.d/fleetauth-lab" % rule,
            "chmod 0440 /etc/sudoers.d/fleetauth-lab",
        ]
    return "\n".join(lines) + "\n"
