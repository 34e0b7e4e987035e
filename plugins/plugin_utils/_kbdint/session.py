# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One authenticated paramiko transport: connect, check the host key, authenticate, run.

Everything that touches paramiko lives here. :func:`establish` builds a
:class:`Session` (used in the master process, or in the task's own process
with ``persist: false``); authentication questions go to a *challenger*, which
is the responder itself in-process, or a proxy that forwards them over the
control socket to the task that started the master.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import select
import shlex
import socket
import subprocess
import tempfile
import threading
import time

try:
    import paramiko
    from paramiko.ssh_exception import AuthenticationException, BadAuthenticationType, PasswordRequiredException, SSHException

    HAS_PARAMIKO = True
    PARAMIKO_IMPORT_ERROR = None
except ImportError as _exc:  # pragma: no cover - exercised by ansible-test's import sanity test
    HAS_PARAMIKO = False
    PARAMIKO_IMPORT_ERROR = _exc

from .challenge import Challenger
from .errors import AuthError, CommandError, ConnectError, HostKeyError, KbdintError, PromptRefused, TransferError, TransportLost
from .redact import LOG_CHANNEL, Redactor, guard_paramiko_logging
from .settings import DEFAULT_SFTP_PACKET, Settings

EXEC_WINDOW = 8 * 1024 * 1024
READ_SIZE = 65536
DEFAULT_KEY_FILES = ("~/.ssh/id_ed25519", "~/.ssh/id_ecdsa", "~/.ssh/id_rsa")
SYSTEM_KNOWN_HOSTS = "/etc/ssh/ssh_known_hosts"


def require_paramiko() -> None:
    if not HAS_PARAMIKO:
        raise ConnectError(
            "the fleetauth.ssh.kbdint connection needs the Python library paramiko on the controller (%s); install it with: pip install paramiko"
            % PARAMIKO_IMPORT_ERROR
        )


class _SinkHandler(logging.Handler):
    def __init__(self, sink):
        super().__init__(logging.DEBUG)
        self.sink = sink

    def emit(self, record):
        # Logging must never break a transport.
        with contextlib.suppress(Exception):
            self.sink(record.levelno, self.format(record))


def route_paramiko_logs(redactor: Redactor, sink=None, level=logging.WARNING) -> None:
    """Send paramiko's records for our transports only to *sink*, with secrets masked.

    Our transports log on a channel of their own that does not propagate to the
    root logger, so neither ansible's log_path handler nor Python's last-resort
    stderr handler ever sees them unredacted (or at all, without a sink).
    """
    guard_paramiko_logging(redactor)
    for name in (LOG_CHANNEL, LOG_CHANNEL + ".sftp"):
        logger = logging.getLogger(name)
        logger.propagate = False
        for handler in list(logger.handlers):
            if isinstance(handler, _SinkHandler):
                logger.removeHandler(handler)
        if sink is None:
            logger.addHandler(logging.NullHandler())
        else:
            logger.addHandler(_SinkHandler(sink))
        logger.setLevel(level)


# --------------------------------------------------------------------------- sockets


def _expand_proxy(command: str, settings: Settings):
    """argv of a proxy command with %h %p %r %% expanded inside each word (no shell)."""
    table = {"h": settings.host, "p": str(settings.port), "r": settings.user or "", "%": "%"}
    argv = []
    for word in shlex.split(command):
        out = []
        i = 0
        while i < len(word):
            if word[i] == "%" and i + 1 < len(word) and word[i + 1] in table:
                out.append(table[word[i + 1]])
                i += 2
            else:
                out.append(word[i])
                i += 1
        argv.append("".join(out))
    if not argv:
        raise ConnectError("proxy_command is empty")
    return argv


