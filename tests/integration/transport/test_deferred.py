"""Publishes inside ``transaction.atomic()`` are inserted together (``kombu_transport_django.deferred``).

On every vendor: the rows wait with the Django connection and are inserted
just before the transaction's next statement or its commit. What must not
change is what a transaction and the others see, and when: the transaction
reads its own messages, a rollback (whole or to a savepoint) takes them
away, nothing of a rolled-back transaction reaches a later one, and a
failed insert fails the commit instead of being lost.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Iterator

import pytest
from django.db import DatabaseError, connection, connections, transaction
from kombu import Connection, Exchange, Producer, Queue

from kombu_transport_django import deferred
from kombu_transport_django import publish as publish_rows
from kombu_transport_django.models import Message

from tests.helpers.pg_triggers import message_trigger

from .conftest import pytestmark  # noqa: F401  (transactional db for every test)

QUEUE = Queue("dq", Exchange("dq", "direct"), routing_key="dq")


def _send(conn: Connection, *ids: str) -> None:
    producer = Producer(conn.default_channel)
    for task_id in ids:
        # The default exchange, as celery_compat's publishes: a named one
        # reads the binding table per publish, a statement that sends the
        # rows before it.
        producer.publish({"id": task_id}, exchange="", routing_key="dq",
                         declare=[QUEUE], headers={"id": task_id, "task": "t"})


def _committed(queue: str = "dq") -> list[str]:
    """Task ids of ``queue``'s rows, in id order, as a session of its own sees them."""
    seen: list[str] = []

    def read() -> None:
        try:
            seen.extend(Message.objects.filter(queue=queue).order_by("id").values_list("task_id", flat=True))
        finally:
            connections.close_all()  # this thread's session

    thread = threading.Thread(target=read)
    thread.start()
    thread.join()
    return seen


