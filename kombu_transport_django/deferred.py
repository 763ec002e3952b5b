"""Messages published inside a transaction, inserted together.

Inside ``transaction.atomic()`` a publish only adds its row to a list kept
with the Django connection. The rows go to the database as multi-row
INSERTs (``publish.insert``) just before that transaction next talks to it:

- its next statement of any kind (a query, an ORM save, a savepoint, its
  release or rollback), through an ``execute_wrapper`` that stays on the
  connection, so the transaction reads its own messages as before;
- its commit (``connection.commit``, which ``atomic()`` calls).

A rollback drops the rows with the transaction. So a thousand ``delay()``
calls in one ``atomic()`` cost a few INSERTs instead of a thousand round
trips, and nothing changes for other connections: nobody sees a row of an
uncommitted transaction anyway. What moves is where an INSERT's database
error surfaces: at the next statement or at the commit (which ``atomic()``
then rolls back), no longer in ``delay()``.

On PostgreSQL with psycopg 3 every ``SEND_ROWS`` rows are sent at once in
pipeline mode, without waiting for the server: it inserts them while the
caller builds the next. The pipeline ends (its results are read, an
error raised) before any other statement of the connection and before
its commit; elsewhere the rows wait for the statement or commit, or for
``publish.BATCH_ROWS`` of them. A new Django cursor ends the pipeline too
(and sends what waits): psycopg's ``cursor.copy()`` does not pass the
statement wrappers, and pipeline mode refuses it. Only a cursor opened
before the publishes and used for ``copy()`` after them still meets it.

Django has no hook before a commit: the connection object's own ``commit``,
``rollback`` and ``create_cursor`` are wrapped, once per connection, by
instance attributes that call the originals (:func:`_install`).
"""

from __future__ import annotations

from contextlib import AbstractContextManager, contextmanager
from typing import Any, Callable, Iterator

from django.db.backends.base.base import BaseDatabaseWrapper

from . import publish

#: where the rows of a connection wait (an attribute of the Django connection)
_ATTR = "_django_transport_deferred"

#: PostgreSQL: rows sent together in pipeline mode while the caller goes on
SEND_ROWS = 100


class Deferred:
    """The rows one Django connection's open transaction has published, not yet inserted."""

    __slots__ = ("db", "rows", "raw", "pipeline", "sending", "passing", "streams")

    def __init__(self, db: BaseDatabaseWrapper) -> None:
        self.db = db
        self.rows: list[publish.NewMessage] = []
        #: the driver connection the rows' transaction runs on
        self.raw: Any = None
        #: psycopg's pipeline block while rows sent are not yet confirmed
        self.pipeline: AbstractContextManager[Any] | None = None
        #: our own INSERTs are running (they pass the statement wrapper)
        self.sending = False
        #: a read that cannot see message rows is running (see passing())
        self.passing = False
        #: whether this connection can send in pipeline mode (known at the first add)
        self.streams: bool | None = None

    def add(self, rows: list[publish.NewMessage]) -> None:
        if self.raw is not self.db.connection:
            # A connection closed inside its transaction (closed_in_transaction)
            # and reopened: what waited belonged to the transaction it lost.
            self.forget()
            self.raw = self.db.connection
        self.rows.extend(rows)
        if self.streams is None:
            self.streams = publish.can_pipeline(self.db)
        if self.streams and len(self.rows) >= SEND_ROWS:
            if self.pipeline is None:
                self.pipeline = self.db.connection.pipeline()
                self.pipeline.__enter__()
            self.flush()
        elif len(self.rows) >= publish.BATCH_ROWS:
            self.flush()

    def flush(self) -> None:
        """Insert the waiting rows, ``publish.BATCH_ROWS`` per statement (sent only, inside a pipeline)."""
        if not self.rows:
            return
        rows, self.rows = self.rows, []
        if self.raw is not self.db.connection:
            self.forget()  # see add()
            return
        self.sending = True
        try:
            publish.insert_all(self.db, rows)
        finally:
            self.sending = False

    def finish(self) -> None:
        """Insert what waits and read the results of what was sent: its errors raise here."""
        self.flush()
        self.end_pipeline()

    def end_pipeline(self) -> None:
        """Read the results of what was sent (its errors raise here) and leave pipeline mode."""
        pipeline, self.pipeline = self.pipeline, None
        if pipeline is not None:
            with self.db.wrap_database_errors:  # Django's classes, as for any statement
                pipeline.__exit__(None, None, None)

    def drop(self) -> None:
        """Forget the rows; end a pipeline, whose errors no longer matter (the transaction is rolled back)."""
        self.rows.clear()
        pipeline, self.pipeline = self.pipeline, None
        if pipeline is not None and self.raw is self.db.connection:
            try:
                pipeline.__exit__(None, None, None)
            except Exception:  # noqa: BLE001  (the rollback that follows reports a broken connection)
                pass

    def forget(self) -> None:
        """The connection is gone: nothing of it is to be sent or read."""
        self.rows.clear()
        self.pipeline = None
        self.streams = None

    def settle(self) -> None:
        """Before the connection serves anything but our own INSERTs: send what waits, end the pipeline."""
        if self.sending:
            return
        if self.passing:
            self.end_pipeline()  # the waiting rows may wait: this read cannot see them
        elif self.rows or self.pipeline is not None:
            self.finish()

    def before_statement(self, execute: Callable[..., Any], sql: Any, params: Any, many: bool,
                         context: dict[str, Any]) -> Any:
        self.settle()
        return execute(sql, params, many, context)


def add(db: BaseDatabaseWrapper, rows: list[publish.NewMessage]) -> None:
    """Keep ``rows`` for ``db``'s open transaction: inserted before its next statement or commit."""
    deferred = db.__dict__.get(_ATTR)
    if deferred is None:
        deferred = _install(db)
    deferred.add(rows)


@contextmanager
def passing(db: BaseDatabaseWrapper) -> Iterator[None]:
    """Statements in the block leave the waiting rows waiting: for reads of other tables than the messages'.

    The transport reads the binding table at each publish to a named
    exchange; without this, that read would send every row before it.
    """
    deferred = db.__dict__.get(_ATTR)
    if deferred is None or deferred.passing:
        yield
        return
    deferred.passing = True
    try:
        yield
    finally:
        deferred.passing = False


def _install(db: BaseDatabaseWrapper) -> Deferred:
    deferred = Deferred(db)
    # Innermost, and never removed: Django's execute_wrapper() blocks pop
    # the last wrapper at their end, so one appended in the middle of a
    # user's block would take the place of theirs.
    db.execute_wrappers.insert(0, deferred.before_statement)
    commit, rollback, create_cursor = db.commit, db.rollback, db.create_cursor

    def commit_after_insert() -> None:
        # An INSERT that fails here fails the commit; atomic() then rolls
        # the transaction back.
        deferred.finish()
        commit()

    def rollback_dropping() -> None:
        deferred.drop()
        rollback()

    def create_cursor_after_insert(name: str | None = None) -> Any:
        # For what bypasses the statement wrappers: psycopg's cursor.copy(),
        # which pipeline mode refuses.
        deferred.settle()
        return create_cursor(name)

    db.commit = commit_after_insert  # type: ignore[method-assign]
    db.rollback = rollback_dropping  # type: ignore[method-assign]
    db.create_cursor = create_cursor_after_insert  # type: ignore[method-assign]
    db.__dict__[_ATTR] = deferred
    return deferred
