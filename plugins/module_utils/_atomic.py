# -*- coding: utf-8 -*-
# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one way fleetauth.ssh changes a file on a managed host.

Every module writes through :class:`FileTransaction`:

* paths are resolved one component at a time from ``/`` with ``O_NOFOLLOW``,
  so a symlinked directory or file is refused, never followed (we run as root);
* each new content goes to a candidate in the target's own directory
  (``.NAME.fleetauth-XXXX``, a name no ``*.conf`` glob matches), is fsync'd
  and given the original's owner, mode and SELinux context;
* ``commit()`` renames every candidate over its target; if any step fails, the
  targets already replaced are put back from hard links of the originals, so
  every original stays byte-identical (same inode, owner and mode);
* optional backups sit next to the original, as Ansible's ``backup_local`` does.

Validation happens before ``commit()`` and is the caller's business (see
``_sshd_runtime`` for ``sshd -t``); :func:`private_tempdir` gives it a 0700
directory outside the target tree so check mode never touches the target
directory either.

Python 3.8+ standard library only: this runs on managed hosts.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import tempfile
import time

_TMP_PREFIX = ".fleetauth-"


class AtomicWriteError(Exception):
    """A file could not be read or written safely; the message says why and what to do."""


class SymlinkRefused(AtomicWriteError):
    """A path component (or the file) is a symbolic link, which we refuse to follow."""


class PathMissing(AtomicWriteError):
    """A directory on the way to the file does not exist."""


def _split(path):
    if not os.path.isabs(path):
        raise AtomicWriteError("path must be absolute: %r" % (path,))
    parts = [p for p in os.path.normpath(path).split("/") if p]
    if not parts:
        raise AtomicWriteError("refusing to operate on the root directory")
    return parts


def open_dir_nofollow(path):
    """Open directory *path* without following any symlink; return an fd (caller closes)."""
    fd = os.open("/", os.O_RDONLY | os.O_DIRECTORY)
    walked = ""
    try:
        for part in [p for p in os.path.normpath(path).split("/") if p]:
            walked += "/" + part
            try:
                new_fd = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            except OSError as exc:
                if exc.errno == errno.ENOENT:
                    raise PathMissing("%s does not exist" % walked) from None
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    try:
                        st = os.stat(part, dir_fd=fd, follow_symlinks=False)
                    except OSError:
                        st = None
                    if st is not None and stat.S_ISLNK(st.st_mode):
                        raise SymlinkRefused(
                            "refusing to follow the symbolic link %s (a symlinked path component could "
                            "redirect a root-owned write); replace the link with a real directory" % walked
                        ) from None
                    raise AtomicWriteError("%s is not a directory" % walked) from None
                raise AtomicWriteError("cannot open directory %s: %s" % (walked, exc.strerror)) from None
            os.close(fd)
            fd = new_fd
        return fd
    except BaseException:
        os.close(fd)
        raise


def parent_and_name(path):
    """Return ``(dir_fd, basename)`` for *path*, its parent opened without following symlinks."""
    parts = _split(path)
    return open_dir_nofollow("/" + "/".join(parts[:-1])), parts[-1]


def lstat_path(path):
    """``os.lstat`` of *path*, reached without following symlinks in its parents; None if absent."""
    try:
        dir_fd, name = parent_and_name(path)
    except PathMissing:
        return None
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None
    finally:
        os.close(dir_fd)


def read_bytes(path, max_bytes=None):
    """Read a regular file without following symlinks; None when it does not exist.

    Refuses symlinks, FIFOs, devices and directories with a clear message, and
    files larger than *max_bytes* (when given).
    """
    try:
        dir_fd, name = parent_and_name(path)
    except PathMissing:
        return None
    try:
        try:
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            return None
        if stat.S_ISLNK(st.st_mode):
            raise SymlinkRefused("refusing to read %s: it is a symbolic link" % path)
        if not stat.S_ISREG(st.st_mode):
            raise AtomicWriteError("refusing to read %s: not a regular file" % path)
        if max_bytes is not None and st.st_size > max_bytes:
            raise AtomicWriteError("refusing to read %s: %d bytes is over the limit of %d" % (path, st.st_size, max_bytes))
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0), dir_fd=dir_fd)
        with os.fdopen(fd, "rb") as handle:
            fst = os.fstat(handle.fileno())
            if not stat.S_ISREG(fst.st_mode):
                raise AtomicWriteError("refusing to read %s: not a regular file" % path)
            limit = -1 if max_bytes is None else max_bytes + 1
            data = handle.read(limit)
        if max_bytes is not None and len(data) > max_bytes:
            raise AtomicWriteError("refusing to read %s: over the limit of %d bytes" % (path, max_bytes))
        return data
    finally:
        os.close(dir_fd)