class ProxySocket:
    """A proxy command on one end of a socketpair; paramiko gets the other (a real socket)."""

    def __init__(self, command: str, settings: Settings):
        self.argv = _expand_proxy(command, settings)
        ours, theirs = socket.socketpair()
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115  pylint: disable=consider-using-with  # lives as long as the proxy
        try:
            self.process = subprocess.Popen(  # pylint: disable=consider-using-with
                self.argv, stdin=theirs.fileno(), stdout=theirs.fileno(), stderr=self._stderr, close_fds=True, start_new_session=True
            )
        except OSError as exc:
            ours.close()
            theirs.close()
            raise ConnectError("proxy_command %s could not be started: %s" % (self.argv[0], exc.strerror or exc)) from None
        theirs.close()
        self.sock = ours

    def stderr_tail(self) -> str:
        try:
            self._stderr.seek(0)
            text = self._stderr.read()[-600:].decode("utf-8", "replace").strip()
        except (OSError, ValueError):
            return ""
        return text

    def close(self) -> None:
        try:
            self.sock.close()
        finally:
            if self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(2)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
            self._stderr.close()


def open_socket(settings: Settings):
    """A connected socket to the host (TCP_NODELAY), or a ProxySocket for proxy_command."""
    if settings.proxy_command:
        return ProxySocket(settings.proxy_command, settings)
    try:
        sock = socket.create_connection((settings.host, settings.port), timeout=settings.connect_timeout)
    except socket.timeout:
        raise ConnectError(
            "could not connect to %s port %d within %.0f s (timeout option)" % (settings.host, settings.port, settings.connect_timeout)
        ) from None
    except OSError as exc:
        raise ConnectError("could not connect to %s port %d: %s" % (settings.host, settings.port, exc.strerror or exc)) from None
    tune_socket(sock)
    return sock


def tune_socket(sock) -> None:
    if getattr(sock, "family", None) in (socket.AF_INET, socket.AF_INET6):
        # Without it every small exec waits for delayed ACKs: measured 44 ms vs 2.5 ms per command.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)


# --------------------------------------------------------------------------- host keys


def _fingerprint(key) -> str:
    return "%s %s" % (key.get_name(), key.fingerprint)


def _load_known_hosts(settings: Settings):
    keys = paramiko.HostKeys()
    files = []
    for path in (SYSTEM_KNOWN_HOSTS, os.path.expanduser(settings.known_hosts_file)):
        if path and os.path.isfile(path):
            try:
                keys.load(path)
            except (OSError, SSHException, ValueError) as exc:
                raise HostKeyError("cannot read known_hosts file %s: %s" % (path, exc)) from None
            files.append(path)
    return keys, files


def _algorithms_for(keytype: str):
    if keytype == "ssh-rsa":
        return ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"]
    return [keytype]


def prefer_known_host_key_types(transport, known) -> None:
    """Ask first for host key algorithms we already know for this host (as OpenSSH does)."""
    if not known:
        return
    options = transport.get_security_options()
    current = list(options.key_types)
    wanted = []
    for keytype in known:
        for algorithm in _algorithms_for(keytype):
            if algorithm in current and algorithm not in wanted:
                wanted.append(algorithm)
    if wanted:
        options.key_types = wanted + [k for k in current if k not in wanted]


def record_host_key(path: str, name: str, key) -> None:
    path = os.path.expanduser(path)
    directory = os.path.dirname(path) or "."
    if not os.path.isdir(directory):
        os.makedirs(directory, mode=0o700, exist_ok=True)
    line = "%s %s %s\n" % (name, key.get_name(), key.get_base64())
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
    try:
        size = os.fstat(fd).st_size
        if size:
            with open(path, "rb") as handle:
                handle.seek(size - 1)
                if handle.read(1) != b"\n":
                    line = "\n" + line
        os.write(fd, line.encode("ascii"))
    finally:
        os.close(fd)


