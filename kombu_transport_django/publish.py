"""Inserting messages: one plain INSERT, on the caller's connection.

Not ``bulk_create``: it wraps even one row in its own transaction, which
costs two extra round trips per publish in autocommit mode. A single
statement in autocommit is already atomic, and inside the caller's
``transaction.atomic()`` it simply joins that transaction.

Several rows on PostgreSQL go as one JSON array that the server expands
(``jsonb_array_elements``) rather than a ``VALUES`` list: psycopg binds
parameters on the client and scans the query text for placeholders on every
call, and a 1,000-row ``VALUES`` list (11,000 placeholders, never the same
text twice) spent more time in that scan than the server spent inserting the
rows. Not one array per column either: psycopg quotes array elements in
Python, one regex substitution per quote character of every payload.

Inside a transaction on PostgreSQL (psycopg 3), a buffered publish sends
each full batch as soon as it fills, in pipeline mode (:func:`pipelined`):
the server inserts one batch while Python builds the next, where the
client used to wait for each INSERT in turn.
"""

from __future__ import annotations

import datetime as dt
import json
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, Sequence

from django.db.backends.base.base import BaseDatabaseWrapper

from . import prepared, writeturn
from .models import Message

COLUMNS = (
    "queue", "payload", "priority", "status", "available_at", "expires_at",
    "created_at", "delivery_count", "task_id", "task_name", "dead_reason",
)

#: most rows in one INSERT: 11 parameters a row stays under SQLite's 32,766
#: and PostgreSQL's 65,535 bound parameters
BATCH_ROWS = 1000


@dataclass(frozen=True, slots=True)
class NewMessage:
    queue: str
    payload: str
    priority: int
    available_at: dt.datetime
    expires_at: dt.datetime | None
    created_at: dt.datetime
    task_id: str
    task_name: str


def insert_all(connection: BaseDatabaseWrapper, messages: Sequence[NewMessage], durable: bool = True) -> None:
    """:func:`insert` of any number of ``messages``: :data:`BATCH_ROWS` per statement, in order."""
    for start in range(0, len(messages), BATCH_ROWS):
        insert(connection, messages[start:start + BATCH_ROWS], durable)


def insert(connection: BaseDatabaseWrapper, messages: Sequence[NewMessage], durable: bool = True) -> None:
    """Insert ``messages`` as ready rows in one statement.

    ``durable=False``: on PostgreSQL, one row in autocommit commits without
    waiting for the disk (the statement's own ``synchronous_commit``);
    elsewhere, in a transaction and for several rows it changes nothing.
    """
    if not messages:
        return
    if connection.vendor == "postgresql" and len(messages) > 1:
        _insert_json(connection, messages)
        return
    adapt = connection.ops.adapt_datetimefield_value
    params: list[object] = []
    for m in messages:
        params += [
            m.queue, m.payload, m.priority, int(Message.Status.READY), adapt(m.available_at),
            adapt(m.expires_at), adapt(m.created_at), 0, m.task_id, m.task_name, "",
        ]
    if len(messages) == 1:
        asynchronous = not durable and connection.vendor == "postgresql" and connection.get_autocommit()
        sql = _one_row_sql(connection, asynchronous)
    else:
        into, row_sql = _insert_into(connection), _ROW_SQL
        sql = f"{into} VALUES {', '.join([row_sql] * len(messages))}"
    # One row is the text of every delay(): prepared where it may be.
    with writeturn.turn(connection), prepared.cursor(connection, prepare=len(messages) == 1) as cursor:
        cursor.execute(sql, params)


_ROW_SQL = "(" + ", ".join(["%s"] * len(COLUMNS)) + ")"
#: backend class -> the one-row INSERT, the text of every ``delay()``: built
#: once, since quoting its twelve names cost about 5 us a publish
_ONE_ROW: dict[tuple[type, bool], str] = {}


def _one_row_sql(connection: BaseDatabaseWrapper, asynchronous: bool = False) -> str:
    sql = _ONE_ROW.get((type(connection), asynchronous))
    if sql is None:
        into, row_sql = _insert_into(connection), _ROW_SQL
        sql = f"{into} VALUES {row_sql}"
        if asynchronous:
            # PostgreSQL: in the statement itself, so only its own (implicit)
            # transaction commits without the wait (the setting is read at
            # the commit); the session keeps its own.
            sql += " RETURNING set_config('synchronous_commit', 'off', true)"
        _ONE_ROW[(type(connection), asynchronous)] = sql
    return sql


def _insert_into(connection: BaseDatabaseWrapper) -> str:
    """``INSERT INTO <message table> (<COLUMNS>)``, quoted for ``connection``."""
    quote = connection.ops.quote_name
    table = quote(Message._meta.db_table)
    return f"INSERT INTO {table} ({', '.join(quote(c) for c in COLUMNS)})"


def _insert_json(connection: BaseDatabaseWrapper, messages: Sequence[NewMessage]) -> None:
    """PostgreSQL: the rows as one JSON array, expanded by the server in order."""
    adapt = connection.ops.adapt_datetimefield_value

    def when(value: dt.datetime | None) -> str | None:
        return None if value is None else adapt(value).isoformat()

    rows = json.dumps([
        [m.queue, m.payload, m.priority, when(m.available_at), when(m.expires_at), when(m.created_at),
         m.task_id, m.task_name]
        for m in messages
    ])
    into = _insert_into(connection)
    # WITH ORDINALITY and ORDER BY: ids (the queue's order) follow the list.
    sql = (
        f"{into} "
        "SELECT e.v->>0, e.v->>1, (e.v->>2)::smallint, %s, (e.v->>3)::timestamptz, "
        "(e.v->>4)::timestamptz, (e.v->>5)::timestamptz, 0, e.v->>6, e.v->>7, '' "
        "FROM jsonb_array_elements(%s::jsonb) WITH ORDINALITY AS e(v, n) ORDER BY e.n"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [int(Message.Status.READY), rows])


@contextmanager
def pipelined(connection: BaseDatabaseWrapper) -> Iterator[bool]:
    """Whether the block's statements go out without waiting for their results (yields True if so).

    Only inside a transaction on PostgreSQL with psycopg 3 and a libpq
    with pipeline mode (14 or newer). psycopg then sends each statement
    at once and collects its result when the next one needs the
    connection, or at the block's end: an INSERT's error surfaces there,
    inside the same transaction, which it aborts. Not in autocommit: a
    pipeline there is one implicit transaction, and Django could not
    open a transaction (``atomic()``) while a statement is in flight.
    """
    if not connection.in_atomic_block or not can_pipeline(connection):
        yield False
        return
    with connection.connection.pipeline():
        yield True


def can_pipeline(connection: BaseDatabaseWrapper) -> bool:
    """Whether ``connection`` has pipeline mode: PostgreSQL, psycopg 3, libpq 14 or newer (connects it)."""
    if connection.vendor != "postgresql":
        return False
    connection.ensure_connection()
    if not hasattr(connection.connection, "pipeline"):  # psycopg 2 has none
        return False
    import psycopg

    return psycopg.Pipeline.is_supported()
