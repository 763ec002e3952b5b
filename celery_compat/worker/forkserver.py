"""A fork server: the single-threaded process that forks prefork children.

Forking the worker itself once it runs threads (heartbeat, pool supervisor,
pool acks) is unsafe: in the child, Python finalizes the objects other
threads held in thread-locals (their SQLite connections get closed while a
mutex may be held: the child hangs), and any lock another thread held at
that instant (a stream being written) stays locked forever. So the pool
forks this server once, at start, before the worker opens connections or
starts threads; every child, first or replacement, is forked from it.

The process may have other threads all the same (``start_worker`` runs the
worker in a test's process). Two things keep their state out of the server:
the fork waits until no background thread of ours is inside a database
write (:mod:`kombu_transport_django.forking`: SQLite's lock records are
process memory, and one copied mid-write keeps the file locked in the
server and in every child, for good), and the pool's ``on_fork`` deals
with every database connection the server inherited, whichever thread
opened it (:func:`.child.forget_parent_connections`).

Protocol, on a ``SOCK_SEQPACKET`` socket pair (one message per send):

- worker → server: ``("spawn", index)``, ``("stop",)``
- server → worker: ``("spawned", index, pid)`` carrying the worker's end of
  the child's pipe as an ``SCM_RIGHTS`` file descriptor, and
  ``("exited", pid, exitcode)`` when the server reaps a child
  (``exitcode`` negative for a signal, as in ``os.waitstatus_to_exitcode``).
"""

from __future__ import annotations

import gc
import os
import pickle
import select
import signal
import socket
import traceback
import warnings
from multiprocessing import Pipe
from multiprocessing.connection import Connection
from typing import Any, Callable

from kombu_transport_django.forking import quiet_for_fork

#: ``child_main(connection, index) -> exit code``, run in each forked child
ChildMain = Callable[[Connection, int], int]
MAX_MESSAGE = 4096


def human_status(exitcode: int) -> str:
    """billiard's wording: ``signal 9 (SIGKILL)`` or ``exitcode 1``."""
    if exitcode < 0:
        try:
            return f"signal {-exitcode} ({signal.Signals(-exitcode).name})"
        except ValueError:
            return f"signal {-exitcode}"
    return f"exitcode {exitcode}"


class ForkServer:
    """The worker's handle on its fork server."""

    def __init__(self, child_main: ChildMain, on_fork: Callable[[], None] | None = None) -> None:
        self.child_main = child_main
        #: run in the server right after it is forked (drop inherited state)
        self.on_fork = on_fork
        self.pid: int | None = None
        self.sock: socket.socket | None = None

    def start(self) -> None:
        worker_end, server_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        # Our threads' database work (ended runs deleted, heartbeats) ends
        # first: an SQLite write under way at the fork would leave the server,
        # and every child, with the database locked for good (forking.py).
        with quiet_for_fork(), warnings.catch_warnings():
            # Python 3.12+ warns when forking a threaded process (start_worker
            # runs the worker in a thread); the server runs no thread's code.
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:
            code = 1
            try:
                # No collection before on_fork has dealt with the connections
                # the worker's other threads left behind (garbage here): one
                # finalized first could end a session of the worker (below).
                # Nor gc.collect() and gc.freeze() here: the collection writes
                # the header of every object it visits, and the server's pages
                # stop being shared with the worker (PSS of a prefork tree
                # 86 -> 97 MiB, docs/benchmarks.md). The children freeze what
                # they inherit instead (_spawn).
                gc.disable()
                worker_end.close()
                if self.on_fork is not None:
                    self.on_fork()
                gc.enable()
                code = _serve(server_end, self.child_main)
            except BaseException:
                traceback.print_exc()
            finally:
                os._exit(code)
        server_end.close()
        self.pid, self.sock = pid, worker_end

    def fileno(self) -> int:
        assert self.sock is not None
        return self.sock.fileno()

    def request_spawn(self, index: int) -> None:
        self._send(("spawn", index))

    def receive(self) -> tuple[Any, Connection | None]:
        """One message from the server, and the child connection it carries (spawned)."""
        assert self.sock is not None
        data, fds, _, _ = socket.recv_fds(self.sock, MAX_MESSAGE, 1)
        if not data:
            raise EOFError("the pool's fork server exited")
        message = pickle.loads(data)
        conn = Connection(fds[0]) if fds else None
        return message, conn

    def stop(self) -> None:
        """Ask the server to exit (its children are not touched) and reap it."""
        try:
            self._send(("stop",))
        except OSError:
            pass
        if self.pid is not None:
            try:
                os.waitpid(self.pid, 0)
            except ChildProcessError:
                pass
            self.pid = None
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def _send(self, message: tuple[Any, ...]) -> None:
        assert self.sock is not None
        self.sock.send(pickle.dumps(message))


def _serve(sock: socket.socket, child_main: ChildMain) -> int:
    # Ctrl+C reaches the whole process group: the worker decides.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)
    # A child's exit wakes select() at once (through the wakeup fd), so the
    # worker hears about a killed child without polling delay.
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    worker = os.getppid()
    while True:
        _reap(sock)
        if os.getppid() != worker:
            return 0  # the worker died without telling us
        ready, _, _ = select.select([sock, wake_r], [], [], 1.0)
        if wake_r in ready:
            try:
                os.read(wake_r, 4096)
            except BlockingIOError:
                pass
        if sock not in ready:
            continue
        data = sock.recv(MAX_MESSAGE)
        if not data:
            return 0  # the worker closed its end
        message = pickle.loads(data)
        if message[0] == "stop":
            return 0
        if message[0] == "spawn":
            _spawn(sock, child_main, message[1], (wake_r, wake_w))


def _spawn(sock: socket.socket, child_main: ChildMain, index: int, wake: tuple[int, int]) -> None:
    worker_end, child_end = Pipe(duplex=True)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            for fd in wake:
                os.close(fd)
            sock.close()
            worker_end.close()
            # What the child inherits stays out of its collections: a full
            # collection writes the header of every object it visits, and
            # each page it writes stops being shared with the fork server and
            # the other children. gc.freeze() moves the lists, it touches no
            # object (PSS of a prefork -c 2 tree 86.0 -> 83.9 MiB after
            # 10,000 tasks, docs/benchmarks.md).
            gc.freeze()
            code = child_main(child_end, index)
        except BaseException:
            traceback.print_exc()
        finally:
            # Never return into the server's loop, never run atexit hooks.
            os._exit(code)
    child_end.close()
    socket.send_fds(sock, [pickle.dumps(("spawned", index, pid))], [worker_end.fileno()])
    worker_end.close()


def _reap(sock: socket.socket) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        sock.send(pickle.dumps(("exited", pid, os.waitstatus_to_exitcode(status))))