@pytest.fixture
def inserts() -> Iterator[list[str]]:
    """The INSERTs into the message table sent on this test's connection."""
    table = Message._meta.db_table
    counted: list[str] = []

    def count(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        if sql.lstrip().upper().startswith("INSERT") and table in sql:
            counted.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        yield counted


@pytest.fixture
def conn(connection_factory: Callable[..., Connection]) -> Connection:
    conn = connection_factory()
    _send(conn, "declare")  # the queue is declared; its row is not counted below
    Message.objects.filter(queue="dq").delete()
    return conn


def test_publishes_in_a_transaction_are_one_insert_at_the_commit(conn: Connection, inserts: list[str]) -> None:
    with transaction.atomic():
        _send(conn, "a", "b", "c")
        assert inserts == []  # nothing sent yet
    assert len(inserts) == 1  # one statement for the three
    assert _committed() == ["a", "b", "c"]  # in publish order


def test_publishes_to_a_named_exchange_are_inserted_together_too(conn: Connection, inserts: list[str]) -> None:
    # Each reads the exchange's bindings first: a read that must not send the waiting rows.
    queue = Queue("dqn", Exchange("dqn", "direct"), routing_key="dqn")
    producer = Producer(conn.default_channel)
    producer.publish({}, exchange=queue.exchange, routing_key="dqn", declare=[queue])  # declared
    inserts.clear()
    with transaction.atomic():
        for task_id in ("a", "b", "c"):
            producer.publish({"id": task_id}, exchange=queue.exchange, routing_key="dqn",
                             declare=[queue], headers={"id": task_id, "task": "t"})
        assert inserts == []
    assert len(inserts) == 1
    assert _committed("dqn")[1:] == ["a", "b", "c"]


def test_outside_a_transaction_each_publish_inserts_at_once(conn: Connection, inserts: list[str]) -> None:
    _send(conn, "a", "b")
    assert len(inserts) == 2
    assert _committed() == ["a", "b"]


def test_the_option_off_inserts_each_publish_inside_a_transaction_too(
    connection_factory: Callable[..., Connection], inserts: list[str]
) -> None:
    conn = connection_factory(defer_in_transaction=False)
    _send(conn, "declare")
    inserts.clear()
    with transaction.atomic():
        _send(conn, "a", "b")
        assert len(inserts) == 2


def test_the_transaction_reads_its_own_messages(conn: Connection, inserts: list[str]) -> None:
    with transaction.atomic():
        _send(conn, "a", "b")
        # The ORM's query, then a raw cursor's: each is preceded by the insert.
        assert Message.objects.filter(queue="dq").count() == 2
        _send(conn, "c")
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT COUNT(*) FROM {connection.ops.quote_name(Message._meta.db_table)}")
            assert cursor.fetchone()[0] == 3
        assert _committed() == []  # others see nothing before the commit
    assert len(inserts) == 2
    assert _committed() == ["a", "b", "c"]


def test_a_rollback_drops_them_and_leaves_nothing_for_the_next_transaction(
    conn: Connection, inserts: list[str]
) -> None:
    with pytest.raises(ZeroDivisionError):
        with transaction.atomic():
            _send(conn, "lost-1", "lost-2")
            1 / 0
    with transaction.atomic():
        _send(conn, "kept")
    assert _committed() == ["kept"]
    assert len(inserts) == 1  # the rolled-back rows were never sent


def test_a_savepoint_rollback_takes_back_only_what_was_published_inside_it(conn: Connection) -> None:
    with transaction.atomic():
        _send(conn, "outer-1")
        with pytest.raises(ZeroDivisionError):
            with transaction.atomic():
                _send(conn, "inner")
                1 / 0
        _send(conn, "outer-2")
    assert _committed() == ["outer-1", "outer-2"]


def test_an_inner_block_without_savepoint_that_fails_rolls_everything_back(conn: Connection) -> None:
    with pytest.raises(ZeroDivisionError):
        with transaction.atomic():
            _send(conn, "a")
            with pytest.raises(ZeroDivisionError):
                with transaction.atomic(savepoint=False):
                    _send(conn, "b")
                    1 / 0
            raise ZeroDivisionError
    with transaction.atomic():
        _send(conn, "c")
    assert _committed() == ["c"]


def test_rows_go_out_in_batches_before_the_commit(conn: Connection, inserts: list[str]) -> None:
    # PostgreSQL (pipeline mode): every SEND_ROWS are sent as they come; elsewhere every BATCH_ROWS.
    per = deferred.SEND_ROWS if publish_rows.can_pipeline(connection) else publish_rows.BATCH_ROWS
    ids = [f"m{n}" for n in range(2 * per + 3)]
    with transaction.atomic():
        _send(conn, *ids[:per - 1])
        assert inserts == []
        _send(conn, ids[per - 1])
        assert len(inserts) == 1
        _send(conn, *ids[per:])
        assert len(inserts) == 2
        assert _committed() == []
    assert len(inserts) == 3
    assert _committed() == ids
    if per == deferred.SEND_ROWS:  # pipeline mode ended before the commit
        assert connection.connection.pgconn.pipeline_status == 0


def test_a_statement_after_a_batch_sent_sees_it_and_its_own_result(conn: Connection) -> None:
    if not publish_rows.can_pipeline(connection):
        pytest.skip("rows sent ahead: PostgreSQL's pipeline mode")
    with transaction.atomic():
        _send(conn, *[f"m{n}" for n in range(deferred.SEND_ROWS)])  # sent, nothing left waiting
        assert connection.connection.pgconn.pipeline_status != 0
        # The UPDATE's row count is read after the pipeline's results.
        assert Message.objects.filter(queue="dq").update(priority=3) == deferred.SEND_ROWS
        assert connection.connection.pgconn.pipeline_status == 0
    assert len(_committed()) == deferred.SEND_ROWS


def test_a_rollback_after_a_batch_sent_ends_pipeline_mode(conn: Connection) -> None:
    if not publish_rows.can_pipeline(connection):
        pytest.skip("rows sent ahead: PostgreSQL's pipeline mode")
    with pytest.raises(ZeroDivisionError):
        with transaction.atomic():
            _send(conn, *[f"lost{n}" for n in range(deferred.SEND_ROWS)])
            1 / 0
    assert connection.connection.pgconn.pipeline_status == 0
    _send(conn, "kept")
    assert _committed() == ["kept"]


@pytest.fixture
def refused_by_the_server() -> Iterator[None]:
    """PostgreSQL: the server refuses a message row whose task id is ``bad`` (a trigger)."""
    if connection.vendor != "postgresql":
        pytest.skip("a server-side refusal in pipeline mode: PostgreSQL")
    body = "IF NEW.task_id = 'bad' THEN RAISE EXCEPTION 'refused by the server'; END IF; RETURN NEW;"
    with message_trigger("test_refuse_bad", body, "BEFORE INSERT"):
        yield


@pytest.mark.parametrize("surfaces_at", ["next statement", "commit"])
def test_a_batch_the_server_refuses_raises_djangos_error_and_nothing_commits(
    conn: Connection, refused_by_the_server: None, surfaces_at: str
) -> None:
    ids = ["bad"] + [f"m{n}" for n in range(deferred.SEND_ROWS + 5)]  # the first batch sent, refused
    with pytest.raises(DatabaseError, match="refused by the server"):
        with transaction.atomic():
            _send(conn, *ids)
            if surfaces_at == "next statement":
                Message.objects.filter(queue="elsewhere").exists()
                raise AssertionError("the refusal must surface at the statement")
    assert _committed() == []
    with transaction.atomic():
        _send(conn, *ids[1:])
    assert _committed() == ids[1:]  # the connection and the next transaction are fine


def _refuse(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
    if sql.lstrip().upper().startswith("INSERT") and Message._meta.db_table in sql:
        raise DatabaseError("refused by the test")
    return execute(sql, params, many, context)


def test_an_insert_that_fails_before_a_statement_fails_that_statement(conn: Connection) -> None:
    with pytest.raises(DatabaseError, match="refused by the test"):
        with connection.execute_wrapper(_refuse), transaction.atomic():
            _send(conn, "a")
            Message.objects.filter(queue="elsewhere").update(priority=1)
    assert _committed() == []


def test_an_insert_that_fails_at_the_commit_fails_the_commit_and_leaves_nothing(conn: Connection) -> None:
    try:
        with pytest.raises(DatabaseError, match="refused by the test"):
            with transaction.atomic():
                _send(conn, "a")
                connection.execute_wrappers.append(_refuse)  # only the commit's insert meets it
    finally:
        connection.execute_wrappers.remove(_refuse)
    assert _committed() == []
    with transaction.atomic():
        _send(conn, "b")
    assert _committed() == ["b"]  # nothing left over from the failed commit


def test_a_connection_closed_in_the_transaction_leaves_nothing_for_the_next(conn: Connection) -> None:
    with transaction.atomic():
        _send(conn, "lost")
        connection.close()  # Django rolls the block back (the server does) without an error
        _send(conn, "lost-too")
    with transaction.atomic():
        Message.objects.filter(queue="elsewhere").exists()  # a statement first: it must not send the lost rows
        _send(conn, "kept")
    assert _committed() == ["kept"]


def test_django_execute_wrapper_blocks_stay_intact(connection_factory: Callable[..., Connection]) -> None:
    """The flush wrapper, installed inside a user's ``execute_wrapper()`` block, does not take its place."""
    seen: dict[str, Any] = {}

    def theirs(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        return execute(sql, params, many, context)

    def in_a_fresh_connection() -> None:  # a thread's own Django connection: nothing installed yet
        try:
            conn = connection_factory()
            with connection.execute_wrapper(theirs):
                with transaction.atomic():
                    _send(conn, "a")  # the first deferred publish of this connection
                seen["inside"] = list(connection.execute_wrappers)
            seen["after"] = list(connection.execute_wrappers)
            seen["ours"] = connections["default"].__dict__[deferred._ATTR].before_statement
        finally:
            connections.close_all()

    thread = threading.Thread(target=in_a_fresh_connection)
    thread.start()
    thread.join()
    assert seen["inside"] == [seen["ours"], theirs]
    assert seen["after"] == [seen["ours"]]
    assert _committed() == ["a"]


def test_copy_right_after_a_batch_sent_sees_the_rows(conn: Connection) -> None:
    """psycopg's COPY bypasses Django's statement wrappers and is refused in pipeline mode: a new cursor ends it."""
    if not publish_rows.can_pipeline(connection):
        pytest.skip("rows sent ahead: PostgreSQL's pipeline mode")
    table = connection.ops.quote_name(Message._meta.db_table)
    with transaction.atomic():
        _send(conn, *[f"m{n}" for n in range(deferred.SEND_ROWS + 3)])  # 100 sent, 3 waiting
        with connection.cursor() as cursor:
            with cursor.copy(f"COPY (SELECT COUNT(*) FROM {table} WHERE queue = 'dq') TO STDOUT") as copy:
                out = b"".join(bytes(chunk) for chunk in copy)
            assert out.strip() == str(deferred.SEND_ROWS + 3).encode()
    assert len(_committed()) == deferred.SEND_ROWS + 3
