# -*- coding: utf-8 -*-
# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Snapshots of the files that decide SSH authentication, for roll-back.

A snapshot records, for each listed path, either a regular file's bytes, mode,
owner and group, the fact that the path was absent, or (for a directory) the
set of regular files directly inside it with the same data. Restoring puts
every byte and every mode/owner back through the one safe writer
(:class:`._atomic.FileTransaction`) and removes files that appeared in a
snapshotted directory since — all or nothing.

The store is one JSON document per snapshot name under a root-only directory.
Pure functions (``plan_restore``, ``encode``/``decode``) are unit-tested; the
I/O goes through ``_atomic`` and never follows a symlink.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import stat
import time

from ._atomic import AtomicWriteError, FileTransaction, lstat_path, open_dir_nofollow, read_bytes

FORMAT = 1
MAX_FILE_BYTES = 4 * 1024 * 1024


class SnapshotError(Exception):
    """The snapshot cannot be taken or restored; the message says why."""


def _entry_for_file(path):
    """Snapshot entry for a regular file (or absent path); refuses symlinks and specials."""
    try:
        st = lstat_path(path)
    except AtomicWriteError as exc:
        raise SnapshotError(str(exc)) from None
    if st is None:
        return {"type": "absent"}
    if stat.S_ISLNK(st.st_mode):
        raise SnapshotError("%s is a symbolic link; snapshots record regular files only (and never follow links)" % path)
    if stat.S_ISDIR(st.st_mode):
        return {"type": "dir", "files": _dir_files(path)}
    if not stat.S_ISREG(st.st_mode):
        raise SnapshotError("%s is not a regular file or directory" % path)
    data = read_bytes(path, max_bytes=MAX_FILE_BYTES)
    return {"type": "file", "mode": stat.S_IMODE(st.st_mode), "uid": st.st_uid, "gid": st.st_gid, "data": base64.b64encode(data).decode("ascii")}


def _dir_files(path):
    fd = open_dir_nofollow(path)
    try:
        names = sorted(os.listdir(fd))
    finally:
        os.close(fd)
    files = {}
    for name in names:
        child = os.path.join(path, name)
        st = lstat_path(child)
        if st is None or stat.S_ISDIR(st.st_mode):
            continue
        if stat.S_ISLNK(st.st_mode):
            files[name] = {"type": "symlink"}
            continue
        if stat.S_ISREG(st.st_mode):
            files[name] = _entry_for_file(child)
    return files


def take(paths):
    """Return a snapshot document of *paths* (absolute)."""
    entries = {}
    for path in paths:
        if not os.path.isabs(path):
            raise SnapshotError("snapshot paths must be absolute: %r" % path)
        entries[os.path.normpath(path)] = _entry_for_file(os.path.normpath(path))
    return {"format": FORMAT, "taken": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "paths": entries}


def encode(document):
    return json.dumps(document, sort_keys=True).encode("utf-8")


def decode(data):
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise SnapshotError("the snapshot store is not valid JSON (%s); take a new snapshot" % exc) from None
    if not isinstance(document, dict) or document.get("format") != FORMAT or not isinstance(document.get("paths"), dict):
        raise SnapshotError("the snapshot has an unknown format; take a new snapshot")
    return document