def check_host_key(transport, settings: Settings, known, files, info) -> None:
    key = transport.get_remote_server_key()
    name = settings.known_hosts_name
    where = ", ".join(files) if files else "no known_hosts file (looked at %s and %s)" % (settings.known_hosts_file, SYSTEM_KNOWN_HOSTS)
    if known:
        mine = known.get(key.get_name())
        if mine is not None and mine.asbytes() == key.asbytes():
            return
        if mine is not None:
            raise HostKeyError(
                "HOST KEY MISMATCH for %s: the server presented %s but %s records a different %s key. This can be a man-in-the-middle "
                "attack or a reinstalled host; nothing was sent. If the change is expected, remove the old entry with "
                "ssh-keygen -R '%s' -f FILE and connect again." % (name, _fingerprint(key), where, key.get_name(), name)
            )
        raise HostKeyError(
            "HOST KEY MISMATCH for %s: the server presented %s, but %s records only %s key(s) for it; nothing was sent. "
            "If the change is expected, remove the old entries with ssh-keygen -R '%s' -f FILE and connect again."
            % (name, _fingerprint(key), where, ", ".join(sorted(known.keys())), name)
        )
    if settings.host_key_checking:
        raise HostKeyError(
            "unknown host key for %s: the server presented %s, which is not in %s; nothing was sent. Verify the fingerprint and add it "
            "(for example: ssh-keyscan -p %d %s >> %s), or set host_key_checking to false to accept and record new host keys."
            % (name, _fingerprint(key), where, settings.port, settings.host, settings.known_hosts_file)
        )
    try:
        record_host_key(settings.known_hosts_file, name, key)
        info("host key of %s (%s) was unknown; accepted (host_key_checking is off) and recorded in %s" % (name, _fingerprint(key), settings.known_hosts_file))
    except OSError as exc:
        info(
            "host key of %s (%s) was unknown; accepted (host_key_checking is off) but could not be recorded in %s: %s"
            % (name, _fingerprint(key), settings.known_hosts_file, exc.strerror)
        )


# --------------------------------------------------------------------------- authentication


class _Keys:
    """Candidate keys, loaded lazily in the order: key files, agent, default files."""

    def __init__(self, settings: Settings, challenger: Challenger):
        self.settings = settings
        self.challenger = challenger
        self.tried = []
        self._queue = None
        self._agent = None

    def _candidates(self):
        for path in self.settings.key_files:
            yield ("file", path)
        if self.settings.allow_agent:
            yield ("agent", None)
        if self.settings.look_for_keys and not self.settings.key_files:
            for path in DEFAULT_KEY_FILES:
                if os.path.isfile(os.path.expanduser(path)):
                    yield ("file", path)

    def _load_file(self, path):
        full = os.path.expanduser(path)
        try:
            try:
                return paramiko.PKey.from_path(full)
            except (TypeError, PasswordRequiredException):
                secret = self.challenger.passphrase(path)
                if not secret:
                    self.challenger.info("private key %s is encrypted and no private_key_passphrase is set; skipping it" % path)
                    return None
                return paramiko.PKey.from_path(full, secret)
        except FileNotFoundError:
            raise AuthError("private key file %s does not exist (private_key_file)" % path) from None
        except (OSError, ValueError, SSHException, TypeError) as exc:
            raise AuthError("cannot load private key %s: %s" % (path, getattr(exc, "strerror", None) or type(exc).__name__)) from None

    def __iter__(self):
        for kind, path in self._candidates():
            if kind == "file":
                key = self._load_file(path)
                if key is not None:
                    yield "key file %s (%s)" % (path, key.get_name()), key
            else:
                if not os.environ.get("SSH_AUTH_SOCK"):
                    continue
                try:
                    self._agent = paramiko.Agent()
                    agent_keys = self._agent.get_keys()
                except (SSHException, OSError):
                    continue
                for key in agent_keys:
                    yield "agent key %s" % key.get_name(), key

    def close(self):
        if self._agent is not None:
            self._agent.close()


