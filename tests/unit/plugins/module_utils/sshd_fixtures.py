# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Helpers for the sshd_config tests: an in-memory file system and the fixture trees."""

from __future__ import annotations

import os

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "fixtures", "sshd")


class MemFS:
    """``read``/``listdir`` over ``{absolute path: bytes}`` (directories are implied by the paths)."""

    def __init__(self, files=None):
        self.files = dict(files or {})
        self.reads = []

    def read(self, path):
        self.reads.append(path)
        return self.files.get(path)

    def listdir(self, path):
        prefix = path.rstrip("/") + "/"
        out = {}
        for name in self.files:
            if name.startswith(prefix):
                rest = name[len(prefix) :]
                out[rest.split("/", 1)[0]] = "/" in rest
        return out or None

    def apply(self, contents):
        self.files.update(contents)


CRLF_SUFFIX = ".crlf"


def fixture_files(name):
    """``{absolute path: bytes}`` of fixture *name* (its etc/ssh tree) at /etc/ssh.

    A file stored as ``X.crlf`` (the repository keeps LF line endings) becomes
    ``X`` with CRLF line endings.
    """
    root = os.path.join(FIXTURES, name)
    files = {}
    for dirpath, _dirs, names in os.walk(os.path.join(root, "etc")):
        for fname in names:
            full = os.path.join(dirpath, fname)
            with open(full, "rb") as handle:
                data = handle.read()
            path = "/" + os.path.relpath(full, root)
            if path.endswith(CRLF_SUFFIX):
                path = path[: -len(CRLF_SUFFIX)]
                data = data.replace(b"\n", b"\r\n")
            files[path] = data
    return files


def fixture_fs(name):
    """A MemFS holding fixture *name* at /etc/ssh."""
    return MemFS(fixture_files(name))


def fixture_names():
    return sorted(d for d in os.listdir(FIXTURES) if os.path.isdir(os.path.join(FIXTURES, d, "etc", "ssh")))
