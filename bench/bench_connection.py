#!/usr/bin/env python
# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark (not a test): the same 30-task play over the same 3 lab hosts, four ways.

  (a) ansible.builtin.ssh, ControlPersist (Ansible's default ssh_args) and pipelining, as admin (pubkey)
  (b) ansible.builtin.paramiko_ssh, as admin (pubkey)            -- ansible-core 2.19 only (gone in 2.21)
  (c) fleetauth.ssh.kbdint, as admin (pubkey only)
  (d) fleetauth.ssh.kbdint, as mfa (pubkey + password + TOTP via keyboard-interactive, DISALLOW_REUSE)

Runs alternate (a b c d a b c d ...); each run is a fresh ansible-playbook process with
cold connections: a new ControlPath directory for (a), new run-scoped masters for (c)/(d).
Become (sudo with a password) is used by a fifth of the tasks. Reported: every run's wall
time, medians, the ratios of the issue's goals, and micro-measurements behind the
persistence choice (ansible-connection start-up per task vs one exec through our master).

Time spent before a (d) run waiting for a TOTP time step not yet used on these hosts is
not counted (it measures the 30 s TOTP period, not the plugin); it is reported separately.

    python3 bench/bench_connection.py [--runs 5] [--lab NAME] [--keep] [--controller 2.19]

Needs root (the lab) and the venvs of the Makefile. Results: bench/results/connection-*.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAB = [sys.executable, os.path.join(ROOT, "tests", "lab", "lab.py")]
COLLECTIONS = os.path.join(ROOT, "tests", "output", "collections")
PREPARE = os.path.join(ROOT, "extensions", "molecule", "kbdint_connection", "prepare.yml")
RESULTS = os.path.join(ROOT, "bench", "results")

PLAY = """
- name: Thirty tasks
  hosts: all
  gather_facts: false
  vars:
    bench_dir: "/tmp/bench-{{ ansible_user }}"
  tasks:
"""
ROUND = """
    - name: ping {n}
      ansible.builtin.ping:
    - name: copy {n}
      ansible.builtin.copy:
        content: "round {n} on {{{{ inventory_hostname }}}}\\n"
        dest: "{{{{ bench_dir }}}}-{n}.txt"
        mode: "0644"
    - name: stat {n}
      ansible.builtin.stat:
        path: "{{{{ bench_dir }}}}-{n}.txt"
    - name: file {n}
      ansible.builtin.file:
        path: "{{{{ bench_dir }}}}-{n}.txt"
        mode: "0640"
    - name: become {n}
      ansible.builtin.command: id -u
      become: true
      changed_when: false
"""

VARIANTS = {
    "a": ("ansible.builtin.ssh + ControlPersist + pipelining (admin, pubkey)", "admin"),
    "b": ("ansible.builtin.paramiko_ssh (admin, pubkey)", "admin"),
    "c": ("fleetauth.ssh.kbdint, pubkey only (admin)", "admin"),
    "d": ("fleetauth.ssh.kbdint, pubkey + password + TOTP (mfa)", "mfa"),
}


def say(text):
    print("[bench %6.1fs] %s" % (time.monotonic() - START, text), flush=True)


START = time.monotonic()


def venv_bin(controller):
    path = os.path.join(ROOT, ".venv", controller, "bin")
    if not os.path.isdir(path):
        raise SystemExit("no virtualenv at %s; run make venvs" % path)
    return path


def lab_inventory(name):
    return subprocess.run(LAB + ["inventory", "--name", name], check=True, stdout=subprocess.PIPE, text=True).stdout.strip()


def lab_group(path):
    with open(path, encoding="utf-8") as handle:
        inventory = yaml.safe_load(handle)
    return next(iter(inventory["all"]["children"].values()))


def extra_vars(variant, workdir):
    common = {"ansible_pipelining": True}
    if variant == "a":
        return dict(common, ansible_connection="ansible.builtin.ssh")
    if variant == "b":
        return dict(common, ansible_connection="ansible.builtin.paramiko_ssh", ansible_paramiko_host_key_checking=True)
    kbd = dict(
        common,
        ansible_connection="fleetauth.ssh.kbdint",
        ansible_kbdint_known_hosts_file="{{ lab_known_hosts }}",
        ansible_kbdint_control_path_dir=os.path.join(workdir, "kbdint"),
        ansible_kbdint_allow_agent=False,
    )
    if variant == "c":
        return kbd
    return dict(
        kbd,
        ansible_user="mfa",
        ansible_ssh_private_key_file="{{ lab_users.mfa.private_key }}",
        ansible_password="{{ lab_users.mfa.password }}",
        ansible_become_password="{{ lab_users.mfa.password }}",
        ansible_kbdint_totp_secret="{{ lab_totp_secrets.mfa }}",
        ansible_kbdint_responder_rules=[{"prompt": "^Password:$", "source": "password"}, {"prompt": "^Verification code:$", "source": "totp"}],
    )


def environment(bindir, workdir, variant, run_dir):
    env = dict(os.environ)
    env.update(
        PATH=bindir + os.pathsep + env.get("PATH", ""),
        ANSIBLE_COLLECTIONS_PATH=COLLECTIONS,
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        ANSIBLE_HOST_KEY_CHECKING="true",
        ANSIBLE_DEPRECATION_WARNINGS="false",
        ANSIBLE_SSH_CONTROL_PATH_DIR=os.path.join(run_dir, "cp"),  # cold ControlMaster per run
        ANSIBLE_LOCAL_TEMP=os.path.join(run_dir, "tmp"),
    )
    env.pop("SSH_AUTH_SOCK", None)
    if variant == "b":
        # paramiko_ssh reads known hosts from ~/.ssh/known_hosts only: point HOME at a copy with the lab's keys.
        env["HOME"] = os.path.join(workdir, "home-b")
    return env


def run_play(bindir, inventory, play, variant, workdir):
    run_dir = tempfile.mkdtemp(prefix="run-%s-" % variant, dir=workdir)
    vars_file = os.path.join(run_dir, "vars.json")
    with open(vars_file, "w", encoding="utf-8") as handle:
        json.dump(extra_vars(variant, workdir), handle)
    cmd = [os.path.join(bindir, "ansible-playbook"), "-i", inventory, play, "-e", "@" + vars_file, "--forks", "5"]
    started = time.monotonic()
    done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=environment(bindir, workdir, variant, run_dir), check=False)
    elapsed = time.monotonic() - started
    output = done.stdout.decode("utf-8", "replace")
    if done.returncode != 0 or "failed=0" not in output or "unreachable=0" not in output:
        raise SystemExit("run (%s) failed (rc %d):\n%s" % (variant, done.returncode, output[-4000:]))
    return elapsed