def _kbdint_handler(challenger: Challenger, failure: list):
    def handler(title, instructions, prompts):
        try:
            answers = challenger.kbdint(title, instructions, list(prompts))
        except KbdintError as exc:
            failure.append(exc)
            # Raising in paramiko's thread shuts the transport down without
            # sending any answer: the server receives nothing for this round.
            raise
        if len(answers) != len(prompts):
            exc = PromptRefused("internal error: %d answers for %d prompts; nothing was sent" % (len(answers), len(prompts)))
            failure.append(exc)
            raise exc
        return answers

    return handler


def authenticate(transport, settings: Settings, challenger: Challenger) -> list:
    """Drive authentication through partial-success chains; return the methods that succeeded."""
    user = settings.user
    succeeded = []
    tried = []
    try:
        transport.auth_none(user)
        return ["none"]
    except BadAuthenticationType as exc:
        allowed = list(exc.allowed_types)
    except AuthenticationException as exc:
        raise AuthError("authentication as %s failed before any method was tried: %s" % (settings.label, exc)) from None
    except SSHException as exc:
        raise ConnectError("the connection to %s broke during authentication: %s" % (settings.label, exc)) from None
    challenger.info("server %s allows authentication methods: %s" % (settings.label, ", ".join(allowed) or "(none)"))
    keys = _Keys(settings, challenger)
    key_iter = iter(keys)
    exhausted = set()
    budget = 32
    try:
        while budget:
            budget -= 1
            method = next((m for m in settings.preferred if m in allowed and m not in exhausted), None)
            if method is None:
                raise AuthError(
                    "authentication as %s failed: the server %s (allowed: %s); tried: %s. Check the user, key (private_key_file), password "
                    "and responder rules, and which methods the server requires (AuthenticationMethods)."
                    % (
                        settings.label,
                        "accepted %s but wants more" % " then ".join(succeeded) if succeeded else "accepted nothing",
                        ", ".join(allowed) or "none",
                        "; ".join(tried) or "nothing we could offer (preferred_authentications: %s)" % ", ".join(settings.preferred),
                    )
                )
            try:
                if method == "publickey":
                    item = next(key_iter, None)
                    if item is None:
                        exhausted.add(method)
                        continue
                    what, key = item
                    challenger.info("trying publickey with %s" % what)
                    remaining = transport.auth_publickey(user, key)
                    tried.append("publickey %s accepted" % what)
                elif method == "keyboard-interactive":
                    exhausted.add(method)  # one attempt per offer: a retry would need a new code
                    failure = []
                    challenger.begin_kbdint()
                    try:
                        remaining = transport.auth_interactive(user, _kbdint_handler(challenger, failure))
                    except (AuthenticationException, SSHException, EOFError, OSError) as exc:
                        if failure:
                            raise failure[0] from None
                        if isinstance(exc, BadAuthenticationType):
                            raise
                        if not transport.is_active():
                            raise AuthError(
                                "keyboard-interactive authentication as %s failed: the server closed the connection (%s). A wrong password or "
                                "code, a reused TOTP code, or the server's rate limit can cause this; see the server's auth log."
                                % (settings.label, type(exc).__name__)
                            ) from None
                        raise
                    tried.append("keyboard-interactive accepted")
                elif method == "password":
                    exhausted.add(method)
                    secret = challenger.password()
                    if not secret:
                        tried.append("password (none set)")
                        continue
                    remaining = transport.auth_password(user, secret, fallback=False)
                    tried.append("password accepted")
                else:
                    exhausted.add(method)
                    continue
            except BadAuthenticationType as exc:
                allowed = list(exc.allowed_types)
                exhausted.add(method)
                continue
            except AuthenticationException as exc:
                tried.append("%s refused" % method)
                if method != "publickey":
                    exhausted.add(method)
                if not transport.is_active():
                    raise AuthError(
                        "authentication as %s failed and the server closed the connection; tried: %s" % (settings.label, "; ".join(tried))
                    ) from None
                if method == "keyboard-interactive":
                    raise AuthError(
                        "keyboard-interactive authentication as %s was refused by the server (wrong password or code, a reused TOTP code, or "
                        "the server's rate limit); tried: %s" % (settings.label, "; ".join(tried))
                    ) from None
                del exc
                continue
            except SSHException as exc:
                raise ConnectError("the connection to %s broke during %s authentication: %s" % (settings.label, method, exc)) from None
            succeeded.append(method)
            if transport.is_authenticated():
                return succeeded
            allowed = list(remaining)
            challenger.info("%s accepted (partial success); the server now wants: %s" % (method, ", ".join(allowed)))
            # A method may legitimately be asked for again in a chain (publickey,publickey).
            if method in allowed:
                exhausted.discard(method)
        raise AuthError("authentication as %s did not finish after too many attempts; tried: %s" % (settings.label, "; ".join(tried)))
    finally:
        keys.close()