def plan_restore(document, current):
    """Compare a snapshot with the *current* state (a snapshot document of the same paths).

    Returns ``(writes, removals)``: writes are ``(path, bytes, mode, uid, gid)``
    for files whose bytes, mode or ownership differ or that disappeared;
    removals are paths that exist now but did not at snapshot time. Symlinks
    that appeared in a snapshotted directory are removed; a snapshotted symlink
    is left alone (it was never followed).
    """
    writes = []
    removals = []

    def compare(path, saved, now):
        if saved["type"] == "file":
            same = now.get("type") == "file" and all(now.get(k) == saved[k] for k in ("data", "mode", "uid", "gid"))
            if not same:
                if now.get("type") not in ("file", "absent"):
                    raise SnapshotError("%s is now a %s; refusing to restore over it" % (path, now.get("type")))
                writes.append((path, base64.b64decode(saved["data"]), saved["mode"], saved["uid"], saved["gid"]))
        elif saved["type"] == "absent":
            if now.get("type") in ("file", "symlink"):
                removals.append(path)
            elif now.get("type") == "dir":
                raise SnapshotError("%s is now a directory; it was absent in the snapshot; remove it by hand" % path)

    for path, saved in sorted(document["paths"].items()):
        now = current["paths"].get(path, {"type": "absent"})
        if saved["type"] == "dir":
            if now.get("type") != "dir":
                raise SnapshotError("%s was a directory in the snapshot and is now %s; restore it by hand" % (path, now.get("type")))
            saved_files = saved["files"]
            now_files = now["files"]
            for name in sorted(set(saved_files) | set(now_files)):
                child = os.path.join(path, name)
                saved_child = saved_files.get(name, {"type": "absent"})
                if saved_child["type"] == "symlink":
                    continue
                compare(child, saved_child, now_files.get(name, {"type": "absent"}))
        else:
            compare(path, saved, now)
    return writes, removals


def restore(document, apply=True, selinux=None):
    """Bring the paths of *document* back; returns the list of changed paths."""
    current = take(document["paths"].keys())
    writes, removals = plan_restore(document, current)
    if apply and (writes or removals):
        tx = FileTransaction(selinux=selinux)
        for path, data, mode, uid, gid in writes:
            tx.stage(path, data, mode=mode, uid=uid, gid=gid)
        for path in removals:
            tx.remove(path)
        tx.commit()
    return sorted([w[0] for w in writes] + removals)


def store_path(store, name):
    if not name or "/" in name or name.startswith("."):
        raise SnapshotError("invalid snapshot name %r: use letters, digits, dashes and underscores" % name)
    return os.path.join(store, name + ".json")


def ensure_store(store):
    """Create the store directory (0700, root) without following symlinks."""
    parts = [p for p in os.path.normpath(store).split("/") if p]
    fd = os.open("/", os.O_RDONLY | os.O_DIRECTORY)
    try:
        for part in parts:
            with contextlib.suppress(FileExistsError):
                os.mkdir(part, 0o700, dir_fd=fd)
            new_fd = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = new_fd
    except OSError as exc:
        raise SnapshotError("cannot create the snapshot store %s: %s" % (store, exc.strerror)) from None
    finally:
        os.close(fd)


def save(document, store, name):
    ensure_store(store)
    path = store_path(store, name)
    tx = FileTransaction()
    tx.stage(path, encode(document), mode=0o600, uid=0 if os.geteuid() == 0 else None, gid=0 if os.geteuid() == 0 else None)
    tx.commit()
    return path


def load(store, name):
    data = read_bytes(store_path(store, name), max_bytes=64 * 1024 * 1024)
    if data is None:
        return None
    return decode(data)


def drop(store, name):
    path = store_path(store, name)
    tx = FileTransaction()
    tx.remove(path)
    return bool(tx.commit()[0]["removed"])


def _listed(document):
    listed = []
    for path, entry in sorted(document["paths"].items()):
        if entry["type"] == "dir":
            listed += [os.path.join(path, name) for name in sorted(entry["files"])]
        elif entry["type"] == "file":
            listed.append(path)
    return listed


def run_snapshot(params, check_mode=False, selinux=None):
    """The auth_snapshot module's work; returns its result dict."""
    store, name, state = params["store"], params["name"], params["state"]
    path = store_path(store, name)
    result = {"changed": False, "snapshot": path}
    if state == "present":
        document = take(params["paths"])
        if not check_mode:
            save(document, store, name)
        result.update(paths=_listed(document), taken=document["taken"])
        return result
    if state == "absent":
        if not check_mode:
            drop(store, name)
        return result
    document = load(store, name)
    if document is None:
        if params.get("missing_ok"):
            result["restored"] = []
            return result
        raise SnapshotError("no snapshot named %r in %s; nothing to restore" % (name, store))
    restored = restore(document, apply=not check_mode, selinux=selinux)
    result.update(changed=bool(restored), restored=restored, taken=document.get("taken"))
    return result
