#!/usr/bin/env python
# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleetauth.ssh lab: a fleet of real Debian hosts on this machine.

Each host is an overlayfs over a cached debootstrap root, booted with systemd
as PID 1 by systemd-nspawn, with sshd listening on 127.0.0.1 at its own port.
Python standard library only.

    lab.py build  [--suite bookworm]
    lab.py up     --name NAME [--hosts N] [--suite S] [--inventory PATH]
    lab.py down   (--name NAME | --all)
    lab.py status
    lab.py exec   --name NAME --host HOST -- COMMAND...
    lab.py inventory --name NAME

State lives in $FLEETAUTH_LAB_HOME (default ~/.cache/fleetauth-lab): roots/
holds one cached root per suite, labs/NAME/ the overlays, keys, passwords,
TOTP secrets and the inventory of one lab (mode 0700).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from labcore import (
    DEFAULT_MIRROR,
    DEFAULT_SUITE,
    LISTEN_ADDRESS,
    PACKAGES,
    SUITES,
    USERS,
    LabError,
    allocate_ports,
    build_inventory,
    host_names,
    known_hosts_lines,
    machine_name,
    mounts_under,
    parse_ssh_banner,
    render_yaml,
    root_stamp,
    setup_script,
    sshd_opts,
    stamp_matches,
    validate_name,
    validate_suite,
)