# --------------------------------------------------------------------------- sessions


def start_transport(sock, settings: Settings, challenger: Challenger, redactor: Redactor):
    """Handshake on *sock*, check the host key and authenticate; return the Transport."""
    require_paramiko()
    guard_paramiko_logging(redactor)
    try:
        transport = paramiko.Transport(sock, default_window_size=EXEC_WINDOW, default_max_packet_size=DEFAULT_SFTP_PACKET)
    except (SSHException, OSError) as exc:
        raise ConnectError("cannot start SSH on the connection to %s: %s" % (settings.label, exc)) from None
    transport.set_log_channel(LOG_CHANNEL)
    transport.banner_timeout = settings.connect_timeout
    transport.handshake_timeout = settings.connect_timeout
    transport.auth_timeout = settings.auth_timeout
    try:
        known, files = _load_known_hosts(settings)
        known_for_host = known.lookup(settings.known_hosts_name)
        prefer_known_host_key_types(transport, known_for_host)
        try:
            transport.start_client(timeout=settings.connect_timeout)
        except (SSHException, EOFError, OSError) as exc:
            raise ConnectError("SSH handshake with %s failed: %s" % (settings.label, exc or type(exc).__name__)) from None
        check_host_key(transport, settings, known_for_host, files, challenger.info)
        authenticate(transport, settings, challenger)
    except BaseException:
        transport.close()
        raise
    if settings.keepalive:
        transport.set_keepalive(settings.keepalive)
    return transport


class Running:
    """A command started on a channel, driven step by step (privilege escalation)."""

    def __init__(self, channel):
        self.channel = channel
        self.eof = False

    def fileno(self):
        return self.channel.fileno()

    def read_some(self, timeout):
        """Whatever stdout/stderr is available within *timeout*: (out, err, eof)."""
        chan = self.channel
        if not (chan.recv_ready() or chan.recv_stderr_ready() or chan.eof_received or chan.closed):
            select.select([chan], [], [], timeout)
        out = chan.recv(READ_SIZE) if chan.recv_ready() else b""
        err = chan.recv_stderr(READ_SIZE) if chan.recv_stderr_ready() else b""
        if not out and not err and (chan.eof_received or chan.closed) and not chan.recv_ready() and not chan.recv_stderr_ready():
            self.eof = True
        return out, err, self.eof

    def write(self, data: bytes) -> None:
        try:
            self.channel.sendall(data)
        except (OSError, SSHException) as exc:
            raise CommandError("could not send data to the command: %s" % exc) from None

    def finish(self, in_data=None, timeout=None):
        """Send *in_data*, close stdin, collect everything and the exit status."""
        chan = self.channel
        try:
            if in_data and not self.eof:
                chan.sendall(in_data)
            if not self.eof:
                chan.shutdown_write()
        except (OSError, SSHException):
            pass  # the command may have exited already; its output tells why
        out, err = drain(chan, timeout)
        rc = chan.recv_exit_status()
        chan.close()
        return rc, out, err

    def abort(self) -> None:
        self.channel.close()


