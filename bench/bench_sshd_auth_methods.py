# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark (not a test): what a no-change sshd_auth_methods run costs next to a bare `sshd -T`.

    python bench/bench_sshd_auth_methods.py [--suite bookworm] [--runs 15] [--lab NAME] [--keep]

Boots a one-host lab (or uses --lab NAME, which is then left up), applies
``password: disabled`` once so every measured run is a no-change run, then
measures, as medians over --runs repetitions (alternating the two sides):

1. on the host itself (one ``lab.py exec`` running a timing loop inside the
   host, so no connection or exec overhead is counted): a bare ``sshd -T``,
   the AnsiballZ payload of ``ansible.builtin.command sshd -T`` (what any
   Ansible module pays to start, plus sshd -T), and this module's AnsiballZ
   payload (the same start-up, reading the tree, ``sshd -V`` and ``sshd -T``,
   planning), each run by ``python3``;
2. end to end from the controller: ``ansible -b -m
   fleetauth.ssh.sshd_auth_methods -a password=disabled`` versus ``ansible -b
   -m ansible.builtin.command -a 'sshd -T'`` (same Ansible, SSH and become
   overhead on both sides), and a bare ``ssh ... sudo -n sshd -T`` for scale.

Prints the medians and ratios; writes them as JSON to bench/results/.
Run it from the repository root with the venv's python (``make bench`` does).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAB = [sys.executable, os.path.join(REPO, "tests", "lab", "lab.py")]
BIN = os.path.dirname(sys.executable)
ENV = dict(
    os.environ,
    ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, "tests", "output", "collections"),
    ANSIBLE_HOST_KEY_CHECKING="true",
    ANSIBLE_NOCOLOR="1",
    PATH=BIN + os.pathsep + os.environ.get("PATH", ""),
)
MODULE_ARGS = "password=disabled"

IN_HOST = r"""
import json, statistics, subprocess, sys, time
runs, payload, command = int(sys.argv[1]), sys.argv[2], sys.argv[3]
def once(cmd):
    start = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    took = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit("%s failed: %s" % (cmd, proc.stderr.decode()[-300:]))
    return took, proc.stdout
times = {"sshd_T": [], "command_payload": [], "module": []}
cmds = [("sshd_T", ["/usr/sbin/sshd", "-T"]), ("command_payload", ["/usr/bin/python3", command]), ("module", ["/usr/bin/python3", payload])]
for i in range(runs):
    for name, cmd in (cmds if i % 2 == 0 else cmds[::-1]):
        took, out = once(cmd)
        if name == "module":
            result = json.loads(out.decode().strip().splitlines()[-1])
            assert result.get("changed") is False, result
        times[name].append(took)
print(json.dumps({name: statistics.median(values) for name, values in times.items()}))
"""


def run(cmd, check=True, env=None):
    return subprocess.run(cmd, capture_output=True, text=True, env=env or ENV, check=check)


def timed(cmd):
    start = time.perf_counter()
    proc = run(cmd, check=False)
    took = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit("%s failed:\n%s%s" % (" ".join(cmd), proc.stdout[-2000:], proc.stderr[-2000:]))
    return took, proc.stdout