HOME = os.environ.get("FLEETAUTH_LAB_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "fleetauth-lab")
ROOTS = os.path.join(HOME, "roots")
LABS = os.path.join(HOME, "labs")
THIS = os.path.abspath(__file__)
APT_HINT = "apt-get update && apt-get install -y debootstrap systemd-container openssh-client util-linux"
START = time.monotonic()


def say(message: str) -> None:
    print("[lab %5.1fs] %s" % (time.monotonic() - START, message), flush=True)


def run(cmd, **kwargs) -> subprocess.CompletedProcess:
    kwargs.setdefault("check", True)
    try:
        return subprocess.run(cmd, **kwargs)  # pylint: disable=subprocess-run-check
    except subprocess.CalledProcessError as exc:
        detail = (exc.stderr or b"").decode("utf-8", "replace").strip().splitlines()[-5:]
        raise LabError("command failed (%s): %s%s" % (exc.returncode, " ".join(cmd[:3]), ("\n  " + "\n  ".join(detail)) if detail else "")) from None


def require_host_tools(*tools: str) -> None:
    if os.geteuid() != 0:
        raise LabError("the lab must run as root (overlay mounts and systemd-nspawn need it); try: sudo %s" % " ".join(sys.argv))
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        raise LabError("%s not found; install with: %s" % (", ".join(missing), APT_HINT))


@contextlib.contextmanager
def locked(name: str):
    os.makedirs(HOME, mode=0o700, exist_ok=True)
    with open(os.path.join(HOME, name + ".lock"), "w", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def write_private(path: str, text: str) -> None:
    fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(path + ".tmp", path)


# ---------------------------------------------------------------- build


def root_dir(suite: str) -> str:
    return os.path.join(ROOTS, suite)


def cmd_build(args) -> int:
    build_root(args.suite, args.mirror)
    return 0


def build_root(suite: str, mirror: str) -> str:
    validate_suite(suite)
    require_host_tools("debootstrap", "chroot")
    target = root_dir(suite)
    wanted = root_stamp(suite, mirror)
    stamp_path = os.path.join(target, ".fleetauth-lab-stamp")
    with locked("build-" + suite):
        existing = None
        if os.path.exists(stamp_path):
            with open(stamp_path, encoding="utf-8") as handle:
                existing = handle.read()
        if stamp_matches(existing, wanted):
            say("root for %s is cached at %s (nothing to do)" % (suite, target))
            return target
        if os.path.exists(target) and labs_using(suite):
            raise LabError("the cached %s root is out of date but labs %s use it; run `lab down` on them first" % (suite, ", ".join(labs_using(suite))))
        os.makedirs(ROOTS, mode=0o700, exist_ok=True)
        work = target + ".building"
        shutil.rmtree(work, ignore_errors=True)
        say("building %s root with debootstrap from %s (once per suite)" % (suite, mirror))
        debootstrap(suite, work, mirror)
        say("preparing %s root" % suite)
        prepare_root(work)
        with open(os.path.join(work, ".fleetauth-lab-stamp"), "w", encoding="utf-8") as handle:
            json.dump(wanted, handle)
        if os.path.exists(target):
            shutil.rmtree(target)
        os.rename(work, target)
        say("root for %s ready at %s" % (suite, target))
    return target


def debootstrap(suite: str, work: str, mirror: str) -> None:
    cmd = ["debootstrap", "--variant=minbase", "--include=" + ",".join(PACKAGES), suite, work, mirror]
    groups = {"Retrieving": "downloading", "Validating": "downloading", "Extracting": "extracting", "Unpacking": "installing", "Configuring": "installing"}
    counts = {}
    last_group = None
    last_print = 0.0
    tail = []
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:
        for line in proc.stdout:
            line = line.rstrip()
            tail = (tail + [line])[-15:]
            words = line.split()
            group = groups.get(words[1]) if len(words) > 1 and words[0] == "I:" else None
            if group:
                counts[group] = counts.get(group, 0) + 1
                now = time.monotonic()
                if group != last_group or now - last_print > 10:
                    say("  debootstrap %s: %s (%d steps)" % (suite, group, counts[group]))
                    last_group, last_print = group, now
            elif line.startswith(("E:", "W:")):
                say("  debootstrap %s: %s" % (suite, line))
        rc = proc.wait()
    if rc != 0:
        raise LabError("debootstrap %s failed (exit %d); last lines:\n  %s" % (suite, rc, "\n  ".join(tail)))


def prepare_root(root: str) -> None:
    """Suite-wide preparation of a fresh root; per-host setup happens in `up`."""
    script = "\n".join(
        [
            "set -eu",
            # Each host generates its own host keys and machine id.
            "rm -f /etc/ssh/ssh_host_*",
            ": > /etc/machine-id",
            # No consoles to log in on: less to boot, nothing waiting on a tty.
            "systemctl mask console-getty.service getty@tty1.service serial-getty@.service >/dev/null 2>&1 || true",
            "systemctl mask systemd-networkd-wait-online.service >/dev/null 2>&1 || true",
            "systemctl enable ssh.service >/dev/null 2>&1 || true",
            "apt-get clean",
            "rm -rf /var/lib/apt/lists/*",
        ]
    )
    run(["chroot", root, "/bin/sh", "-c", script], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


# ---------------------------------------------------------------- state


def lab_dir(name: str) -> str:
    return os.path.join(LABS, name)


def load_state(name: str) -> dict | None:
    path = os.path.join(lab_dir(name), "lab.json")
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def save_state(state: dict) -> None:
    write_private(os.path.join(state["dir"], "lab.json"), json.dumps(state, indent=2, sort_keys=True))


def all_labs() -> list[str]:
    try:
        return sorted(entry for entry in os.listdir(LABS) if os.path.isdir(os.path.join(LABS, entry)))
    except OSError:
        return []


def labs_using(suite: str) -> list[str]:
    return [name for name in all_labs() if (load_state(name) or {}).get("suite") == suite]


def used_ports() -> set:
    ports = set()
    for name in all_labs():
        for host in (load_state(name) or {}).get("hosts", []):
            ports.add(host["port"])
    return ports


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((LISTEN_ADDRESS, port))
        except OSError:
            return False
    return True


# ---------------------------------------------------------------- up


def cmd_up(args) -> int:
    name = validate_name(args.name)
    suite = validate_suite(args.suite)
    require_host_tools("debootstrap", "systemd-nspawn", "ssh-keygen", "nsenter", "chroot", "mount")
    root = build_root(suite, args.mirror)
    if load_state(name):
        raise LabError("lab %r is already up (see `lab status`); run `lab down --name %s` first" % (name, name))
    hosts = host_names(name, args.hosts)
    directory = lab_dir(name)
    with locked("labs"):
        os.makedirs(directory, mode=0o700, exist_ok=True)
        ports = allocate_ports(len(hosts), used_ports(), port_is_free)
        state = {
            "name": name,
            "suite": suite,
            "dir": directory,
            "known_hosts": os.path.join(directory, "known_hosts"),
            "inventory": os.path.abspath(args.inventory) if args.inventory else os.path.join(directory, "inventory.yml"),
            "command": "%s %s" % (sys.executable, THIS),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "users": {},
            "hosts": [
                {"name": host, "port": port, "machine": machine_name(host), "root": os.path.join(directory, "hosts", host, "merged")}
                for host, port in zip(hosts, ports)
            ],
        }
        save_state(state)
    try:
        make_users(state)
        save_state(state)
        for host in state["hosts"]:
            say("%s: preparing overlay (port %d)" % (host["name"], host["port"]))
            prepare_host(state, host, root)
            save_state(state)
        for host in state["hosts"]:
            boot_host(state, host)
            save_state(state)
        for host in state["hosts"]:
            wait_for_sshd(state, host, timeout=args.timeout)
            save_state(state)
        write_known_hosts(state)
        write_inventory(state)
        save_state(state)
    except BaseException:
        say("up failed; taking lab %s down again" % name)
        teardown(name)
        raise
    say("lab %s is up: %d %s host(s); inventory %s" % (name, len(hosts), suite, state["inventory"]))
    for host in state["hosts"]:
        say("  %s  ssh -p %d admin@%s  (OpenSSH %s)" % (host["name"], host["port"], LISTEN_ADDRESS, host.get("openssh_version")))
    return 0


def make_users(state: dict) -> None:
    keys = os.path.join(state["dir"], "keys")
    os.makedirs(keys, mode=0o700, exist_ok=True)
    for user in USERS:
        entry = {"password": secrets.token_urlsafe(18)}
        if user != "pwonly":
            path = os.path.join(keys, user)
            if not os.path.exists(path):
                run(
                    ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "%s@fleetauth-lab" % user, "-f", path],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                )
            entry["private_key"] = path
            with open(path + ".pub", encoding="utf-8") as handle:
                entry["public_key"] = handle.read().strip()
        state["users"][user] = entry


def prepare_host(state: dict, host: dict, root: str) -> None:
    base = os.path.dirname(host["root"])
    for sub in ("upper", "work", "merged"):
        os.makedirs(os.path.join(base, sub), mode=0o755, exist_ok=True)
    run(
        ["mount", "-t", "overlay", "overlay", "-o", "lowerdir=%s,upperdir=%s/upper,workdir=%s/work" % (root, base, base), host["root"]],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    merged = host["root"]
    pubkeys = {user: entry["public_key"] for user, entry in state["users"].items() if "public_key" in entry}
    run(["chroot", merged, "/bin/sh", "-c", setup_script(host["name"], pubkeys)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    passwords = "".join("%s:%s\n" % (user, entry["password"]) for user, entry in state["users"].items())
    run(["chroot", merged, "chpasswd"], input=passwords.encode(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    with open(os.path.join(merged, "etc", "machine-id"), "w", encoding="ascii") as handle:
        handle.write(secrets.token_hex(16) + "\n")
    # Only the port: sshd_config, its drop-ins and PAM stay exactly as the suite ships them.
    with open(os.path.join(merged, "etc", "default", "ssh"), "a", encoding="utf-8") as handle:
        handle.write("\n# fleetauth lab: port only; sshd_config stays stock\n" + sshd_opts(host["port"]))
    with open(os.path.join(merged, "home", "mfa", ".google_authenticator"), encoding="ascii") as handle:
        host["totp_secrets"] = {"mfa": handle.readline().strip()}


CGROUP_ROOTS = ("/sys/fs/cgroup/systemd", "/sys/fs/cgroup/unified", "/sys/fs/cgroup")


def cgroup_dirs(machine: str) -> list[str]:
    """A private cgroup per container in each systemd-relevant hierarchy.

    With --keep-unit and no systemd on the host, nspawn runs the container in
    its caller's cgroup; containers started from the same cgroup then share it
    and their systemd instances race creating and removing the same
    sub-cgroups (units failing with status=219/CGROUP, e.g.
    systemd-user-sessions, which leaves /run/nologin behind).
    """
    dirs = []
    for root in CGROUP_ROOTS:
        if os.path.exists(os.path.join(root, "cgroup.procs")) and os.access(root, os.W_OK):
            dirs.append(os.path.join(root, "fleetauth-lab", machine))
            if root == "/sys/fs/cgroup":
                break
    return dirs


def enter_cgroups(dirs: list[str]) -> None:
    for directory in dirs:
        os.makedirs(directory, exist_ok=True)
        with open(os.path.join(directory, "cgroup.procs"), "w", encoding="ascii") as handle:
            handle.write(str(os.getpid()))


def remove_cgroups(dirs: list[str]) -> None:
    for directory in dirs:
        for root, subdirs, _files in os.walk(directory, topdown=False):
            for sub in subdirs:
                with contextlib.suppress(OSError):
                    os.rmdir(os.path.join(root, sub))
        with contextlib.suppress(OSError):
            os.rmdir(directory)


def boot_host(state: dict, host: dict) -> None:
    log = open(os.path.join(os.path.dirname(host["root"]), "console.log"), "ab")  # noqa: SIM115  pylint: disable=consider-using-with
    cmd = [
        "systemd-nspawn",
        "--quiet",
        "-D",
        host["root"],
        "-M",
        host["machine"],
        "-b",
        "--register=no",
        "--keep-unit",
        "--console=pipe",
        "--resolv-conf=off",
        "--timezone=off",
        "--link-journal=no",
    ]
    env = dict(os.environ, SYSTEMD_NSPAWN_TMPFS_TMP="1")
    groups = cgroup_dirs(host["machine"])
    remove_cgroups(groups)  # leftovers of an earlier lab with this name
    proc = subprocess.Popen(  # pylint: disable=consider-using-with
        cmd,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
        start_new_session=True,
        env=env,
        preexec_fn=lambda: enter_cgroups(groups),  # pylint: disable=subprocess-popen-preexec-fn
    )
    log.close()
    host["nspawn_pid"] = proc.pid
    say("%s: booting (systemd-nspawn pid %d)" % (host["name"], proc.pid))


def container_init_pid(nspawn_pid: int) -> int | None:
    """PID (in our namespace) of the container's systemd: the nspawn process's child."""
    try:
        for task in os.listdir("/proc/%d/task" % nspawn_pid):
            with open("/proc/%d/task/%s/children" % (nspawn_pid, task), encoding="ascii") as handle:
                for pid in handle.read().split():
                    return int(pid)
    except OSError:
        return None
    return None


def wait_for_sshd(state: dict, host: dict, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    started = time.monotonic()
    while time.monotonic() < deadline:
        if not pid_alive(host["nspawn_pid"]):
            raise LabError("%s: systemd-nspawn exited during boot; console log:\n%s" % (host["name"], console_tail(host)))
        banner = read_banner(host["port"])
        if banner:
            host["openssh_version"] = parse_ssh_banner(banner)
            host["init_pid"] = container_init_pid(host["nspawn_pid"])
            say("%s: sshd answered after %.1fs (%s)" % (host["name"], time.monotonic() - started, banner.decode("ascii", "replace").strip()))
            wait_for_boot(host, max(1.0, deadline - time.monotonic()))
            return
        time.sleep(0.1)
    raise LabError("%s: sshd did not answer on %s:%d within %ds; console log:\n%s" % (host["name"], LISTEN_ADDRESS, host["port"], timeout, console_tail(host)))


def inside(pid: int, command: list) -> list:
    """The argv that runs *command* inside the container whose init is *pid*."""
    return ["nsenter", "-t", str(pid), "-m", "-u", "-i", "-p", "-r", "-w", "--"] + command


def wait_for_boot(host: dict, timeout: float) -> None:
    """Wait until systemd inside says boot is over, so pam_nologin no longer turns users away."""
    pid = host.get("init_pid")
    if not pid:
        raise LabError("%s: cannot find the container's init process" % host["name"])
    try:
        proc = subprocess.run(inside(pid, ["systemctl", "is-system-running", "--wait"]), capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise LabError("%s: boot did not finish within %ds; console log:\n%s" % (host["name"], timeout, console_tail(host))) from None
    state = proc.stdout.strip()
    if state not in ("running", "degraded"):
        raise LabError("%s: systemd reports %r after boot; console log:\n%s" % (host["name"], state, console_tail(host)))
    # pam_nologin refuses non-root logins while /run/nologin exists (until
    # systemd-user-sessions has run); make sure it is gone, not just scheduled.
    deadline = time.monotonic() + timeout
    while subprocess.run(inside(pid, ["test", "-e", "/run/nologin"]), check=False).returncode == 0:
        if time.monotonic() > deadline:
            raise LabError("%s: /run/nologin still exists after boot; console log:\n%s" % (host["name"], console_tail(host)))
        time.sleep(0.2)
    if state == "degraded":
        failed = subprocess.run(inside(pid, ["systemctl", "--failed", "--no-legend", "--plain"]), capture_output=True, text=True, check=False).stdout
        say("%s: booted degraded (failed units: %s)" % (host["name"], " ".join(line.split()[0] for line in failed.splitlines() if line.strip()) or "?"))


def read_banner(port: int) -> bytes | None:
    try:
        with socket.create_connection((LISTEN_ADDRESS, port), timeout=1) as sock:
            data = sock.recv(256)
            return data.splitlines()[0] if data.startswith(b"SSH-") else None
    except OSError:
        return None


def console_tail(host: dict) -> str:
    try:
        with open(os.path.join(os.path.dirname(host["root"]), "console.log"), "rb") as handle:
            return handle.read()[-3000:].decode("utf-8", "replace")
    except OSError:
        return "(no console log)"


def write_known_hosts(state: dict) -> None:
    lines = []
    for host in state["hosts"]:
        keydir = os.path.join(host["root"], "etc", "ssh")
        texts = []
        for entry in sorted(os.listdir(keydir)):
            if entry.startswith("ssh_host_") and entry.endswith(".pub"):
                with open(os.path.join(keydir, entry), encoding="ascii") as handle:
                    texts.append(handle.read())
        lines += known_hosts_lines(host["port"], texts)
    write_private(state["known_hosts"], "\n".join(lines) + "\n")


def write_inventory(state: dict) -> None:
    text = "# fleetauth.ssh lab %s: generated by tests/lab/lab.py; holds secrets, never commit it\n" % state["name"]
    text += render_yaml(build_inventory(state))
    os.makedirs(os.path.dirname(state["inventory"]), exist_ok=True)
    write_private(state["inventory"], text)


# ---------------------------------------------------------------- down


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        with open("/proc/%d/stat" % pid, encoding="ascii") as handle:
            return handle.read().split(") ")[-1][:1] not in ("Z", "X")
    except OSError:
        return False


def nspawn_pids_under(directory: str) -> list[int]:
    """systemd-nspawn processes whose command line names a path under *directory*."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % entry, "rb") as handle:
                argv = handle.read().split(b"\0")
        except OSError:
            continue
        if argv and os.path.basename(argv[0]) == b"systemd-nspawn" and any(arg.startswith(directory.encode() + b"/") for arg in argv):
            found.append(int(entry))
    return found


def teardown(name: str) -> bool:
    directory = lab_dir(name)
    if not os.path.isdir(directory):
        return False
    state = load_state(name) or {"hosts": []}
    pids = set(nspawn_pids_under(directory))
    pids.update(h["nspawn_pid"] for h in state["hosts"] if pid_alive(h.get("nspawn_pid")) and h["nspawn_pid"] in pids)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)  # nspawn turns this into an orderly halt of the container
    deadline = time.monotonic() + 20
    while pids and time.monotonic() < deadline:
        pids = {pid for pid in pids if pid_alive(pid)}
        time.sleep(0.1)
    for pid in pids:
        say("%s: systemd-nspawn pid %d did not halt in time; killing it" % (name, pid))
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    with open("/proc/mounts", encoding="utf-8") as handle:
        mounts = mounts_under(handle.read(), directory)
    for mount_point in mounts:
        if subprocess.run(["umount", mount_point], stderr=subprocess.DEVNULL, check=False).returncode != 0:
            subprocess.run(["umount", "-l", mount_point], stderr=subprocess.DEVNULL, check=False)
    for host in state["hosts"]:
        shutil.rmtree("/run/systemd/nspawn/propagate/%s" % host.get("machine", ""), ignore_errors=True)
        if host.get("machine"):
            remove_cgroups(cgroup_dirs(host["machine"]))
    with open("/proc/mounts", encoding="utf-8") as handle:
        left = mounts_under(handle.read(), directory)
    if left:
        raise LabError("could not unmount %s; leaving %s in place" % (", ".join(left), directory))
    inventory = state.get("inventory")
    shutil.rmtree(directory)
    if inventory and not inventory.startswith(directory + "/") and os.path.exists(inventory):
        os.unlink(inventory)
    return True


def cmd_down(args) -> int:
    require_host_tools()
    names = all_labs() if args.all else [validate_name(args.name)]
    with locked("labs"):
        for name in names:
            if teardown(name):
                say("lab %s is down" % name)
            else:
                say("lab %s is not up (nothing to do)" % name)
    return 0


# ---------------------------------------------------------------- status / exec / inventory


def cmd_status(_args) -> int:
    names = all_labs()
    if not names:
        print("no labs are up")
        return 0
    for name in names:
        state = load_state(name) or {}
        print("%s  suite=%s  inventory=%s" % (name, state.get("suite", "?"), state.get("inventory", "?")))
        for host in state.get("hosts", []):
            alive = "running" if pid_alive(host.get("nspawn_pid")) else "stopped"
            print("  %-24s port %-5d %-8s OpenSSH %s" % (host["name"], host["port"], alive, host.get("openssh_version")))
    return 0


def find_host(name: str, hostname: str) -> dict:
    state = load_state(validate_name(name))
    if not state:
        raise LabError("lab %r is not up" % name)
    for host in state["hosts"]:
        if host["name"] == hostname or hostname == str(state["hosts"].index(host) + 1):
            return host
    raise LabError("lab %s has no host %r (hosts: %s)" % (name, hostname, ", ".join(h["name"] for h in state["hosts"])))


def cmd_exec(args) -> int:
    require_host_tools("nsenter")
    host = find_host(args.name, args.host)
    pid = container_init_pid(host.get("nspawn_pid") or 0)
    if not pid:
        raise LabError("%s is not running" % host["name"])
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        raise LabError("exec needs a command after --")
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root", "LANG": "C.UTF-8", "TERM": "dumb"}
    return subprocess.run(inside(pid, command), env=env, check=False).returncode


def cmd_inventory(args) -> int:
    state = load_state(validate_name(args.name))
    if not state:
        raise LabError("lab %r is not up" % args.name)
    print(state["inventory"])
    return 0


def main(argv=None) -> int:
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `lab status | head` ends quietly
    parser = argparse.ArgumentParser(prog="lab", description=__doc__.split("\n\n", maxsplit=1)[0])
    sub = parser.add_subparsers(dest="action", required=True)
    build = sub.add_parser("build", help="debootstrap and cache a suite's root (no-op when cached)")
    build.add_argument("--suite", default=DEFAULT_SUITE, choices=SUITES)
    build.add_argument("--mirror", default=os.environ.get("FLEETAUTH_LAB_MIRROR", DEFAULT_MIRROR))
    up = sub.add_parser("up", help="boot a lab of N hosts and write its inventory")
    up.add_argument("--name", required=True)
    up.add_argument("--hosts", type=int, default=3)
    up.add_argument("--suite", default=DEFAULT_SUITE, choices=SUITES)
    up.add_argument("--mirror", default=os.environ.get("FLEETAUTH_LAB_MIRROR", DEFAULT_MIRROR))
    up.add_argument("--inventory", help="where to write the inventory (default: in the lab's state directory)")
    up.add_argument("--timeout", type=int, default=90, help="seconds to wait for each sshd")
    down = sub.add_parser("down", help="stop a lab and delete everything it made (idempotent)")
    which = down.add_mutually_exclusive_group(required=True)
    which.add_argument("--name")
    which.add_argument("--all", action="store_true")
    sub.add_parser("status", help="list labs and their hosts")
    ex = sub.add_parser("exec", help="run a command inside a lab host (as root)")
    ex.add_argument("--name", required=True)
    ex.add_argument("--host", required=True, help="host name or its number (1..N)")
    ex.add_argument("command", nargs=argparse.REMAINDER)
    inv = sub.add_parser("inventory", help="print the path of a lab's inventory")
    inv.add_argument("--name", required=True)
    args = parser.parse_args(argv)
    handlers = {"build": cmd_build, "up": cmd_up, "down": cmd_down, "status": cmd_status, "exec": cmd_exec, "inventory": cmd_inventory}
    try:
        return handlers[args.action](args)
    except LabError as exc:
        print("lab: error: %s" % exc, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("lab: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