def drain(chan, timeout=None):
    """Read stdout and stderr of *chan* until EOF (or raise CommandError after *timeout*)."""
    out = []
    err = []
    deadline = None if not timeout else time.monotonic() + timeout
    while True:
        got = False
        while chan.recv_ready():
            out.append(chan.recv(READ_SIZE))
            got = True
        while chan.recv_stderr_ready():
            err.append(chan.recv_stderr(READ_SIZE))
            got = True
        if not got and (chan.eof_received or chan.closed):
            if not chan.recv_ready() and not chan.recv_stderr_ready():
                break
            continue
        if got:
            continue
        wait = 1.0
        if deadline is not None:
            wait = deadline - time.monotonic()
            if wait <= 0:
                chan.close()
                raise CommandError("the command did not finish within %s s (command_timeout)" % timeout)
            wait = min(wait, 1.0)
        select.select([chan], [], [], wait)
    return b"".join(out), b"".join(err)


class Session:
    """An authenticated transport and what tasks do with it."""

    def __init__(self, transport, settings: Settings, closers=()):
        self.transport = transport
        self.settings = settings
        self._closers = list(closers)
        self._sftp = None
        self._sftp_lock = threading.Lock()
        self._sftp_broken = False

    @property
    def alive(self) -> bool:
        return self.transport is not None and self.transport.is_active()

    def _open_channel(self, pty=False):
        if not self.alive:
            raise TransportLost("the SSH connection to %s is closed" % self.settings.label)
        try:
            chan = self.transport.open_session(window_size=EXEC_WINDOW, timeout=self.settings.connect_timeout)
        except (SSHException, OSError, EOFError) as exc:
            if not self.alive:
                raise TransportLost("the SSH connection to %s was lost: %s" % (self.settings.label, exc or type(exc).__name__)) from None
            raise CommandError("could not open a session channel to %s: %s" % (self.settings.label, exc)) from None
        if pty:
            chan.get_pty(term=os.environ.get("TERM", "vt100") or "vt100", width=80, height=24)
        return chan

    def start(self, cmd: bytes, pty=False) -> Running:
        chan = self._open_channel(pty)
        try:
            chan.exec_command(cmd)
        except (SSHException, OSError, EOFError) as exc:
            chan.close()
            raise CommandError("the server refused to run the command on %s: %s" % (self.settings.label, exc)) from None
        return Running(chan)

    def exec(self, cmd: bytes, in_data=None, pty=False, timeout=None):
        running = self.start(cmd, pty)
        try:
            return running.finish(in_data, timeout)
        except (SSHException, OSError, EOFError) as exc:
            running.abort()
            if not self.alive:
                raise CommandError("the SSH connection to %s was lost while a command ran: %s" % (self.settings.label, exc or type(exc).__name__)) from None
            raise CommandError("command on %s failed: %s" % (self.settings.label, exc)) from None

    # -- files ------------------------------------------------------------

    def _sftp_client(self):
        if self._sftp is not None and not self._sftp.sock.closed:
            return self._sftp
        if not self.alive:
            raise TransportLost("the SSH connection to %s is closed" % self.settings.label)
        try:
            self._sftp = paramiko.SFTPClient.from_transport(self.transport, window_size=self.settings.sftp_window, max_packet_size=self.settings.sftp_packet)
        except (SSHException, OSError, EOFError) as exc:
            self._sftp = None
            raise CommandError("cannot start SFTP on %s: %s" % (self.settings.label, exc)) from None
        if self._sftp is None:
            raise CommandError("cannot start SFTP on %s" % self.settings.label)
        return self._sftp

    def _use_sftp(self) -> bool:
        return self.settings.transfer_method == "sftp" or (self.settings.transfer_method == "smart" and not self._sftp_broken)

    def _via_sftp(self, action, what: str) -> bool:
        """Run *action(client)* over SFTP; False when the caller should pipe instead.

        In ``smart`` mode a server without SFTP is remembered and piped to from
        then on; with ``sftp`` its absence is an error. *what* names the transfer
        in error messages.
        """
        if not self._use_sftp():
            return False
        with self._sftp_lock:
            try:
                client = self._sftp_client()
            except CommandError:
                if self.settings.transfer_method == "sftp":
                    raise
                self._sftp_broken = True
                return False
            try:
                action(client)
            except OSError as exc:
                raise TransferError("failed to %s: %s" % (what, _oserror_text(exc))) from None
            except (SSHException, EOFError) as exc:
                self._sftp = None
                raise TransferError("failed to %s: %s" % (what, exc)) from None
        return True

    def put(self, local: str, remote: str) -> None:
        if not os.path.isfile(local):
            raise TransferError("file or module does not exist: %s" % local)
        what = "transfer %s to %s:%s" % (local, self.settings.label, remote)
        if self._via_sftp(lambda client: client.put(local, remote, confirm=True), what):
            return
        with open(local, "rb") as handle:
            data = handle.read()
        rc, _out, err = self.exec(b"cat > " + shlex.quote(remote).encode("utf-8", "surrogateescape"), data)
        if rc != 0:
            raise TransferError("failed to %s (piped): %s" % (what, err.decode("utf-8", "replace").strip()))

    def fetch(self, remote: str, local: str) -> None:
        what = "fetch %s:%s" % (self.settings.label, remote)
        if self._via_sftp(lambda client: client.get(remote, local), what):
            return
        rc, out, err = self.exec(b"cat " + shlex.quote(remote).encode("utf-8", "surrogateescape"))
        if rc != 0:
            raise TransferError("failed to %s (piped): %s" % (what, err.decode("utf-8", "replace").strip()))
        fd = os.open(local, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0), 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(out)

    # -- jump host ---------------------------------------------------------

    def tunnel(self, host: str, port: int):
        """A direct-tcpip channel to host:port through this transport."""
        if not self.alive:
            raise TransportLost("the SSH connection to %s is closed" % self.settings.label)
        try:
            return self.transport.open_channel("direct-tcpip", (host, int(port)), ("127.0.0.1", 0), timeout=self.settings.connect_timeout)
        except (SSHException, OSError, EOFError) as exc:
            raise ConnectError("the jump host %s could not open a connection to %s port %s: %s" % (self.settings.label, host, port, exc)) from None

    def close(self) -> None:
        with self._sftp_lock:
            if self._sftp is not None:
                with contextlib.suppress(OSError, SSHException, EOFError):
                    self._sftp.close()
                self._sftp = None
        if self.transport is not None:
            self.transport.close()
        for closer in self._closers:
            with contextlib.suppress(Exception):  # best effort on the way out
                closer()
        self._closers = []


