# -*- coding: utf-8 -*-
# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Result, diff and check-mode handling shared by every fleetauth.ssh module.

A module computes the new content of each file it manages, hands the pairs to
:class:`ChangeSet`, validates (``changes.staged`` lists what would change), and
then calls :meth:`ChangeSet.commit`, which writes through the one safe writer
(:mod:`._atomic`) unless Ansible runs in check mode. ``result()`` builds the
``changed`` / ``diff`` / ``files`` / ``backup_files`` part of the return value.
"""

from __future__ import annotations

from ._atomic import AtomicWriteError, FileTransaction


def selinux_copier(module):
    """Callable copying an original file's SELinux context to its candidate, or None."""
    try:
        enabled = module.selinux_enabled()
    except Exception:  # pylint: disable=broad-exception-caught
        enabled = False
    if not enabled:
        return None

    def copy(original, candidate):
        context = module.selinux_context(original)
        module.set_context_if_different(candidate, context, False)

    return copy


def _text(data):
    if data is None:
        return ""
    return data.decode("utf-8", "replace") if isinstance(data, bytes) else data


class ChangeSet:
    """Proposed file changes for one module run."""

    def __init__(self, module, backup=False):
        self.module = module
        self.backup = backup
        self.staged = []  # dicts: path, before, after, mode, uid, gid
        self.diffs = []
        self.results = []

    @property
    def changed(self):
        return bool(self.staged)

    @property
    def check_mode(self):
        return bool(self.module.check_mode)

    def propose(self, path, before, after, mode=None, uid=None, gid=None, diff_before=None, diff_after=None):
        """Record that *path* should hold *after* (bytes); returns True when that is a change.

        *before* is the current content (None when the file does not exist).
        *diff_before*/*diff_after* replace the texts shown in the diff when the
        real content must not be shown (e.g. only fingerprints of keys).
        """
        if before == after:
            return False
        self.staged.append({"path": path, "before": before, "after": after, "mode": mode, "uid": uid, "gid": gid})
        self.diffs.append(
            {
                "before_header": path if before is not None else "%s (absent)" % path,
                "after_header": path,
                "before": _text(diff_before if diff_before is not None else before),
                "after": _text(diff_after if diff_after is not None else after),
            }
        )
        return True

    def commit(self):
        """Write every proposed file all-or-nothing; a no-op in check mode or without changes."""
        if not self.staged or self.check_mode:
            return []
        tx = FileTransaction(selinux=selinux_copier(self.module))
        for item in self.staged:
            tx.stage(item["path"], item["after"], mode=item["mode"], uid=item["uid"], gid=item["gid"])
        self.results = tx.commit(backup=self.backup)
        return self.results

    def result(self, **extra):
        """The common part of a module's return value."""
        out = {
            "changed": self.changed,
            "files": [item["path"] for item in self.staged],
        }
        backups = {r["path"]: r["backup_file"] for r in self.results if r.get("backup_file")}
        if self.backup:
            out["backup_files"] = backups
        if self.module._diff:  # pylint: disable=protected-access
            out["diff"] = list(self.diffs)
        out.update(extra)
        return out


__all__ = ["AtomicWriteError", "ChangeSet", "selinux_copier"]
