# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Framing on the control socket between a task (client) and its master.

A frame is ``!II`` (header length, payload length), a JSON header (an object)
and a binary payload. Nothing here logs anything: frames carry answers to
prompts and command data.
"""

from __future__ import annotations

import json
import socket
import struct

from .errors import MasterError

# Bump when the frames change; it is part of the control socket's name, so a
# run never talks to a master of another version.
VERSION = 1
_HEAD = struct.Struct("!II")
MAX_HEADER = 1 << 20
MAX_PAYLOAD = 1 << 31


def send(sock: socket.socket, header: dict, payload: bytes = b"") -> None:
    data = json.dumps(header, separators=(",", ":")).encode("utf-8")
    if payload and not isinstance(payload, (bytes, bytearray, memoryview)):
        raise TypeError("payload must be bytes")
    sock.sendall(_HEAD.pack(len(data), len(payload)) + data + bytes(payload) if len(payload) < 65536 else _HEAD.pack(len(data), len(payload)) + data)
    if len(payload) >= 65536:
        sock.sendall(payload)


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    chunks = []
    left = size
    while left:
        chunk = sock.recv(min(left, 1 << 20))
        if not chunk:
            raise EOFError("control socket closed")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def recv(sock: socket.socket):
    """Read one frame; EOFError when the peer closed, MasterError when it is garbage."""
    head = _recv_exact(sock, _HEAD.size)
    hlen, plen = _HEAD.unpack(head)
    if hlen > MAX_HEADER or plen > MAX_PAYLOAD:
        raise MasterError("malformed frame on the control socket (header %d bytes, payload %d bytes)" % (hlen, plen))
    try:
        header = json.loads(_recv_exact(sock, hlen).decode("utf-8"))
    except ValueError:
        raise MasterError("malformed frame header on the control socket") from None
    if not isinstance(header, dict):
        raise MasterError("malformed frame header on the control socket")
    payload = _recv_exact(sock, plen) if plen else b""
    return header, payload
