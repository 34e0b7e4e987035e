# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A real SSH server for the tests, written with paramiko, on 127.0.0.1 only.

It speaks the protocol for real: publickey, password and keyboard-interactive
authentication with partial-success chains (``AuthenticationMethods``), any
keyboard-interactive rounds a test scripts (including hostile ones), command
execution (the command runs locally with ``/bin/sh -c``), SFTP on a local
directory tree, and ``direct-tcpip`` channels (as a jump host). It records
everything a client sends during authentication, so a test can prove that a
secret was never sent.
"""

from __future__ import annotations

import contextlib
import io
import os
import socket
import subprocess
import threading
import time

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519


def new_ed25519_key(path=None):
    """A fresh Ed25519 key as a paramiko key (and written in OpenSSH format to *path*)."""
    private = ed25519.Ed25519PrivateKey.generate()
    data = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption())
    if path:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
    return paramiko.Ed25519Key(file_obj=io.StringIO(data.decode("ascii")))


class Round:
    """One keyboard-interactive round: prompts, and a check of the answers.

    *expect* is a list with one entry per prompt: a string the answer must equal,
    a callable(answer) -> bool, or None (anything goes).
    """

    def __init__(self, prompts, expect=None, instruction="", name=""):
        self.prompts = list(prompts)
        self.expect = list(expect) if expect is not None else [None] * len(self.prompts)
        self.instruction = instruction
        self.name = name

    def accepts(self, answers):
        if len(answers) != len(self.prompts):
            return False
        for want, got in zip(self.expect, answers):
            if want is None:
                continue
            if callable(want):
                if not want(got):
                    return False
            elif want != got:
                return False
        return True


class Behaviour:
    """What the server accepts. Mutable between connections."""

    def __init__(self, user="alice", password=None, client_key=None, chains=None, rounds=None, delay_rounds=0.0):
        self.user = user
        self.password = password
        self.client_key = client_key
        # A list of chains (each a list of methods), like AuthenticationMethods.
        self.chains = chains or [["publickey"]]
        self.rounds = rounds or []
        self.delay_rounds = delay_rounds


class Recorder:
    def __init__(self):
        self.lock = threading.Lock()
        self.passwords = []  # what arrived through the password method
        self.kbd_answers = []  # (round number, prompts, answers) per INFO_RESPONSE
        self.kbd_started = 0
        self.logins = 0
        self.connections = 0
        self.commands = []
        self.tunnels = []

    def everything_sent(self):
        """Every string the client sent as a credential answer."""
        with self.lock:
            values = list(self.passwords)
            for _round, _prompts, answers in self.kbd_answers:
                values.extend(answers)
        return values


class _Interface(paramiko.ServerInterface):
    def __init__(self, server, transport):
        self.server = server
        self.behaviour = server.behaviour
        self.record = server.record
        self.transport = transport
        self.done = []
        self.round_index = 0
        self.tunnels = {}

    # -- authentication -------------------------------------------------------

    def _next_methods(self):
        methods = []
        for chain in self.behaviour.chains:
            if chain[: len(self.done)] == self.done and len(chain) > len(self.done):
                method = chain[len(self.done)]
                if method not in methods:
                    methods.append(method)
        return methods

    def _complete(self, method):
        self.done.append(method)
        if any(chain == self.done for chain in self.behaviour.chains):
            with self.record.lock:
                self.record.logins += 1
            return paramiko.AUTH_SUCCESSFUL
        return paramiko.AUTH_PARTIALLY_SUCCESSFUL

    def get_allowed_auths(self, username):
        return ",".join(self._next_methods())

    def check_auth_none(self, username):
        return paramiko.AUTH_FAILED

    def check_auth_publickey(self, username, key):
        if "publickey" not in self._next_methods() or username != self.behaviour.user:
            return paramiko.AUTH_FAILED
        wanted = self.behaviour.client_key
        if wanted is None or key.asbytes() != wanted.asbytes():
            return paramiko.AUTH_FAILED
        return self._complete("publickey")

    def check_auth_password(self, username, password):
        with self.record.lock:
            self.record.passwords.append(password)
        if "password" not in self._next_methods() or username != self.behaviour.user:
            return paramiko.AUTH_FAILED
        if self.behaviour.password is None or password != self.behaviour.password:
            return paramiko.AUTH_FAILED
        return self._complete("password")

    def _query(self):
        current = self.behaviour.rounds[self.round_index]
        query = paramiko.InteractiveQuery(current.name, current.instruction)
        for text, echo in current.prompts:
            query.add_prompt(text, echo)
        return query

    def check_auth_interactive(self, username, submethods):
        if "keyboard-interactive" not in self._next_methods() or username != self.behaviour.user:
            return paramiko.AUTH_FAILED
        with self.record.lock:
            self.record.kbd_started += 1
        self.round_index = 0
        if not self.behaviour.rounds:
            return self._complete("keyboard-interactive")
        return self._query()

    def check_auth_interactive_response(self, responses):
        current = self.behaviour.rounds[self.round_index]
        with self.record.lock:
            self.record.kbd_answers.append((self.round_index + 1, list(current.prompts), list(responses)))
        if self.behaviour.delay_rounds:
            time.sleep(self.behaviour.delay_rounds)
        if not current.accepts(list(responses)):
            return paramiko.AUTH_FAILED
        self.round_index += 1
        if self.round_index < len(self.behaviour.rounds):
            return self._query()
        return self._complete("keyboard-interactive")

    # -- channels ---------------------------------------------------------------

    def check_channel_request(self, kind, chanid):
        if kind == "session":
            return paramiko.OPEN_SUCCEEDED
        return paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_direct_tcpip_request(self, chanid, origin, destination):
        with self.record.lock:
            self.record.tunnels.append(tuple(destination))
        self.tunnels[chanid] = destination
        return paramiko.OPEN_SUCCEEDED

    def check_channel_pty_request(self, channel, term, width, height, pixelwidth, pixelheight, modes):
        return True

    def check_channel_exec_request(self, channel, command):
        text = command.decode("utf-8", "replace") if isinstance(command, bytes) else command
        with self.record.lock:
            self.record.commands.append(text)
        threading.Thread(target=_run_command, args=(channel, text, self.server.workdir), daemon=True).start()
        return True


def _run_command(channel, command, cwd):
    env = dict(os.environ, HOME=cwd)
    proc = subprocess.Popen(["/bin/sh", "-c", command], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd, env=env)

    def feed():
        try:
            while True:
                data = channel.recv(65536)
                if not data:
                    break
                proc.stdin.write(data)
                proc.stdin.flush()
        except (OSError, ValueError):
            pass
        finally:
            with contextlib.suppress(OSError):
                proc.stdin.close()

    def pump(stream, send):
        try:
            while True:
                data = os.read(stream.fileno(), 65536)
                if not data:
                    break
                send(data)
        except OSError:
            pass  # the client went away

    threads = [
        threading.Thread(target=feed, daemon=True),
        threading.Thread(target=pump, args=(proc.stdout, channel.sendall), daemon=True),
        threading.Thread(target=pump, args=(proc.stderr, channel.sendall_stderr), daemon=True),
    ]
    for thread in threads:
        thread.start()
    threads[1].join()
    threads[2].join()
    rc = proc.wait()
    try:
        channel.send_exit_status(rc)
        channel.shutdown_write()
    except OSError:
        pass
    channel.close()


class _Handle(paramiko.SFTPHandle):
    def stat(self):
        try:
            return paramiko.SFTPAttributes.from_stat(os.fstat((self.readfile or self.writefile).fileno()))
        except OSError as exc:
            return paramiko.SFTPServer.convert_errno(exc.errno)


class _SFTP(paramiko.SFTPServerInterface):
    """The local file system, as it is (tests use absolute paths under a tmp dir)."""

    def open(self, path, flags, attr):
        mode = attr.st_mode if attr is not None and attr.st_mode is not None else 0o644
        try:
            fd = os.open(path, flags | getattr(os, "O_BINARY", 0), mode)
        except OSError as exc:
            return paramiko.SFTPServer.convert_errno(exc.errno)
        if flags & os.O_WRONLY:
            fmode = "ab" if flags & os.O_APPEND else "wb"
        elif flags & os.O_RDWR:
            fmode = "a+b" if flags & os.O_APPEND else "r+b"
        else:
            fmode = "rb"
        handle = _Handle(flags)
        fobj = os.fdopen(fd, fmode)
        handle.readfile = fobj if "r" in fmode or "+" in fmode else None
        handle.writefile = fobj if "w" in fmode or "a" in fmode or "+" in fmode else None
        handle.filename = path
        return handle

    def stat(self, path):
        try:
            return paramiko.SFTPAttributes.from_stat(os.stat(path))
        except OSError as exc:
            return paramiko.SFTPServer.convert_errno(exc.errno)

    def lstat(self, path):
        try:
            return paramiko.SFTPAttributes.from_stat(os.lstat(path))
        except OSError as exc:
            return paramiko.SFTPServer.convert_errno(exc.errno)

    def remove(self, path):
        try:
            os.remove(path)
        except OSError as exc:
            return paramiko.SFTPServer.convert_errno(exc.errno)
        return paramiko.SFTP_OK

    def rename(self, oldpath, newpath):
        try:
            os.rename(oldpath, newpath)
        except OSError as exc:
            return paramiko.SFTPServer.convert_errno(exc.errno)
        return paramiko.SFTP_OK

    def chattr(self, path, attr):
        try:
            if attr.st_mode is not None:
                os.chmod(path, attr.st_mode)
        except OSError as exc:
            return paramiko.SFTPServer.convert_errno(exc.errno)
        return paramiko.SFTP_OK

    def canonicalize(self, path):
        return os.path.normpath(path if os.path.isabs(path) else os.path.join("/", path))


class TestSSHServer:
    """Listens on 127.0.0.1:<random port>; one thread per connection."""

    __test__ = False  # not a pytest test class

    def __init__(self, behaviour=None, workdir=None):
        self.host_key = paramiko.ECDSAKey.generate()
        self.behaviour = behaviour or Behaviour()
        self.record = Recorder()
        self.workdir = workdir or os.getcwd()
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(32)
        self.port = self.listener.getsockname()[1]
        self.transports = []
        self._stop = False
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def known_hosts_line(self, host="127.0.0.1"):
        return "[%s]:%d %s %s\n" % (host, self.port, self.host_key.get_name(), self.host_key.get_base64())

    def _accept(self):
        while not self._stop:
            try:
                conn = self.listener.accept()[0]
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        with self.record.lock:
            self.record.connections += 1
        transport = paramiko.Transport(conn)
        transport.add_server_key(self.host_key)
        transport.set_subsystem_handler("sftp", paramiko.SFTPServer, _SFTP)
        self.transports.append(transport)
        interface = _Interface(self, transport)
        try:
            transport.start_server(server=interface)
        except (paramiko.SSHException, EOFError, OSError):
            return
        # Relay direct-tcpip channels (jump host role); session channels run via callbacks.
        # paramiko holds channels weakly: keep every accepted one alive until the end.
        held = []
        while transport.is_active() and not self._stop:
            channel = transport.accept(0.5)
            if channel is None:
                continue
            held.append(channel)
            destination = interface.tunnels.pop(channel.get_id(), None)
            if destination is not None:
                threading.Thread(target=_relay, args=(channel, destination), daemon=True).start()

    def close(self):
        self._stop = True
        with contextlib.suppress(OSError):
            self.listener.close()
        for transport in self.transports:
            transport.close()


def _relay(channel, destination):
    import select

    try:
        sock = socket.create_connection(tuple(destination), timeout=5)
    except OSError:
        channel.close()
        return
    try:
        while True:
            ready = select.select([sock, channel], [], [], 5)[0]
            if sock in ready:
                data = sock.recv(65536)
                if not data:
                    break
                channel.sendall(data)
            if channel in ready:
                data = channel.recv(65536)
                if not data:
                    break
                sock.sendall(data)
    except OSError:
        pass
    finally:
        sock.close()
        channel.close()
