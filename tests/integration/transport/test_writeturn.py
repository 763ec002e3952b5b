"""SQLite writers take turns through a file lock (kombu_transport_django.writeturn)."""

from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path
from typing import Iterator

import pytest
from django.db import connection, transaction

from kombu_transport_django import writeturn
from kombu_transport_django.models import Message

from .conftest import pytestmark  # noqa: F401

sqlite_only = pytest.mark.skipif(connection.vendor != "sqlite", reason="the turn is SQLite's")


def locked_out(fd: int) -> bool:
    """Whether another open description holds the lock ``fd`` is on (never waits; lets go of it if taken)."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    fcntl.flock(fd, fcntl.LOCK_UN)
    return False


def held_elsewhere(path: str) -> bool:
    """Whether another open description of ``path`` holds its lock (a probe of our own)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        return locked_out(fd)
    finally:
        os.close(fd)


@pytest.fixture
def lock_path() -> Iterator[str]:
    connection.ensure_connection()
    path = writeturn.lock_path(str(connection.settings_dict["NAME"]))
    assert path is not None
    yield path


@sqlite_only
def test_a_write_holds_the_turn_and_lets_it_go(lock_path: str) -> None:
    with writeturn.turn(connection):
        assert held_elsewhere(lock_path)
    assert not held_elsewhere(lock_path)


@sqlite_only
def test_the_lock_file_is_named_after_the_database_file_not_beside_it(lock_path: str) -> None:
    st = os.stat(connection.settings_dict["NAME"])
    assert Path(lock_path).name == f"kombu-django-{st.st_dev}-{st.st_ino}.lock"
    assert Path(lock_path).parent != Path(connection.settings_dict["NAME"]).parent


@sqlite_only
def test_no_turn_inside_a_transaction(lock_path: str) -> None:
    # The connection may hold SQLite's write lock there: waiting for the
    # turn while holding it could deadlock with the turn's holder.
    with transaction.atomic(), writeturn.turn(connection):
        assert not held_elsewhere(lock_path)


@sqlite_only
def test_each_thread_has_a_lock_of_its_own(lock_path: str) -> None:
    # flock excludes open descriptions, not threads: one shared description
    # would let every thread of a process in at once.
    inside, release = threading.Event(), threading.Event()

    def hold() -> None:
        with writeturn.turn(connection):
            inside.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert inside.wait(10)
        lock = writeturn._lock_file(str(connection.settings_dict["NAME"]))
        assert lock is not None
        waited = locked_out(lock.fd)
    finally:
        release.set()
        holder.join()
    assert waited


@sqlite_only
def test_a_forked_process_does_not_share_its_parents_turn(lock_path: str) -> None:
    database = str(connection.settings_dict["NAME"])
    with writeturn.turn(connection):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child's result is its exit code
            code = 3
            try:
                lock = writeturn._lock_file(database)
                code = 0 if locked_out(lock.fd) else 1  # 1: got in while the parent held it
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


@sqlite_only
def test_a_link_in_place_of_the_lock_file_is_not_followed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lock_path: str
) -> None:
    monkeypatch.setattr(writeturn.tempfile, "gettempdir", lambda: str(tmp_path))
    monkeypatch.setattr(writeturn, "_local", writeturn._Local())
    target = tmp_path / "someone-elses-file"
    target.write_text("keep")
    path = writeturn.lock_path(str(connection.settings_dict["NAME"]))
    assert path is not None
    os.symlink(target, path)

    with writeturn.turn(connection):  # no turn: the write meets SQLite's busy handler
        Message.objects.count()
        assert not held_elsewhere(str(target))
    assert target.read_text() == "keep"


@sqlite_only
def test_the_transports_writes_take_the_turn(lock_path: str) -> None:
    from kombu import Connection, Exchange, Producer, Queue

    seen: list[str] = []

    def record(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        seen.append(f"{sql.split()[0]} {held_elsewhere(lock_path)}")
        return execute(sql, params, many, context)

    with Connection("django://") as conn, connection.execute_wrapper(record):
        queue = Queue("turns", Exchange("turns", "direct"), routing_key="turns")
        Producer(conn.default_channel).publish("x", exchange=queue.exchange, routing_key="turns", declare=[queue])
        message = queue(conn.default_channel).get()
        assert message is not None
        message.ack()
    writes = [s for s in seen if s.split()[0] in ("INSERT", "UPDATE", "DELETE")]
    message_writes = [s for s in writes if s.endswith("True")]
    # The publish INSERT, the claim's UPDATE and the ack's DELETE.
    assert [s.split()[0] for s in message_writes] == ["INSERT", "UPDATE", "DELETE"], seen


def test_other_databases_have_no_turn() -> None:
    if connection.vendor == "sqlite":
        assert writeturn.lock_path(":memory:") is None
        assert writeturn.lock_path("file:x?mode=memory&cache=shared") is None
    else:
        with writeturn.turn(connection):
            assert not writeturn._local.files
