# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark fleetauth.ssh.authorized_key_audit against a loop of ``ssh-keygen -lf`` per file.

    .venv/2.19/bin/python bench/bench_authorized_keys.py [--accounts 10000] [--keys 5] [--runs 5] [--keygen-runs 3]

On one lab host (bookworm unless --suite says otherwise, lab name ``aka-bench``) it creates
N accounts with K distinct keys each (Ed25519, ECDSA P-256 and RSA 3072/4096 public keys:
EC points made with the `cryptography` package, RSA moduli random odd numbers of the
right size -- sshd and ssh-keygen do not check primality, so parsing work is the same),
then measures on the host itself:

* the module: the AnsiballZ payload Ansible ships (made by one real ad-hoc run), run as
  root with python3 -- interpreter start, payload unpacking, audit, JSON result;
* the loop: ``for f in /home/*/.ssh/authorized_keys; do ssh-keygen -lf "$f"; done``.

It checks that both give the same fingerprints for every file, prints medians and the
ratio, writes bench/results/authorized_keys-<time>.json, and takes the lab down again
(--keep leaves it up). Goal from issue 4: module <= 1.5 s and >= 20x faster than the loop.
"""

from __future__ import annotations

import argparse
import base64
import glob
import json
import os
import random
import shlex
import statistics
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
LAB = [sys.executable, os.path.join(REPO, "tests", "lab", "lab.py")]
FIRST_UID = 20001


def say(text):
    print("[bench %6.1fs] %s" % (time.monotonic() - START, text), flush=True)


START = time.monotonic()


def ssh_string(data):
    return struct.pack(">I", len(data)) + data


def mpint(value):
    raw = value.to_bytes((value.bit_length() + 8) // 8, "big")
    return ssh_string(raw)


def make_keys(count, rng):
    """*count* distinct public key lines, a realistic mix of types."""
    try:
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
    except ImportError:  # pragma: no cover - the controller venv has cryptography (ansible-core needs it)
        sys.exit("the bench needs the cryptography package (it comes with ansible-core)")
    lines = []
    for index in range(count):
        kind = index % 5
        if kind in (0, 1):
            blob = ssh_string(b"ssh-ed25519") + ssh_string(rng.randbytes(32))
            name = "ssh-ed25519"
        elif kind == 2:
            point = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
            blob = ssh_string(b"ecdsa-sha2-nistp256") + ssh_string(b"nistp256") + ssh_string(point)
            name = "ecdsa-sha2-nistp256"
        else:
            bits = 3072 if kind == 3 else 4096
            modulus = rng.getrandbits(bits) | (1 << (bits - 1)) | 1
            blob = ssh_string(b"ssh-rsa") + mpint(65537) + mpint(modulus)
            name = "ssh-rsa"
        lines.append("%s %s bench-key-%d@example" % (name, base64.b64encode(blob).decode(), index))
    return lines


def lab(*args, check=True, capture=False):
    return subprocess.run(LAB + list(args), check=check, capture_output=capture, text=True)


def host_exec(name, command, capture=True):
    return subprocess.run(LAB + ["exec", "--name", name, "--host", "1", "--", "bash", "-c", command], check=True, capture_output=capture, text=True)


def load_inventory(name):
    import yaml

    path = lab("inventory", "--name", name, capture=True).stdout.strip()
    with open(path) as handle:
        inventory = yaml.safe_load(handle)
    group = next(iter(inventory["all"]["children"].values()))
    host_name, host = next(iter(group["hosts"].items()))
    return path, host_name, host


def populate(root, accounts, keys_per_account, rng):
    """Accounts, homes and authorized_keys written straight into the host's root file system."""
    say("making %d keys" % (accounts * keys_per_account))
    keys = make_keys(accounts * keys_per_account, rng)
    say("writing %d accounts" % accounts)
    passwd, group, shadow = [], [], []
    for index in range(accounts):
        uid = FIRST_UID + index
        name = "bu%05d" % index
        home = "/home/" + name
        passwd.append("%s:x:%d:%d::%s:/bin/bash\n" % (name, uid, uid, home))
        group.append("%s:x:%d:\n" % (name, uid))
        shadow.append("%s:!:19000:0:99999:7:::\n" % name)
        ssh = os.path.join(root, home.lstrip("/"), ".ssh")
        os.makedirs(ssh, mode=0o700)
        os.chmod(os.path.dirname(ssh), 0o750)
        path = os.path.join(ssh, "authorized_keys")
        with open(path, "w") as handle:
            handle.write("\n".join(keys[index * keys_per_account : (index + 1) * keys_per_account]) + "\n")
        os.chmod(path, 0o600)
        for entry in (os.path.dirname(ssh), ssh, path):
            os.lchown(entry, uid, uid)
    for name, lines in (("passwd", passwd), ("group", group), ("shadow", shadow)):
        with open(os.path.join(root, "etc", name), "a") as handle:
            handle.writelines(lines)


def payloads(root):
    pattern = os.path.join(root, "home", "admin", ".ansible", "tmp", "ansible-tmp-*", "AnsiballZ_authorized_key_audit.py")
    return set(glob.glob(pattern)) | set(glob.glob(pattern.replace(os.path.join("home", "admin"), "root")))


def payload_for(root, inventory, host_name, module_args):
    """Run the module once through Ansible (payload kept on the host); return the payload's path on the host."""
    before = payloads(root)
    env = dict(os.environ, ANSIBLE_KEEP_REMOTE_FILES="1", ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, "tests", "output", "collections"))
    started = time.monotonic()
    adhoc = subprocess.run(
        ["ansible", "-i", inventory, host_name, "-b", "-m", "fleetauth.ssh.authorized_key_audit", "-a", module_args, "-o"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.monotonic() - started
    if adhoc.returncode != 0:
        sys.exit("the ad-hoc run failed:\n%s" % (adhoc.stdout[-3000:] + adhoc.stderr[-3000:]))
    new = sorted(payloads(root) - before)
    if len(new) != 1:
        sys.exit("could not find the AnsiballZ payload Ansible left on the host")
    return "/" + os.path.relpath(new[0], root), seconds


def loadavg():
    with open("/proc/loadavg") as handle:
        return float(handle.read().split()[0])


TIMER = r"""
import json, subprocess, sys, time
started = time.monotonic()
proc = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
elapsed = time.monotonic() - started
sys.stdout.write(json.dumps({"seconds": elapsed, "rc": proc.returncode, "stderr": proc.stderr.decode()[-2000:]}) + "\n")
sys.stdout.flush()
open("/root/bench-last-output", "wb").write(proc.stdout)
"""


def timed_on_host(name, argv):
    result = host_exec(name, "python3 -c %s %s" % (shlex.quote(TIMER), " ".join(shlex.quote(a) for a in argv)))
    return json.loads(result.stdout.strip().splitlines()[-1])


def keygen_fingerprints(text):
    by_file = {}
    current = None
    for line in text.splitlines():
        if line.startswith("== "):
            current = line[3:]
            by_file[current] = []
        elif line.strip() and current:
            by_file[current].append(line.split()[1])
    return by_file


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--accounts", type=int, default=10000)
    parser.add_argument("--keys", type=int, default=5)
    parser.add_argument("--runs", type=int, default=7, help="module runs per key_report mode")
    parser.add_argument("--keygen-runs", type=int, default=3)
    parser.add_argument("--suite", default="bookworm")
    parser.add_argument("--name", default="aka-bench")
    parser.add_argument("--keep", action="store_true", help="leave the lab up")
    args = parser.parse_args()
    rng = random.Random(4)
    lab("down", "--name", args.name)
    lab("up", "--name", args.name, "--hosts", "1", "--suite", args.suite)
    try:
        inventory, host_name, host = load_inventory(args.name)
        root = host["lab_root"]
        populate(root, args.accounts, args.keys, rng)
        host_exec(args.name, "getent passwd | wc -l >/dev/null && sync")
        measured = {}
        output = None
        for mode in ("full", "fingerprints"):
            say("key_report=%s: one real run through Ansible (keeps the AnsiballZ payload on the host)" % mode)
            payload, ansible_seconds = payload_for(root, inventory, host_name, "key_report=%s" % mode)
            say("  ad-hoc ansible run (controller wall time, incl. ssh and result transfer): %.2fs" % ansible_seconds)
            times, loads = [], []
            for run in range(args.runs):
                loads.append(loadavg())
                timing = timed_on_host(args.name, ["python3", payload])
                if timing["rc"] != 0:
                    sys.exit("module run failed: %s" % timing["stderr"])
                times.append(timing["seconds"])
                say("  module run %d: %.3fs (load average %.2f)" % (run + 1, timing["seconds"], loads[-1]))
            with open(os.path.join(root, "root", "bench-last-output"), "rb") as handle:
                raw = handle.read()
            measured[mode] = {
                "seconds": times,
                "median": statistics.median(times),
                "min": min(times),
                "load": loads,
                "output_bytes": len(raw),
                "ansible_adhoc_seconds": ansible_seconds,
            }
            if mode == "full":
                output = json.loads(raw)

        loop = 'for f in /home/*/.ssh/authorized_keys; do echo "== $f"; ssh-keygen -lf "$f"; done'
        keygen_times, keygen_loads = [], []
        for run in range(args.keygen_runs):
            keygen_loads.append(loadavg())
            timing = timed_on_host(args.name, ["bash", "-c", loop])
            keygen_times.append(timing["seconds"])
            say("ssh-keygen loop run %d: %.2fs (load average %.2f)" % (run + 1, timing["seconds"], keygen_loads[-1]))
        with open(os.path.join(root, "root", "bench-last-output")) as handle:
            theirs = keygen_fingerprints(handle.read())

        mine = {}
        for user in output["users"].values():
            for key in user.get("keys", []):
                mine.setdefault(key["file"], []).append(key["fingerprint"])
        bench_files = {path: fps for path, fps in theirs.items() if "/bu" in path}
        mismatched = [path for path, fps in bench_files.items() if mine.get(path) != fps]
        total_keys = sum(len(fps) for fps in bench_files.values())
        say("fingerprints compared: %d files, %d keys, %d mismatching files" % (len(bench_files), total_keys, len(mismatched)))

        keygen_median = statistics.median(keygen_times)
        for entry in measured.values():
            entry["ratio"] = keygen_median / entry["median"]
            entry["goal_met"] = entry["median"] <= 1.5 and entry["ratio"] >= 20 and not mismatched
        report = {
            "when": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "suite": args.suite,
            "openssh": host.get("lab_openssh_version"),
            "cpus": os.cpu_count(),
            "accounts": args.accounts,
            "keys_per_account": args.keys,
            "module": measured,
            "keygen_loop_seconds": keygen_times,
            "keygen_loop_median": keygen_median,
            "keygen_loop_load": keygen_loads,
            "files_compared": len(bench_files),
            "keys_compared": total_keys,
            "mismatching_files": mismatched[:20],
            "summary": output["summary"],
        }
        os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
        path = os.path.join(HERE, "results", "authorized_keys-%s.json" % time.strftime("%Y%m%d-%H%M%S"))
        with open(path, "w") as handle:
            json.dump(report, handle, indent=2)
        print()
        print(
            "accounts x keys       : %d x %d (%s, OpenSSH %s, %d CPUs)"
            % (args.accounts, args.keys, args.suite, host.get("lab_openssh_version"), os.cpu_count())
        )
        for mode, entry in measured.items():
            print(
                "module, %-13s: median %.3f s (min %.3f) of %s  -> %.1fx  (output %.1f MB; goal %s)"
                % (
                    mode,
                    entry["median"],
                    entry["min"],
                    " ".join("%.3f" % t for t in entry["seconds"]),
                    entry["ratio"],
                    entry["output_bytes"] / 1e6,
                    "met" if entry["goal_met"] else "NOT met",
                )
            )
        print("ssh-keygen -lf loop   : median %.2f s of %s" % (keygen_median, " ".join("%.2f" % t for t in keygen_times)))
        print(
            "same fingerprints     : %s (%d files, %d keys)"
            % ("yes" if not mismatched else "NO, %d files differ" % len(mismatched), len(bench_files), total_keys)
        )
        print("load average (1 min)  : %s" % " ".join("%.2f" % x for e in measured.values() for x in e["load"]))
        print("results               : %s" % os.path.relpath(path, REPO))
        return 0 if not mismatched else 1
    finally:
        if not args.keep:
            lab("down", "--name", args.name)


if __name__ == "__main__":
    sys.exit(main())