def inventory_facts(lab):
    import yaml  # the controller venv has it

    path = run([*LAB, "inventory", "--name", lab]).stdout.strip()
    with open(path, encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    group = next(iter(data["all"]["children"].values()))
    host, hostvars = next(iter(group["hosts"].items()))
    return path, host, hostvars, group["vars"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--suite", default="bookworm")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--lab", help="use this running lab (left up)")
    parser.add_argument("--keep", action="store_true", help="leave the lab this script boots up")
    args = parser.parse_args()

    lab = args.lab or "sam-bench"
    if not args.lab:
        run([*LAB, "down", "--name", lab], check=False)
        run([*LAB, "up", "--name", lab, "--hosts", "1", "--suite", args.suite])
    try:
        inventory, host, hostvars, groupvars = inventory_facts(lab)
        ansible = [os.path.join(BIN, "ansible"), "-i", inventory, host, "-b"]
        module = ansible + ["-m", "fleetauth.ssh.sshd_auth_methods", "-a", MODULE_ARGS]
        command = ansible + ["-m", "ansible.builtin.command", "-a", "/usr/sbin/sshd -T"]
        ssh = [
            "ssh", "-p", str(hostvars["ansible_port"]), "-i", groupvars["ansible_ssh_private_key_file"],
            "-o", "UserKnownHostsFile=%s" % groupvars["lab_known_hosts"], "-o", "StrictHostKeyChecking=yes",
            "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "admin@127.0.0.1", "sudo", "-n", "/usr/sbin/sshd", "-T",
        ]  # fmt: skip

        # One applying run, then keep the payloads of a no-change run and of `command sshd -T`.
        timed(module)
        root = hostvars["lab_root"]
        dest = os.path.join(root, "root", "fleetauth-bench")
        os.makedirs(dest, exist_ok=True)
        for cmd, name in ((module, "AnsiballZ_sshd_auth_methods.py"), (command, "AnsiballZ_command.py")):
            for old in glob.glob(os.path.join(root, "home", "admin", ".ansible", "tmp", "*")):
                shutil.rmtree(old, ignore_errors=True)
            out = subprocess.run(cmd, capture_output=True, text=True, env=dict(ENV, ANSIBLE_KEEP_REMOTE_FILES="1"), check=True).stdout
            if name == "AnsiballZ_sshd_auth_methods.py" and '"changed": false' not in out:
                raise SystemExit("the module run is not a no-change run:\n" + out[-2000:])
            payloads = glob.glob(os.path.join(root, "home", "admin", ".ansible", "tmp", "*", name))
            if not payloads:
                raise SystemExit("no %s kept under %s" % (name, root))
            shutil.copy(payloads[0], os.path.join(dest, name))
        for old in glob.glob(os.path.join(root, "home", "admin", ".ansible", "tmp", "*")):
            shutil.rmtree(old, ignore_errors=True)

        # 1. inside the host
        proc = run(
            [*LAB, "exec", "--name", lab, "--host", host, "--", "python3", "-c", IN_HOST, str(args.runs)]
            + ["/root/fleetauth-bench/AnsiballZ_sshd_auth_methods.py", "/root/fleetauth-bench/AnsiballZ_command.py"]
        )
        in_host = json.loads(proc.stdout.strip().splitlines()[-1])

        # 2. end to end, alternating
        times = {"ansible_module": [], "ansible_command_sshd_T": [], "ssh_sudo_sshd_T": []}
        for i in range(args.runs):
            order = [("ansible_module", module), ("ansible_command_sshd_T", command), ("ssh_sudo_sshd_T", ssh)]
            for name, cmd in order if i % 2 == 0 else order[::-1]:
                took, out = timed(cmd)
                if name == "ansible_module" and '"changed": false' not in out:
                    raise SystemExit("unexpected change:\n" + out[-2000:])
                times[name].append(took)
        e2e = {name: statistics.median(values) for name, values in times.items()}

        result = {
            "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "suite": args.suite if not args.lab else groupvars.get("lab_suite"),
            "openssh": hostvars.get("lab_openssh_version"),
            "runs": args.runs,
            "module_args": MODULE_ARGS,
            "in_host_median_s": in_host,
            "in_host_ratio_module_over_command_payload": in_host["module"] / in_host["command_payload"],
            "in_host_ratio_module_over_sshd_T": in_host["module"] / in_host["sshd_T"],
            "in_host_module_cost_beyond_command_payload_s": in_host["module"] - in_host["command_payload"],
            "end_to_end_median_s": e2e,
            "end_to_end_ratio_module_over_command_sshd_T": e2e["ansible_module"] / e2e["ansible_command_sshd_T"],
            "end_to_end_ratio_module_over_bare_ssh_sshd_T": e2e["ansible_module"] / e2e["ssh_sudo_sshd_T"],
        }
        print("sshd_auth_methods no-change run, %s (OpenSSH %s), medians of %d runs" % (result["suite"], result["openssh"], args.runs))
        print(
            "  on the host:  sshd -T %.3f s   command 'sshd -T' payload %.3f s   sshd_auth_methods payload %.3f s"
            % (in_host["sshd_T"], in_host["command_payload"], in_host["module"])
        )
        print(
            "                module / command payload %.2f (+%.3f s)   module / bare sshd -T %.1f"
            % (
                result["in_host_ratio_module_over_command_payload"],
                result["in_host_module_cost_beyond_command_payload_s"],
                result["in_host_ratio_module_over_sshd_T"],
            )
        )
        print(
            "  end to end:   ansible -m command 'sshd -T' %.3f s   ansible -m sshd_auth_methods %.3f s   ratio %.2f"
            % (e2e["ansible_command_sshd_T"], e2e["ansible_module"], result["end_to_end_ratio_module_over_command_sshd_T"])
        )
        print(
            "                bare ssh + sudo sshd -T %.3f s   (module / bare ssh %.2f)"
            % (e2e["ssh_sudo_sshd_T"], result["end_to_end_ratio_module_over_bare_ssh_sshd_T"])
        )
        os.makedirs(os.path.join(REPO, "bench", "results"), exist_ok=True)
        path = os.path.join(REPO, "bench", "results", "sshd_auth_methods-%s.json" % time.strftime("%Y%m%d-%H%M%S"))
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(result, handle, indent=2)
        print("  written to %s" % os.path.relpath(path, REPO))
    finally:
        if not args.lab and not args.keep:
            run([*LAB, "down", "--name", lab], check=False)


if __name__ == "__main__":
    main()
