# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The control-socket master: one process per host + port + user holding the transport.

Ansible calls ``close()`` on a connection after every task, and each task runs in a
fresh worker process, so a transport kept in the plugin dies after one task. Like
OpenSSH's ControlMaster, the first task that needs a host forks a master (double fork,
new session, stdio on /dev/null) that owns the paramiko transport and listens on a Unix
socket in a 0700 per-user directory; later tasks connect to that socket and ask it to
run commands and move files. The master answers only its own uid (SO_PEERCRED).

Authentication runs *in the master* but every question goes back over the socket to
the task that started it: the responder, the TOTP reuse guard, vault secrets and the
person at the terminal (``ask``) all stay in the Ansible worker. The master only sees
the answers it forwards to the server.

The master exits when it has been idle for ``persist_timeout`` seconds, when the
``ansible-playbook`` process it belongs to is gone (``persist_scope: run``), when the
transport closes, or when told to (``reset_connection``). A master that dies shows up
to clients as EOF on the socket, never as a hang.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import gc
import os
import select
import signal
import socket
import struct
import sys
import threading
import time
import traceback
import warnings

from . import protocol
from .challenge import Challenger
from .errors import AuthError, CommandError, KbdintError, MasterError, TransportLost, from_kind
from .paths import digest, ensure_private_dir, socket_path
from .redact import Redactor

LOGIN_GRACE = 15.0
HOUSEKEEPING_INTERVAL = 1.0
# Exits after which a master's log is worth keeping (for the person debugging it).
NORMAL_EXITS = ("the ansible run", "idle for", "asked to", "nobody logged in")
STALE_AFTER = 24 * 3600
# Seconds a live master has to answer the ping of a task attaching to it.
ATTACH_TIMEOUT = 10.0


