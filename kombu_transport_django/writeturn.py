"""SQLite: our writers wait for each other in the kernel, not in SQLite's busy sleeps.

SQLite lets one connection write at a time. A connection that finds the
write lock taken retries in its busy handler, which sleeps 1, 2, 5, 10, 15,
20, 25 ms and on between tries (``sqliteDefaultBusyCallback``), however
little the holder needed. A drain's writes (the consumer's claims, each
child's start marks and results, the batched deletes) take tens of
microseconds each, but every collision cost the loser a millisecond or
more: over 5 s of a drain, the worker's processes together slept 4.4 s in
1,168 of those retries (``strace`` of their ``clock_nanosleep`` calls;
docs/benchmarks.md).

:func:`turn` holds an exclusive ``flock`` on a lock file of the database
around one of this project's write statements in autocommit (the claim, the
start mark, the result upsert, the ack and finish deletes, the publish
INSERT): the kernel queues the waiters and wakes the next one as soon as
the holder is done. It only orders writers; SQLite's own locking still
makes every write safe. A writer that does not take the turn (the
application's own writes, anything inside ``atomic()``) meets SQLite's busy
handler as before, and so does a process that cannot open the lock file.

The lock file is in the temporary directory, named after the database
file's device and inode (``kombu-django-<dev>-<inode>.lock``), never the
database file itself: closing any descriptor of that file would drop the
POSIX locks SQLite holds on it in this process. Processes with another
temporary directory (another ``TMPDIR``, containers sharing only the
database's volume, ``PrivateTmp``) do not share the turn: they fall back to
SQLite's waits.

Never inside a transaction: there the connection may already hold SQLite's
write lock, and waiting for the turn while holding it would make the turn's
holder wait for SQLite's lock in turn. In autocommit a connection holds no
SQLite lock between statements, so the order is always the turn first.
The turn has no timeout of its own: its holder waits at most SQLite's busy
timeout for the write lock, then fails and lets go.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from typing import ContextManager

from django.db.backends.base.base import BaseDatabaseWrapper

try:
    import fcntl
except ImportError:  # Windows: SQLite's busy handler alone
    fcntl = None  # type: ignore[assignment]


class _LockFile:
    """One open description of a lock file (``flock`` excludes across descriptions, not across their users)."""

    __slots__ = ("fd", "pid")

    def __init__(self, path: str) -> None:
        self.pid = os.getpid()
        # O_NOFOLLOW: the temporary directory is shared; never lock what a link points to.
        self.fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)

    def __enter__(self) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_EX)

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_UN)

    def __del__(self) -> None:
        with contextlib.suppress(OSError, AttributeError):
            os.close(self.fd)


class _Local(threading.local):
    def __init__(self) -> None:
        #: lock files of this thread, by database file (None: cannot be opened)
        self.files: dict[str, _LockFile | None] = {}


_local = _Local()


def lock_path(database: str) -> str | None:
    """The lock file of the SQLite database file ``database``; None where there is none (in memory, a URI, no file)."""
    if fcntl is None or not database or database == ":memory:" or database.startswith("file:"):
        return None
    try:
        st = os.stat(database)
    except OSError:
        return None
    return os.path.join(tempfile.gettempdir(), f"kombu-django-{st.st_dev}-{st.st_ino}.lock")


def _lock_file(database: str) -> _LockFile | None:
    files = _local.files
    if database in files:
        lock = files[database]
        # None: could not be opened before, not tried again for every statement.
        if lock is None or lock.pid == os.getpid():
            return lock
    # First use in this thread, or a forked copy of the parent's: a
    # description of its own, or the parent's lock would be ours too.
    path = lock_path(database)
    try:
        lock = _LockFile(path) if path else None
    except OSError:
        lock = None
    files[database] = lock
    return lock


#: what :func:`turn` gives where there is no turn to take
_NO_TURN = contextlib.nullcontext()


def turn(connection: BaseDatabaseWrapper) -> ContextManager[None]:
    """The write turn on ``connection``'s SQLite database, to hold around one statement in autocommit.

    Nothing on other databases, inside a transaction, or where the lock
    file cannot be had: one shared no-op, so the per-task statements on
    PostgreSQL and MariaDB pay no more than the test.
    """
    if connection.vendor != "sqlite" or connection.in_atomic_block:
        return _NO_TURN
    return _lock_file(str(connection.settings_dict.get("NAME") or "")) or _NO_TURN
