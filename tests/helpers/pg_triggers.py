"""PostgreSQL row triggers on the message table, for tests that watch or refuse its statements."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

from django.db import connection

from kombu_transport_django.models import Message


@contextmanager
def message_trigger(name: str, body: str, when: str, deferred: bool = False) -> Iterator[None]:
    """A plpgsql row trigger ``name`` on the message table for the block.

    ``body``: the function's statements; ``when``: ``"BEFORE UPDATE"``,
    ``"AFTER INSERT"``...; ``deferred``: a constraint trigger that fires at
    the commit (``when`` must then be ``AFTER``).
    """
    table = connection.ops.quote_name(Message._meta.db_table)
    kind = "CONSTRAINT TRIGGER" if deferred else "TRIGGER"
    timing = " DEFERRABLE INITIALLY DEFERRED" if deferred else ""
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN {body} END $$")
        cursor.execute(f"CREATE {kind} {name} {when} ON {table}{timing} FOR EACH ROW EXECUTE FUNCTION {name}()")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TRIGGER {name} ON {table}")
            cursor.execute(f"DROP FUNCTION {name}()")


@contextmanager
def synchronous_commit_seen(when: str, deferred: bool = False) -> Iterator[list[str]]:
    """The ``synchronous_commit`` in force each time a row trigger fires (``when``, ``deferred``: see above)."""
    body = ("RAISE NOTICE 'synchronous_commit=%', current_setting('synchronous_commit'); "
            "RETURN " + ("NULL" if when.startswith("AFTER") else "NEW") + ";")
    notices: list[str] = []

    def handler(diagnostic: Any) -> None:
        notices.append(diagnostic.message_primary.partition("=")[2])

    with message_trigger("test_report_sync", body, when, deferred):
        connection.connection.add_notice_handler(handler)
        try:
            yield notices
        finally:
            connection.connection.remove_notice_handler(handler)
