# -*- coding: utf-8 -*-
# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Action for fleetauth.ssh.safe_apply (documentation in plugins/modules/safe_apply.py).

validate + reload (fleetauth.ssh.sshd_reload on the host) -> prove a NEW login
(fresh connection from the controller) -> keep; on any failure: restore the
snapshot (fleetauth.ssh.auth_snapshot), reload, prove the old way in, fail
loudly. One task, so it works as a handler (rescue blocks do not run in
handlers) and the whole transaction is plain, tested Python.
"""

from __future__ import annotations

from ansible.plugins.action import ActionBase

from ansible_collections.fleetauth.ssh.plugins.plugin_utils._login import fresh_login

_ARGS = ("snapshot", "store", "method", "verify", "verify_accounts", "verify_timeout", "service")


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(_ARGS)

    def _module(self, name, args, task_vars):
        return self._execute_module(module_name="fleetauth.ssh." + name, module_args=args, task_vars=task_vars)

    def _reload(self, args, task_vars):
        reload_args = {"method": args.get("method") or "auto"}
        if args.get("service"):
            reload_args["service"] = args["service"]
        return self._module("sshd_reload", reload_args, task_vars)

    def _verify(self, args, task_vars):
        """Return (ok, message): the connecting account, then each named account."""
        timeout = args.get("verify_timeout") or 30
        outcome = fresh_login(self, task_vars, timeout=timeout)
        if outcome.get("failed"):
            return False, outcome["msg"]
        for index, account in enumerate(args.get("verify_accounts") or []):
            if not isinstance(account, dict):
                return False, "verify_accounts[%d] must be a dictionary" % index
            label = account.get("name") or "account %d" % (index + 1)
            outcome = fresh_login(self, task_vars, connection=account.get("connection"), options=account.get("options") or {}, timeout=timeout)
            if outcome.get("failed"):
                return False, "%s: %s" % (label, outcome["msg"])
        return True, None

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        args = dict(self._task.args)
        snap = {"name": args.get("snapshot") or "fleetauth"}
        if args.get("store"):
            snap["store"] = args["store"]
        steps = []
        result["steps"] = steps

        if self._task.check_mode:
            reloaded = self._reload(args, task_vars)  # validates and reports the method, reloads nothing
            steps.append("check mode: validated, would reload via %s" % reloaded.get("method"))
            if reloaded.get("failed"):
                return dict(result, failed=True, msg=reloaded.get("msg"))
            return dict(result, changed=True)

        reloaded = self._reload(args, task_vars)
        failure = None
        if reloaded.get("failed"):
            failure = "validate/reload: %s" % reloaded.get("msg")
        else:
            steps.append("reloaded sshd via %s" % reloaded.get("method"))
            if args.get("verify", True):
                ok, message = self._verify(args, task_vars)
                if ok:
                    steps.append("a new login works")
                else:
                    failure = "verify: %s" % message
        if failure is None:
            self._module("auth_snapshot", dict(snap, state="absent"), task_vars)
            steps.append("kept the change")
            return dict(result, changed=True)

        # Roll back: files first, then sshd, then prove the old way in works again.
        steps.append("FAILED %s" % failure)
        restored = self._module("auth_snapshot", dict(snap, state="restored", missing_ok=False), task_vars)
        if restored.get("failed"):
            return dict(result, failed=True, msg="FAILED (%s) and the roll-back could not restore the files: %s" % (failure, restored.get("msg")))
        files = restored.get("restored") or []
        steps.append("restored %d file(s)" % len(files))
        reloaded = self._reload(args, task_vars)
        if reloaded.get("failed"):
            msg = "FAILED (%s); restored %s but reloading sshd failed: %s" % (failure, ", ".join(files) or "no files", reloaded.get("msg"))
            return dict(result, failed=True, restored=files, msg=msg)
        steps.append("reloaded sshd via %s" % reloaded.get("method"))
        ok, message = self._verify({"verify_timeout": args.get("verify_timeout")}, task_vars)
        self._module("auth_snapshot", dict(snap, state="absent"), task_vars)
        after = "a new login works again" if ok else "a new login STILL FAILS: %s" % message
        steps.append(after)
        msg = "ROLLED BACK on %s: %s. Put back %s, reloaded sshd, and %s." % (
            task_vars.get("inventory_hostname", "this host"),
            failure.rstrip(". "),
            ", ".join(files) if files else "no files (none had changed)",
            after,
        )
        return dict(result, failed=True, rolled_back=True, restored=files, msg=msg)
