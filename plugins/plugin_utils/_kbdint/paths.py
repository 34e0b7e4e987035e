# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Private per-user directories and the names of control sockets and state files."""

from __future__ import annotations

import hashlib
import os
import stat

from .errors import MasterError

# sockaddr_un.sun_path is 108 bytes on Linux (104 on the BSDs), including the NUL.
MAX_SOCKET_PATH = 103


def ensure_private_dir(path: str) -> str:
    """Create *path* (mode 0700) or check that it is ours and private; return its real path.

    A directory that exists and belongs to us but is group/world accessible is
    tightened to 0700; one that belongs to someone else, or is not a directory,
    is refused: a control socket or TOTP state there could be read or replaced.
    """
    path = os.path.abspath(os.path.expanduser(path))
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
    except OSError as exc:
        raise MasterError("cannot create the private directory %s: %s" % (path, exc.strerror or exc)) from None
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode):
        raise MasterError("%s is not a directory (a symlink or file is refused); remove it or choose another control_path_dir" % path)
    if info.st_uid != os.geteuid():
        raise MasterError("%s belongs to uid %d, not to us (uid %d); choose a control_path_dir of your own" % (path, info.st_uid, os.geteuid()))
    if stat.S_IMODE(info.st_mode) & 0o077:
        os.chmod(path, 0o700)
    return path


def digest(*parts) -> str:
    """A short, stable, non-reversible name for a tuple of values."""
    text = "\0".join("" if p is None else str(p) for p in parts)
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:20]


def socket_path(directory: str, key: str) -> str:
    path = os.path.join(directory, "%s.sock" % key)
    if len(path.encode("utf-8", "surrogateescape")) > MAX_SOCKET_PATH:
        raise MasterError(
            "the control socket path %s is %d bytes long, more than a Unix socket allows (%d); set control_path_dir to a shorter directory"
            % (path, len(path), MAX_SOCKET_PATH)
        )
    return path
