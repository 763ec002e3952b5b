"""Inserting messages: one plain INSERT, on the caller's connection.

Not ``bulk_create``: it wraps even one row in its own transaction, which
costs two extra round trips per publish in autocommit mode. A single
statement in autocommit is already atomic, and inside the caller's
``transaction.atomic()`` it simply joins that transaction.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Sequence

from django.db.backends.base.base import BaseDatabaseWrapper

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


def insert(connection: BaseDatabaseWrapper, messages: Sequence[NewMessage]) -> None:
    """Insert ``messages`` as ready rows in one statement."""
    if not messages:
        return
    adapt = connection.ops.adapt_datetimefield_value
    quote = connection.ops.quote_name
    table = quote(Message._meta.db_table)
    row_sql = "(" + ", ".join(["%s"] * len(COLUMNS)) + ")"
    params: list[object] = []
    for m in messages:
        params += [
            m.queue, m.payload, m.priority, int(Message.Status.READY), adapt(m.available_at),
            adapt(m.expires_at), adapt(m.created_at), 0, m.task_id, m.task_name, "",
        ]
    sql = (
        f"INSERT INTO {table} ({', '.join(quote(c) for c in COLUMNS)}) "
        f"VALUES {', '.join([row_sql] * len(messages))}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