def process_start_time(pid: int):
    """Start time of *pid* (clock ticks since boot) to tell a pid from its reuse; None if unknown."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as handle:
            data = handle.read()
        return int(data[data.rindex(b")") + 2 :].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def process_alive(pid: int, start_time=None) -> bool:
    if not pid:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    if start_time is not None:
        now = process_start_time(pid)
        if now is not None and now != start_time:
            return False
    return True


def peer_uid(conn) -> int | None:
    try:
        creds = conn.getsockopt(socket.SOL_SOCKET, getattr(socket, "SO_PEERCRED", 17), struct.calcsize("3i"))
        return struct.unpack("3i", creds)[1]
    except (OSError, struct.error):
        return None


class Control:
    """Where and how long masters live (everything here is non-secret)."""

    def __init__(self, directory, persist_timeout=600, scope="run", run_pid=None, verbosity=0):
        self.directory = directory
        self.persist_timeout = float(persist_timeout or 0) or 600.0
        self.scope = scope
        self.run_pid = int(run_pid) if run_pid else None
        self.run_start = process_start_time(self.run_pid) if self.run_pid else None
        self.verbosity = verbosity

    def key(self, settings, extra=()):
        run = (self.run_pid, self.run_start) if self.scope == "run" else ("shared",)
        return digest("kbdint-master", protocol.VERSION, settings.host, settings.port, settings.user, settings.proxy_command, *run, *extra)


# =========================================================================== master side


class _RemoteChallenger(Challenger):
    """Forwards authentication questions to the client that asked for the login."""

    def __init__(self, conn, redactor):
        self.conn = conn
        self.redactor = redactor

    def _ask(self, what, **fields):
        header = {"ev": "challenge", "what": what}
        header.update(fields)
        try:
            protocol.send(self.conn, header)
            reply = protocol.recv(self.conn)[0]
        except (OSError, EOFError) as exc:
            raise AuthError("the task that started this login went away (%s); nothing was sent" % type(exc).__name__) from None
        if "refuse" in reply:
            refusal = reply["refuse"] or {}
            raise from_kind(refusal.get("kind", "refused"), str(refusal.get("msg", "refused")))
        answers = reply.get("answers")
        if not isinstance(answers, list) or not all(isinstance(a, str) for a in answers):
            raise AuthError("malformed answer from the task; nothing was sent")
        return answers

    def begin_kbdint(self):
        self._event("begin")

    def kbdint(self, name, instruction, prompts):
        answers = self._ask("kbdint", name=name, instruction=instruction, prompts=[[text, bool(echo)] for text, echo in prompts])
        for (_text, echo), answer in zip(prompts, answers):
            if not echo:
                self.redactor.add(answer)
        return answers

    def password(self):
        answers = self._ask("password")
        for answer in answers:
            self.redactor.add(answer)
        return answers[0] if answers else None

    def passphrase(self, path):
        answers = self._ask("passphrase", path=path)
        for answer in answers:
            self.redactor.add(answer)
        return answers[0] if answers else None

    def _event(self, what, **fields):
        header = {"ev": what}
        header.update(fields)
        with contextlib.suppress(OSError):
            protocol.send(self.conn, header)

    def info(self, text):
        self._event("info", text=self.redactor.redact(text))


class Master:
    def __init__(self, listener, path, settings, control, tunnel=None, log_path=None):
        self.listener = listener
        self.path = path
        self.settings = settings
        self.control = control
        self.tunnel = tunnel
        self.redactor = Redactor()
        self.session = None
        self.logging_in = False
        self.stopping = None
        self.active = 0
        self.lock = threading.Lock()
        self.started = time.monotonic()
        self.last_activity = time.monotonic()
        self.log_path = log_path
        self._log_handle = None
        try:
            self.inode = os.stat(path).st_ino
        except OSError:
            self.inode = None

    # -- logging (lifecycle only; never frames, answers or commands) --------

    def log(self, text):
        if self._log_handle is None and self.log_path:
            try:
                fd = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0), 0o600)
                self._log_handle = os.fdopen(fd, "a", encoding="utf-8")
            except OSError:
                self.log_path = None
        if self._log_handle is not None:
            try:
                self._log_handle.write("%s pid=%d %s\n" % (time.strftime("%Y-%m-%dT%H:%M:%S"), os.getpid(), self.redactor.redact(text)))
                self._log_handle.flush()
            except (OSError, ValueError):
                pass

    def _paramiko_log(self, level, text):
        if level >= 30 or self.control.verbosity >= 4:
            self.log("paramiko: %s" % text)

    # -- lifecycle ------------------------------------------------------------

    def stop(self, why):
        with self.lock:
            if self.stopping is None:
                self.stopping = why
                self._retire_socket()

    def _retire_socket(self):
        try:
            if self.inode is not None and os.stat(self.path).st_ino == self.inode:
                os.unlink(self.path)
        except OSError:
            pass

    def serve(self):
        from .session import route_paramiko_logs  # noqa: PLC0415  pylint: disable=import-outside-toplevel  # paramiko only in the master

        route_paramiko_logs(self.redactor, self._paramiko_log, level=10 if self.control.verbosity >= 4 else 30)
        self.log("master for %s started (scope %s, idle timeout %.0f s)" % (self.settings.label, self.control.scope, self.control.persist_timeout))
        self.listener.settimeout(HOUSEKEEPING_INTERVAL)
        try:
            while self.stopping is None:
                try:
                    conn = self.listener.accept()[0]
                except socket.timeout:
                    self.housekeeping()
                    continue
                except OSError as exc:
                    if exc.errno in (errno.EINTR, errno.ECONNABORTED):
                        continue
                    self.stop("listener failed: %s" % exc)
                    break
                uid = peer_uid(conn)
                if uid is not None and uid != os.geteuid():
                    conn.close()
                    continue
                with self.lock:
                    self.active += 1
                    self.last_activity = time.monotonic()
                threading.Thread(target=self._client, args=(conn,), daemon=True).start()
                self.housekeeping()
        finally:
            self.log("master for %s exits: %s" % (self.settings.label, self.stopping))
            self._retire_socket()
            with contextlib.suppress(OSError):
                self.listener.close()
            if self.session is not None:
                self.session.close()
            self._tidy()

    def _tidy(self):
        """A run-scoped master that ended normally leaves no files behind."""
        if self.control.scope != "run" or not str(self.stopping).startswith(NORMAL_EXITS):
            return
        base = self.path[: -len(".sock")]
        for suffix in (".lock", ".log"):
            with contextlib.suppress(OSError):
                os.unlink(base + suffix)

    def housekeeping(self):
        now = time.monotonic()
        if self.session is None:
            if not self.logging_in and now - self.started > LOGIN_GRACE:
                self.stop("nobody logged in")
            return
        if not self.session.alive:
            self.stop("the SSH connection closed")
        elif self.control.scope == "run" and not process_alive(self.control.run_pid, self.control.run_start):
            self.stop("the ansible run (pid %s) ended" % self.control.run_pid)
        elif self.active == 0 and now - self.last_activity > self.control.persist_timeout:
            self.stop("idle for %.0f s (persist_timeout)" % (now - self.last_activity))

    # -- one client -------------------------------------------------------------

    def _client(self, conn):
        try:
            conn.settimeout(None)
            while True:
                try:
                    header, payload = protocol.recv(conn)
                except (EOFError, OSError):
                    break
                if not self._dispatch(conn, header, payload):
                    break
        except Exception as exc:  # pylint: disable=broad-exception-caught  # a client must never take the master down
            self.log("client error: %s\n%s" % (exc, traceback.format_exc()))
        finally:
            with contextlib.suppress(OSError):
                conn.close()
            with self.lock:
                self.active -= 1
                self.last_activity = time.monotonic()

    def _reply_error(self, conn, exc):
        with contextlib.suppress(OSError):
            protocol.send(conn, {"ok": False, "kind": getattr(exc, "kind", "error"), "msg": self.redactor.redact(str(exc))})

    def _dispatch(self, conn, header, payload):
        op = header.get("op")
        if op == "login":
            return self._login(conn)
        if op == "shutdown":
            self.stop("asked to (reset_connection)")
            protocol.send(conn, {"ok": True})
            return False
        if op == "ping":
            protocol.send(conn, {"ok": True, "pid": os.getpid(), "alive": bool(self.session and self.session.alive)})
            return True
        session = self.session
        if session is None or self.stopping is not None:
            self._reply_error(conn, TransportLost("the master for %s has no connection (%s)" % (self.settings.label, self.stopping or "not logged in")))
            return False
        if not session.alive:
            self.stop("the SSH connection closed")
            self._reply_error(conn, TransportLost("the SSH connection to %s is closed" % self.settings.label))
            return False
        try:
            if op == "exec":
                cmdlen = int(header["cmdlen"])
                rc, out, err = session.exec(payload[:cmdlen], payload[cmdlen:] or None, pty=bool(header.get("pty")), timeout=header.get("timeout"))
                protocol.send(conn, {"ok": True, "rc": rc, "outlen": len(out)}, out + err)
                return True
            if op == "start":
                return self._interactive(conn, session, header, payload)
            if op == "put":
                session.put(header["src"], header["dst"])
                protocol.send(conn, {"ok": True})
                return True
            if op == "fetch":
                session.fetch(header["src"], header["dst"])
                protocol.send(conn, {"ok": True})
                return True
            if op == "tunnel":
                return self._tunnel(conn, session, header)
            self._reply_error(conn, MasterError("unknown operation %r" % op))
            return False
        except KbdintError as exc:
            if not session.alive:
                self.stop("the SSH connection closed")
            self._reply_error(conn, exc)
            return True
        except (OSError, EOFError) as exc:
            if not session.alive:
                self.stop("the SSH connection closed")
            self._reply_error(conn, CommandError("%s on %s failed: %s" % (op, self.settings.label, exc or type(exc).__name__)))
            return True

    def _login(self, conn):
        from .session import establish  # noqa: PLC0415  pylint: disable=import-outside-toplevel  # paramiko only in the master

        with self.lock:
            if self.session is not None or self.logging_in:
                busy = True
            else:
                busy = False
                self.logging_in = True
        if busy:
            self._reply_error(conn, MasterError("this master is already logged in or logging in"))
            return False
        challenger = _RemoteChallenger(conn, self.redactor)
        try:
            session = establish(self.settings, challenger, self.redactor, sock=self.tunnel)
        except KbdintError as exc:
            self.log("login failed: %s" % exc)
            self.stop("login failed")
            with contextlib.suppress(OSError):
                protocol.send(conn, {"ev": "done", "ok": False, "kind": exc.kind, "msg": self.redactor.redact(str(exc))})
            return False
        except Exception as exc:  # pylint: disable=broad-exception-caught  # reported to the task, then we exit
            self.log("login crashed: %s\n%s" % (exc, traceback.format_exc()))
            self.stop("login crashed")
            with contextlib.suppress(OSError):
                protocol.send(conn, {"ev": "done", "ok": False, "kind": "connect", "msg": self.redactor.redact("%s: %s" % (type(exc).__name__, exc))})
            return False
        finally:
            self.logging_in = False
        self.session = session
        self.log("logged in to %s" % self.settings.label)
        protocol.send(conn, {"ev": "done", "ok": True, "pid": os.getpid()})
        return True

    def _interactive(self, conn, session, header, payload):
        running = session.start(payload, pty=bool(header.get("pty")))
        protocol.send(conn, {"ok": True})
        sent_eof = False
        try:
            while True:
                watch = [conn] if sent_eof else [conn, running]
                ready = select.select(watch, [], [], 5.0)[0]
                if running in ready and not sent_eof:
                    out, err, eof = running.read_some(0)
                    if out or err or eof:
                        protocol.send(conn, {"ev": "data", "outlen": len(out), "eof": eof}, out + err)
                        sent_eof = eof
                if conn in ready:
                    try:
                        request, data = protocol.recv(conn)
                    except (EOFError, OSError):
                        running.abort()
                        return False
                    op = request.get("op")
                    if op == "stdin":
                        running.write(data)
                    elif op == "finish":
                        rc, out, err = running.finish(data or None, request.get("timeout"))
                        protocol.send(conn, {"ev": "exit", "ok": True, "rc": rc, "outlen": len(out)}, out + err)
                        return True
                    else:
                        running.abort()
                        protocol.send(conn, {"ev": "exit", "ok": True, "rc": -1, "outlen": 0})
                        return True
        except BaseException:
            running.abort()
            raise

    def _tunnel(self, conn, session, header):
        channel = session.tunnel(header["host"], int(header["port"]))
        protocol.send(conn, {"ok": True})
        try:
            _pump(conn, channel)
        finally:
            channel.close()
        return False


def _pump(conn, channel):
    """Copy bytes both ways between a Unix socket and a paramiko channel until one closes."""
    conn.setblocking(True)
    while True:
        ready = select.select([conn, channel], [], [], 30.0)[0]
        if channel in ready:
            data = channel.recv(65536)
            if not data:
                return
            conn.sendall(data)
        if conn in ready:
            data = conn.recv(65536)
            if not data:
                return
            channel.sendall(data)


# =========================================================================== starting a master


def _quiet_fds(keep):
    """Point every inherited descriptor except *keep* at /dev/null (numbers stay taken)."""
    null = os.open(os.devnull, os.O_RDWR)
    try:
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        try:
            fds = [int(name) for name in os.listdir("/proc/self/fd")]
        except OSError:
            fds = list(range(3, 256))
        for fd in fds:
            if fd > 2 and fd != null and fd not in keep:
                with contextlib.suppress(OSError):
                    os.dup2(null, fd)
    finally:
        os.close(null)


def _daemon_main(listener, path, settings, control, tunnel, log_path):
    # Show up as "kbdint-master" in ps -o comm / top, not as a copy of the worker.
    with contextlib.suppress(OSError), open("/proc/self/comm", "w", encoding="ascii") as handle:
        handle.write("kbdint-master")
    # Objects inherited from the Ansible worker are frozen: the cyclic collector never
    # finalises them here (their descriptors now point at /dev/null anyway).
    if hasattr(gc, "freeze"):
        gc.freeze()
    os.umask(0o077)
    for signum in (signal.SIGINT, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(signum, signal.SIG_IGN)
    for signum in (signal.SIGALRM, signal.SIGCHLD, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(signum, signal.SIG_DFL)
    keep = {listener.fileno()}
    if tunnel is not None:
        keep.add(tunnel.fileno())
    _quiet_fds(keep)
    sys.stdout = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115  pylint: disable=consider-using-with  # for the life of the process
    sys.stderr = sys.stdout
    with contextlib.suppress(OSError):
        os.chdir("/")
    master = Master(listener, path, settings, control, tunnel=tunnel, log_path=log_path)

    def terminate(signum, _frame):
        # SIGTERM (also what a failed start sends): the accept loop notices within a second,
        # then closes the transport and the socket. No lock here: a handler may interrupt a holder.
        if master.stopping is None:
            master.stopping = "terminated (signal %d)" % signum

    signal.signal(signal.SIGTERM, terminate)
    master.serve()


def spawn_master(listener, path, settings, control, tunnel=None, log_path=None) -> int:
    """Fork a detached master serving *listener*; return its pid."""
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():
        # Python 3.12+ warns about fork() in a process with threads; the child
        # only runs this module's code and never touches the parent's locks.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the forked child
        try:
            os.close(read_end)
            os.setsid()
            grandchild = os.fork()
            if grandchild:
                os.write(write_end, b"%d" % grandchild)
                os._exit(0)
            os.close(write_end)
            _daemon_main(listener, path, settings, control, tunnel, log_path)
        finally:
            # Never return into the Ansible worker's stack from the child.
            os._exit(0)
    os.close(write_end)
    try:
        os.waitpid(pid, 0)
        data = b""
        while True:
            chunk = os.read(read_end, 32)
            if not chunk:
                break
            data += chunk
    finally:
        os.close(read_end)
    try:
        return int(data)
    except ValueError:
        raise MasterError("could not start a control master for %s (fork failed)" % settings.label) from None


# =========================================================================== client side


def _connect_unix(path, timeout=5.0):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(path)
    except OSError:
        sock.close()
        raise
    sock.settimeout(None)
    return sock


class RemoteRunning:
    """A command started by the master, driven from the task (privilege escalation)."""

    def __init__(self, client):
        self.client = client
        self.eof = False

    def fileno(self):
        return self.client.sock.fileno()

    def read_some(self, timeout):
        if self.eof:
            return b"", b"", True
        ready = select.select([self.client.sock], [], [], timeout)[0]
        if not ready:
            return b"", b"", False
        header, payload = self.client.recv()
        self.client.check(header)
        if header.get("ev") != "data":
            raise MasterError("unexpected frame from the master while a command ran")
        outlen = int(header.get("outlen", 0))
        self.eof = bool(header.get("eof"))
        return payload[:outlen], payload[outlen:], self.eof

    def write(self, data):
        self.client.send({"op": "stdin"}, data)

    def finish(self, in_data=None, timeout=None):
        self.client.send({"op": "finish", "timeout": timeout}, in_data or b"")
        early_out = []
        early_err = []
        while True:
            header, payload = self.client.recv()
            if header.get("ev") == "data":
                # Output the master read before it saw our "finish".
                outlen = int(header.get("outlen", 0))
                early_out.append(payload[:outlen])
                early_err.append(payload[outlen:])
                continue
            break
        self.client.check(header)
        outlen = int(header.get("outlen", 0))
        return int(header["rc"]), b"".join(early_out) + payload[:outlen], b"".join(early_err) + payload[outlen:]

    def abort(self):
        with contextlib.suppress(OSError, MasterError):
            self.client.send({"op": "abort"})
        self.client.close()


class MasterClient:
    """A task's connection to a master."""

    def __init__(self, sock, path, settings, redactor, pid=None):
        self.sock = sock
        self.path = path
        self.settings = settings
        self.redactor = redactor
        self.pid = pid
        # Whether the master's SSH transport is up: true for a client fresh from
        # login(), and what the master said when a task attached (try_attach).
        self.alive = True

    # -- frames -------------------------------------------------------------------

    def send(self, header, payload=b""):
        try:
            protocol.send(self.sock, header, payload)
        except OSError as exc:
            raise MasterError("the control master for %s went away (%s); the next task starts a new one" % (self.settings.label, exc.strerror or exc)) from None

    def recv(self):
        try:
            return protocol.recv(self.sock)
        except (EOFError, OSError) as exc:
            raise MasterError(
                "the control master for %s closed the connection unexpectedly (%s); the next task starts a new one"
                % (self.settings.label, getattr(exc, "strerror", None) or exc)
            ) from None

    def check(self, header):
        if header.get("ok") is False:
            raise from_kind(header.get("kind", "error"), self.redactor.redact(str(header.get("msg", "the master reported an error"))))

    def request(self, header, payload=b""):
        self.send(header, payload)
        reply, data = self.recv()
        self.check(reply)
        return reply, data

    # -- operations ---------------------------------------------------------------

    def exec(self, cmd: bytes, in_data=None, pty=False, timeout=None):
        reply, data = self.request({"op": "exec", "cmdlen": len(cmd), "pty": pty, "timeout": timeout}, cmd + (in_data or b""))
        outlen = int(reply["outlen"])
        return int(reply["rc"]), data[:outlen], data[outlen:]

    def start(self, cmd: bytes, pty=False):
        self.request({"op": "start", "pty": pty}, cmd)
        return RemoteRunning(self)

    def put(self, src, dst):
        self.request({"op": "put", "src": os.path.abspath(src), "dst": dst})

    def fetch(self, src, dst):
        self.request({"op": "fetch", "src": src, "dst": os.path.abspath(dst)})

    def ping(self):
        reply = self.request({"op": "ping"})[0]
        return reply

    def tunnel(self, host, port):
        """Turn this control connection into a raw byte stream to host:port (jump host)."""
        self.request({"op": "tunnel", "host": host, "port": int(port)})
        sock, self.sock = self.sock, None
        return sock

    def shutdown(self):
        with contextlib.suppress(KbdintError):
            self.request({"op": "shutdown"})

    def close(self):
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.close()
            self.sock = None

    # -- login ------------------------------------------------------------------

    def login(self, challenger, timeout):
        """Let the new master authenticate, answering its questions with *challenger*."""
        self.sock.settimeout(timeout)
        refusal = None
        try:
            self.send({"op": "login"})
            while True:
                try:
                    header = protocol.recv(self.sock)[0]
                except socket.timeout:
                    raise MasterError("the control master for %s did not finish logging in within %.0f s" % (self.settings.label, timeout)) from None
                except (EOFError, OSError) as exc:
                    raise MasterError("the control master for %s exited while logging in (%s)" % (self.settings.label, type(exc).__name__)) from None
                event = header.get("ev")
                if event == "info":
                    challenger.info(str(header.get("text", "")))
                elif event == "begin":
                    challenger.begin_kbdint()
                elif event == "challenge":
                    what = header.get("what")
                    try:
                        if what == "kbdint":
                            prompts = [(str(p[0]), bool(p[1])) for p in header.get("prompts") or []]
                            answers = challenger.kbdint(header.get("name") or "", header.get("instruction") or "", prompts)
                        elif what == "password":
                            secret = challenger.password()
                            answers = [] if secret is None else [str(secret)]
                        elif what == "passphrase":
                            secret = challenger.passphrase(header.get("path"))
                            answers = [] if secret is None else [str(secret)]
                        else:
                            raise AuthError("the master asked an unknown question %r" % what)
                    except KbdintError as exc:
                        refusal = exc
                        self.send({"refuse": {"kind": exc.kind, "msg": str(exc)}})
                        continue
                    self.send({"answers": answers})
                elif event == "done":
                    if header.get("ok"):
                        self.pid = header.get("pid") or self.pid
                        return
                    if refusal is not None:
                        raise refusal
                    raise from_kind(header.get("kind", "auth"), self.redactor.redact(str(header.get("msg", "login failed"))))
                else:
                    raise MasterError("unexpected frame from the control master during login")
        finally:
            if self.sock is not None:
                self.sock.settimeout(None)