def _oserror_text(exc: OSError) -> str:
    if exc.errno in (errno.ENOENT,) or isinstance(exc, FileNotFoundError):
        return "no such file or directory"
    if exc.errno in (errno.EACCES, errno.EPERM) or isinstance(exc, PermissionError):
        return "permission denied"
    return exc.strerror or str(exc) or type(exc).__name__


def establish(settings: Settings, challenger: Challenger, redactor: Redactor, sock=None) -> Session:
    """Connect (or use *sock*, e.g. a jump host tunnel), check the host key, authenticate."""
    require_paramiko()
    closers = []
    proxy = None
    if sock is None:
        opened = open_socket(settings)
        if isinstance(opened, ProxySocket):
            proxy = opened
            sock = opened.sock
            closers.append(opened.close)
        else:
            sock = opened
    try:
        transport = start_transport(sock, settings, challenger, redactor)
    except ConnectError as exc:
        if proxy is not None:
            tail = proxy.stderr_tail()
            for closer in closers:
                closer()
            if tail and not isinstance(exc, HostKeyError):
                raise ConnectError("%s (proxy_command said: %s)" % (exc, redactor.redact(tail))) from None
        raise
    except BaseException:
        for closer in closers:
            closer()
        raise
    return Session(transport, settings, closers)
