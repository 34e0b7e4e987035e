# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Internals of the fleetauth.ssh.kbdint connection plugin (private; not an API).

Every Ansible task runs in a new worker process that imports its connection plugin
afresh, and ansible-core's collection loader compiles a collection's Python source on
each import without caching bytecode. For the modules a task needs that meant about
70 ms of compiling per task and host (measured; more than running a command through
an open transport), so this package loads them with Python's standard source loader,
which caches bytecode in ``__pycache__`` (when the directory is writable; otherwise it
simply compiles, as before). Module names and identities stay the same.
``session`` (paramiko) is not loaded here: only the control master and
``persist: false`` connections import it.
"""

from __future__ import annotations

import importlib.util
import os
import sys

# In dependency order, so each module's relative imports find their targets loaded.
_TASK_MODULES = ("errors", "redact", "paths", "protocol", "settings", "challenge", "responder", "totp", "become", "master")


def _load_with_bytecode_cache() -> None:
    here = os.path.dirname(os.path.abspath(__file__)) if "__file__" in globals() else None
    if not here or not os.path.isfile(os.path.join(here, "errors.py")):
        return  # not on a file system: leave it to the normal import
    package = sys.modules[__name__]
    for name in _TASK_MODULES:
        full = "%s.%s" % (__name__, name)
        if full in sys.modules:
            continue
        spec = importlib.util.spec_from_file_location(full, os.path.join(here, name + ".py"))
        if spec is None or spec.loader is None:
            return
        module = importlib.util.module_from_spec(spec)
        sys.modules[full] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(full, None)
            raise
        setattr(package, name, module)


_load_with_bytecode_cache()