class _Lock:
    """flock on a file next to the socket, with a deadline."""

    def __init__(self, path, timeout):
        self.path = path
        self.timeout = timeout
        self.fd = None

    def __enter__(self):
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return self
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
            if time.monotonic() > deadline:
                os.close(self.fd)
                self.fd = None
                raise MasterError("another task has been logging in to this host for more than %.0f s; giving up (lock %s)" % (self.timeout, self.path))
            time.sleep(0.05)

    def __exit__(self, *exc):
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


def login_timeout(settings) -> float:
    return settings.connect_timeout * 3 + settings.auth_timeout * 2 + 30


def try_attach(path, settings, redactor):
    """A client for a live master at *path*, or None (no socket, or a stale one)."""
    try:
        sock = _connect_unix(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno in (errno.ECONNREFUSED, errno.ENOENT, errno.ENOTSOCK):
            return None
        raise MasterError("cannot reach the control master at %s: %s" % (path, exc.strerror or exc)) from None
    client = MasterClient(sock, path, settings, redactor)
    # A master that is exiting (idle timeout, killed) may still accept a connection
    # for a moment and then drop it: a ping tells a live master from a dying one, so
    # the task starts a new master instead of failing.
    sock.settimeout(ATTACH_TIMEOUT)
    try:
        client.alive = bool(client.ping().get("alive"))
    except MasterError:
        client.close()
        return None
    sock.settimeout(None)
    return client


def open_master(settings, control, make_challenger, redactor, tunnel_factory=None, key_extra=(), on_reuse=None, on_start=None):
    """Attach to the master for *settings*, starting (and logging in) one if there is none."""
    directory = ensure_private_dir(control.directory)
    key = control.key(settings, key_extra)
    path = socket_path(directory, key)
    client = try_attach(path, settings, redactor)
    if client is not None:
        if on_reuse:
            on_reuse(path)
        return client
    timeout = login_timeout(settings)
    with _Lock(os.path.join(directory, "%s.lock" % key), timeout + 10):
        client = try_attach(path, settings, redactor)
        if client is not None:
            if on_reuse:
                on_reuse(path)
            return client
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        prune(directory, key)
        challenger = make_challenger()
        tunnel = tunnel_factory() if tunnel_factory is not None else None
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(path)
            os.chmod(path, 0o600)
            listener.listen(64)
            pid = spawn_master(listener, path, settings, control, tunnel=tunnel, log_path=os.path.join(directory, "%s.log" % key))
        finally:
            listener.close()
            if tunnel is not None:
                tunnel.close()
        if on_start:
            on_start(path, pid)
        try:
            client = MasterClient(_connect_unix(path), path, settings, redactor, pid=pid)
            client.login(challenger, timeout)
        except BaseException:
            _kill(pid)
            try:
                if os.path.exists(path):
                    os.unlink(path)
            except OSError:
                pass
            raise
        return client


def prune(directory, keep_key):
    """Remove locks and logs of masters that ended more than a day ago."""
    cutoff = time.time() - STALE_AFTER
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        base, dot, suffix = name.rpartition(".")
        if not dot or suffix not in ("lock", "log") or base == keep_key:
            continue
        path = os.path.join(directory, name)
        with contextlib.suppress(OSError):
            if os.lstat(path).st_mtime < cutoff and not os.path.exists(os.path.join(directory, base + ".sock")):
                os.unlink(path)


def _kill(pid):
    if not pid:
        return
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGTERM)


def stop_master(settings, control, redactor, key_extra=()):
    """Tell the master for *settings* to close its transport and exit; True if there was one."""
    try:
        directory = ensure_private_dir(control.directory)
        path = socket_path(directory, control.key(settings, key_extra))
    except MasterError:
        return False
    client = try_attach(path, settings, redactor)
    if client is None:
        return False
    try:
        client.shutdown()
    finally:
        client.close()
    return True