@contextlib.contextmanager
def private_tempdir(prefix="fleetauth-"):
    """A 0700 scratch directory (for validation candidates), removed afterwards."""
    path = tempfile.mkdtemp(prefix=prefix)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def backup_name(path, now=None):
    """Ansible-style backup name next to *path*: ``NAME.PID.YYYY-MM-DD@HH:MM:SS~``."""
    stamp = time.strftime("%Y-%m-%d@%H:%M:%S", time.localtime(now))
    return "%s.%d.%s~" % (path, os.getpid(), stamp)


class _Staged:
    __slots__ = ("backup", "data", "dir_fd", "existed", "gid", "mode", "name", "orig_link", "path", "replaced", "tmp", "uid")

    def __init__(self, path, data, mode, uid, gid):
        self.path = path
        self.data = data
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.dir_fd = None
        self.name = None
        self.tmp = None
        self.orig_link = None
        self.existed = False
        self.backup = None
        self.replaced = False


class FileTransaction:
    """Replace several files all-or-nothing.

    >>> tx = FileTransaction()
    >>> tx.stage("/etc/ssh/sshd_config.d/00-x.conf", b"PasswordAuthentication no\\n", mode=0o644)
    >>> results = tx.commit(backup=True)   # [{'path': ..., 'backup_file': ..., 'created': bool}]

    ``mode``/``uid``/``gid`` apply to new files; an existing file keeps its own
    unless they are given explicitly. *selinux* is an optional callable
    ``(original_path, candidate_path) -> None`` that copies the security context
    (modules pass one built on AnsibleModule's SELinux helpers).
    """

    def __init__(self, selinux=None):
        self._staged = []
        self._selinux = selinux

    @property
    def paths(self):
        return [item.path for item in self._staged]

    def stage(self, path, data, mode=None, uid=None, gid=None):
        if not isinstance(data, bytes):
            raise TypeError("data must be bytes")
        _split(path)
        if any(item.path == path for item in self._staged):
            raise AtomicWriteError("%s staged twice in one transaction" % path)
        self._staged.append(_Staged(path, data, mode, uid, gid))

    def remove(self, path):
        """Stage the removal of *path* (a file or symlink; a missing path is a no-op)."""
        _split(path)
        if any(item.path == path for item in self._staged):
            raise AtomicWriteError("%s staged twice in one transaction" % path)
        self._staged.append(_Staged(path, None, None, None, None))

    def commit(self, backup=False):
        """Write every staged file; on any failure restore what was replaced and raise."""
        try:
            for item in self._staged:
                self._prepare(item, backup)
            for item in self._staged:
                if item.data is None:
                    if item.orig_link:  # absent already: nothing to remove
                        os.unlink(item.name, dir_fd=item.dir_fd)
                        item.replaced = True
                    continue
                os.rename(item.tmp, item.name, src_dir_fd=item.dir_fd, dst_dir_fd=item.dir_fd)
                item.replaced = True
                item.tmp = None
            for item in self._staged:
                if item.dir_fd is not None:
                    _fsync_dir(item.dir_fd)
        except BaseException as exc:
            self._rollback()
            self._cleanup()
            if isinstance(exc, AtomicWriteError):
                raise
            if isinstance(exc, OSError):
                raise AtomicWriteError("writing %s failed: %s; every file was left as it was" % (exc.filename or "a file", exc.strerror)) from None
            raise
        results = [
            {
                "path": item.path,
                "backup_file": item.backup,
                "created": not item.existed and item.data is not None,
                "removed": item.data is None and item.replaced,
            }
            for item in self._staged
        ]
        self._cleanup()
        self._staged = []
        return results

    def abort(self):
        self._cleanup()
        self._staged = []

    # -- internals

    def _prepare(self, item, backup):
        try:
            item.dir_fd, item.name = parent_and_name(item.path)
        except PathMissing:
            if item.data is None:
                return
            raise
        try:
            st = os.stat(item.name, dir_fd=item.dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            st = None
        if item.data is None:
            self._prepare_removal(item, st, backup)
            return
        if st is not None:
            if stat.S_ISLNK(st.st_mode):
                raise SymlinkRefused("refusing to replace %s: it is a symbolic link; point the module at the real file" % item.path)
            if not stat.S_ISREG(st.st_mode):
                raise AtomicWriteError("refusing to replace %s: not a regular file" % item.path)
            item.existed = True
        mode = item.mode if item.mode is not None else (stat.S_IMODE(st.st_mode) if st else 0o644)
        uid = item.uid if item.uid is not None else (st.st_uid if st else -1)
        gid = item.gid if item.gid is not None else (st.st_gid if st else -1)
        item.tmp = self._create_candidate(item, mode, uid, gid)
        if st is not None:
            if self._selinux is not None:
                self._selinux(item.path, _join_fd(item.dir_fd, item.tmp))
            link = _unique_name(item.name, "orig")
            os.link(item.name, link, src_dir_fd=item.dir_fd, dst_dir_fd=item.dir_fd, follow_symlinks=False)
            item.orig_link = link
            if backup:
                item.backup = self._backup(item, st)

    def _prepare_removal(self, item, st, backup):
        if st is None:
            return
        if stat.S_ISDIR(st.st_mode):
            raise AtomicWriteError("refusing to remove %s: it is a directory" % item.path)
        item.existed = True
        link = _unique_name(item.name, "orig")
        os.link(item.name, link, src_dir_fd=item.dir_fd, dst_dir_fd=item.dir_fd, follow_symlinks=False)
        item.orig_link = link
        if backup and stat.S_ISREG(st.st_mode):
            item.backup = self._backup(item, st)

    def _create_candidate(self, item, mode, uid, gid):
        for _attempt in range(20):
            tmp = _unique_name(item.name, "new")
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600, dir_fd=item.dir_fd)
            except FileExistsError:
                continue
            break
        else:
            raise AtomicWriteError("could not create a candidate file next to %s" % item.path)
        item.tmp = tmp
        try:
            view = memoryview(item.data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            if uid != -1 or gid != -1:
                os.fchown(fd, uid, gid)
            os.fchmod(fd, mode)
            os.fsync(fd)
        finally:
            os.close(fd)
        return tmp

    def _backup(self, item, st):
        name = os.path.basename(backup_name(item.path))
        src = os.open(item.name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=item.dir_fd)
        try:
            dst = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600, dir_fd=item.dir_fd)
            try:
                while True:
                    chunk = os.read(src, 1 << 20)
                    if not chunk:
                        break
                    os.write(dst, chunk)
                os.fchown(dst, st.st_uid, st.st_gid)
                os.fchmod(dst, stat.S_IMODE(st.st_mode))
                os.fsync(dst)
            finally:
                os.close(dst)
        finally:
            os.close(src)
        return os.path.join(os.path.dirname(item.path), name)

    def _rollback(self):
        for item in self._staged:
            if not item.replaced:
                continue
            try:
                if item.orig_link:
                    os.rename(item.orig_link, item.name, src_dir_fd=item.dir_fd, dst_dir_fd=item.dir_fd)
                    item.orig_link = None
                else:
                    os.unlink(item.name, dir_fd=item.dir_fd)
            except OSError:
                pass

    def _cleanup(self):
        for item in self._staged:
            if item.dir_fd is None:
                continue
            for leftover in (item.tmp, item.orig_link):
                if leftover:
                    with contextlib.suppress(OSError):
                        os.unlink(leftover, dir_fd=item.dir_fd)
            item.tmp = item.orig_link = None
            os.close(item.dir_fd)
            item.dir_fd = None


def write_file(path, data, mode=None, uid=None, gid=None, backup=False, selinux=None):
    """Replace one file atomically (see :class:`FileTransaction`); returns its result dict."""
    tx = FileTransaction(selinux=selinux)
    tx.stage(path, data, mode=mode, uid=uid, gid=gid)
    return tx.commit(backup=backup)[0]


def _unique_name(name, kind):
    return "%s%s.%s.%s" % (_TMP_PREFIX, name, kind, os.urandom(4).hex())


def _join_fd(dir_fd, name):
    return "/proc/self/fd/%d/%s" % (dir_fd, name)


def _fsync_dir(dir_fd):
    with contextlib.suppress(OSError):
        os.fsync(dir_fd)