def wait_for_fresh_totp(workdir, hosts):
    """Sleep (untimed) until no host's mfa user has used the current TOTP step."""
    sys.path.insert(0, COLLECTIONS)
    from ansible_collections.fleetauth.ssh.plugins.plugin_utils._kbdint.totp import StepGuard, TotpGenerator

    guard = StepGuard(os.path.join(workdir, "kbdint", "totp"))
    generator = TotpGenerator("JBSWY3DPEHPK3PXP")  # only its period is used here
    waited = 0.0
    for port in hosts:
        last = guard.last_step("127.0.0.1:%d:mfa" % port)
        now = time.time()
        if generator.step(now) <= last:
            pause = (last + 1) * generator.period + 1.5 - now
            time.sleep(pause)
            waited += pause
    return waited


def stub_startup(bindir, samples=5):
    """Seconds to start ansible-connection: what the persistent framework pays per task."""
    python = os.path.join(bindir, "python")
    stub = subprocess.run(
        [python, "-c", "import ansible.cli.scripts, os; print(os.path.join(os.path.dirname(ansible.cli.scripts.__file__), 'ansible_connection_cli_stub.py'))"],
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    ).stdout.strip()
    times = []
    for _sample in range(samples):
        started = time.monotonic()
        subprocess.run([python, stub, "1", "x"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append(time.monotonic() - started)
    return statistics.median(times)


def master_exec_cost(bindir, inventory_path, workdir, samples=50):
    """Median seconds for one `true` through a kbdint master, and for attaching to it (a task's fixed cost)."""
    code = r"""
import json, os, statistics, sys, time, yaml
sys.path.insert(0, sys.argv[1])
from ansible_collections.fleetauth.ssh.plugins.plugin_utils._kbdint.challenge import LocalChallenger
from ansible_collections.fleetauth.ssh.plugins.plugin_utils._kbdint.master import Control, open_master, stop_master
from ansible_collections.fleetauth.ssh.plugins.plugin_utils._kbdint.redact import Redactor
from ansible_collections.fleetauth.ssh.plugins.plugin_utils._kbdint.responder import Responder
from ansible_collections.fleetauth.ssh.plugins.plugin_utils._kbdint.settings import Settings
inv = yaml.safe_load(open(sys.argv[2]))
group = next(iter(inv["all"]["children"].values()))
host = next(iter(group["hosts"].values()))
gv = group["vars"]
settings = Settings("127.0.0.1", host["ansible_port"], "admin", key_files=[gv["lab_users"]["admin"]["private_key"]], allow_agent=False,
                    known_hosts_file=gv["lab_known_hosts"])
ctl = Control(os.path.join(sys.argv[3], "micro"), scope="user", persist_timeout=30)
red = Redactor()
started = time.monotonic()
client = open_master(settings, ctl, lambda: LocalChallenger(Responder()), red)
login = time.monotonic() - started
client.close()
attach, execs = [], []
for _ in range(int(sys.argv[4])):
    t0 = time.monotonic(); c = open_master(settings, ctl, None, red); c.ping(); t1 = time.monotonic()
    c.exec(b"true"); t2 = time.monotonic(); c.close()
    attach.append(t1 - t0); execs.append(t2 - t1)
stop_master(settings, ctl, red)
print(json.dumps({"start_and_login_s": login, "attach_s": statistics.median(attach), "exec_true_s": statistics.median(execs)}))
"""
    done = subprocess.run(
        [os.path.join(bindir, "python"), "-c", code, COLLECTIONS, inventory_path, workdir, str(samples)], check=True, stdout=subprocess.PIPE, text=True
    )
    return json.loads(done.stdout)


def ssh_exec_cost(inventory_path, workdir, samples=20):
    """Median seconds for `ssh host true` through an open ControlMaster (what (a) pays per exec)."""
    group = lab_group(inventory_path)
    host = next(iter(group["hosts"].values()))
    gv = group["vars"]
    control = os.path.join(workdir, "ssh-micro-%h-%p")
    base = ["ssh", "-p", str(host["ansible_port"]), "-i", gv["lab_users"]["admin"]["private_key"], "-o", "UserKnownHostsFile=" + gv["lab_known_hosts"]]
    base += ["-o", "StrictHostKeyChecking=yes", "-o", "ControlMaster=auto", "-o", "ControlPersist=30", "-o", "ControlPath=" + control, "admin@127.0.0.1"]
    subprocess.run(base + ["true"], check=True)
    times = []
    for _sample in range(samples):
        started = time.monotonic()
        subprocess.run(base + ["true"], check=True)
        times.append(time.monotonic() - started)
    subprocess.run(base[:-1] + ["-O", "exit", "admin@127.0.0.1"], stderr=subprocess.DEVNULL, check=False)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per variant (medians of at least 4)")
    parser.add_argument("--lab", help="use this lab (up, 3 hosts) instead of bringing up kbd-bench")
    parser.add_argument("--keep", action="store_true", help="leave the lab up afterwards")
    parser.add_argument("--controller", default=os.environ.get("FLEETAUTH_CONTROLLER", "2.19"))
    parser.add_argument("--variants", default="abcd")
    args = parser.parse_args()
    if args.runs < 4:
        parser.error("--runs must be at least 4")
    bindir = venv_bin(args.controller)
    version = subprocess.run(
        [os.path.join(bindir, "python"), "-c", "import ansible; print(ansible.__version__)"], check=True, stdout=subprocess.PIPE, text=True
    )
    core = version.stdout.strip()
    variants = [v for v in args.variants if v in VARIANTS]
    if "b" in variants and not core.startswith("2.19"):
        say("ansible-core %s has no ansible.builtin.paramiko_ssh: skipping (b)" % core)
        variants.remove("b")
    lab = args.lab or "kbd-bench"
    workdir = tempfile.mkdtemp(prefix="kbdint-bench-")
    os.makedirs(RESULTS, exist_ok=True)
    brought_up = False
    try:
        if not args.lab:
            subprocess.run(LAB + ["down", "--name", lab], check=True, stdout=subprocess.DEVNULL)
            say("bringing up lab %s (3 bookworm hosts)" % lab)
            subprocess.run(LAB + ["up", "--name", lab, "--hosts", "3", "--suite", "bookworm"], check=True, stdout=subprocess.DEVNULL)
            brought_up = True
        inventory = lab_inventory(lab)
        env = dict(os.environ, PATH=bindir + os.pathsep + os.environ["PATH"], ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_HOST_KEY_CHECKING="true")
        say("putting the mfa user behind publickey + password + TOTP (%s)" % os.path.relpath(PREPARE, ROOT))
        subprocess.run([os.path.join(bindir, "ansible-playbook"), "-i", inventory, PREPARE], check=True, env=env, stdout=subprocess.DEVNULL)
        group = lab_group(inventory)
        ports = [h["ansible_port"] for h in group["hosts"].values()]
        home_b = os.path.join(workdir, "home-b", ".ssh")
        os.makedirs(home_b, mode=0o700)
        shutil.copy(group["vars"]["lab_known_hosts"], os.path.join(home_b, "known_hosts"))
        # An installed collection gets its bytecode cached on first use; start from that state
        # (this machine sets PYTHONDONTWRITEBYTECODE, so write it explicitly).
        subprocess.run([os.path.join(bindir, "python"), "-m", "compileall", "-q", os.path.join(ROOT, "plugins")], check=True)
        play = os.path.join(workdir, "play.yml")
        with open(play, "w", encoding="utf-8") as handle:
            handle.write(PLAY + "".join(ROUND.format(n=n) for n in range(1, 7)))
        times = {v: [] for v in variants}
        totp_wait = 0.0
        for number in range(1, args.runs + 1):
            for variant in variants:
                if variant == "d":
                    totp_wait += wait_for_fresh_totp(workdir, ports)
                elapsed = run_play(bindir, inventory, play, variant, workdir)
                times[variant].append(elapsed)
                say("run %d (%s) %.2f s" % (number, variant, elapsed))
        say("micro-measurements")
        micro = {
            "ansible_connection_stub_start_s": stub_startup(bindir),
            "kbdint_master": master_exec_cost(bindir, inventory, workdir),
            "ssh_controlmaster_exec_true_s": ssh_exec_cost(inventory, workdir),
        }
    finally:
        if brought_up and not args.keep:
            subprocess.run(LAB + ["down", "--name", lab], check=False, stdout=subprocess.DEVNULL)
        shutil.rmtree(workdir, ignore_errors=True)
    medians = {v: statistics.median(t) for v, t in times.items()}
    ratios = {}
    if "a" in medians and "c" in medians:
        ratios["c/a"] = (medians["c"] / medians["a"], 1.0, "goal <= 1.0 (aim 0.9)")
    if "b" in medians and "c" in medians:
        ratios["c/b"] = (medians["c"] / medians["b"], 0.65, "goal <= 0.65")
    if "a" in medians and "b" in medians:
        ratios["a/b"] = (medians["a"] / medians["b"], None, "reference (FACTS: about 0.64)")
    if "c" in medians and "d" in medians:
        ratios["d/c"] = (medians["d"] / medians["c"], 1.1, "goal <= 1.1")
    print()
    print("ansible-core %s, 3 hosts, 30 tasks, %d alternating runs per variant" % (core, args.runs))
    for variant in variants:
        print("  (%s) %-62s median %6.2f s   runs %s" % (variant, VARIANTS[variant][0], medians[variant], " ".join("%.2f" % t for t in times[variant])))
    for name, (value, goal, text) in ratios.items():
        verdict = "" if goal is None else ("met" if value <= goal else "MISSED")
        print("  %-4s = %.3f   %s %s" % (name, value, text, verdict))
    print("  not counted: %.1f s waiting before (d) runs for an unused TOTP time step" % totp_wait)
    print("  per task, persistent framework: ansible-connection start-up %.3f s" % micro["ansible_connection_stub_start_s"])
    km = micro["kbdint_master"]
    print(
        "  per task, kbdint master: attach %.4f s; one exec of `true` %.4f s (ssh via ControlMaster: %.4f s); master start + pubkey login %.3f s"
        % (km["attach_s"], km["exec_true_s"], micro["ssh_controlmaster_exec_true_s"], km["start_and_login_s"])
    )
    result = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "ansible_core": core,
        "runs": args.runs,
        "times_s": times,
        "medians_s": medians,
        "ratios": {k: v[0] for k, v in ratios.items()},
        "totp_wait_not_counted_s": totp_wait,
        "micro": micro,
        "load_average": os.getloadavg(),
    }
    path = os.path.join(RESULTS, "connection-%s-%s.json" % (core, time.strftime("%Y%m%d-%H%M%S")))
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(result, handle, indent=2)
    print("  written: %s" % os.path.relpath(path, ROOT))


if __name__ == "__main__":
    main()
