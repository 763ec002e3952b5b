"""Cursors that prepare their statements on the server, for the per-task statements.

Django's PostgreSQL backend binds parameters on the client: each statement
reaches the server as new text, which it parses and plans again. The few
statements a worker runs once per task (the start mark, the ack, the result
upsert with or without the start) and the INSERT of ``delay()`` are the same
text every time, so on PostgreSQL with psycopg 3 they go through a cursor
that binds on the server and prepares them once per connection: the
server's CPU per task in a drain with results falls by about a quarter
(docs/benchmarks.md, "Per-task statements prepared on the server").

Everything else keeps Django's cursor. The prepared cursor is wrapped by
Django's own wrapper, so errors are Django's and ``execute_wrapper()``
sees its statements; while queries are logged (``DEBUG``,
``CaptureQueriesContext``) Django's own cursor runs them instead, so the
log shows them with their values.

Off where a prepared statement may not be found on the next statement:
behind PgBouncer in transaction pooling mode (before 1.21, or without
``max_prepared_statements``) the server connection changes between
transactions. Django asks for ``DISABLE_SERVER_SIDE_CURSORS = True`` there,
and that setting turns this off too.
"""

from __future__ import annotations

import functools
import sys
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper

#: psycopg prepares on request only with a threshold set; Django sets none
#: (``prepare_threshold`` in OPTIONS, default None). A threshold no query
#: reaches keeps every other statement unprepared, as Django left them.
_NEVER = sys.maxsize


def preparing(connection: BaseDatabaseWrapper) -> bool:
    """Whether :func:`cursor` prepares on ``connection``: PostgreSQL with psycopg 3, server-side cursors allowed."""
    if connection.vendor != "postgresql" or connection.settings_dict.get("DISABLE_SERVER_SIDE_CURSORS"):
        return False
    from django.db.backends.postgresql.psycopg_any import is_psycopg3

    return is_psycopg3


@functools.cache
def _cursor_class() -> type:
    import psycopg

    class PreparingCursor(psycopg.Cursor):  # type: ignore[type-arg]
        """A server-binding cursor whose ``execute`` prepares (Django's wrapper passes no ``prepare``)."""

        def execute(self, query: Any, params: Any = None, *, prepare: bool | None = True, binary: bool | None = None) -> Any:
            return super().execute(query, params, prepare=prepare, binary=binary)

    return PreparingCursor


def cursor(connection: BaseDatabaseWrapper, prepare: bool = True) -> Any:
    """A Django cursor on ``connection`` whose statements are prepared where :func:`preparing` allows.

    Only for statements whose text repeats (no values in the SQL), whose
    parameters the server can type (``None`` and strings are sent untyped,
    as with Django's own ``server_side_binding``) and which return no
    timestamps. ``prepare=False``: Django's own cursor, for a caller whose
    text does not repeat this time.
    """
    if not prepare or not preparing(connection) or connection.queries_logged:
        # Logging queries (DEBUG, CaptureQueriesContext): Django's cursor,
        # whose log shows each statement with its values; a prepared one
        # would log None.
        return connection.cursor()
    # What connection.cursor() does, with another cursor class under the
    # wrapper (and without the time zone loader: these statements return
    # no timestamps).
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    with connection.wrap_database_errors:
        raw = connection.connection
        if raw.prepare_threshold is None:
            raw.prepare_threshold = _NEVER
        connection.validate_thread_sharing()
        return connection.make_cursor(_cursor_class()(raw))
