"""``result_backend = 'django-db'``: results in this project's Django models.

Rows look exactly like django-celery-results' (protocol §6.2), so data and
habits carry over:

- ``result`` is the serialized value (``application/json``/``utf-8`` by
  default; a binary serializer such as pickle is stored as base64 text with
  ``content_encoding='binary'``);
- ``meta`` is ``{"children": [...]}`` plus any ``request.meta`` dict;
- with ``result_extended``: ``task_name``, ``task_args``/``task_kwargs``
  (the JSON-encoded argsrepr/kwargsrepr *strings*), ``worker``,
  ``periodic_task_name``, and also ``retries`` and ``queue``;
- ``date_done`` changes on every write; ``date_started`` is set by STARTED;
- a later write wins, except over ``SUCCESS``: a success is final, as in
  Celery's key-value backends (a late ``RETRY`` write must not hide the
  result of the re-run that already succeeded).

Differences from django-celery-results: a row is decoded by its own
``content_type`` (checked against ``result_accept_content``) rather than by
the reader's serializer; the meta dict also has ``name`` (= ``task_name``);
``cleanup()`` also expires abandoned chord counters; on PostgreSQL
``wait_for`` wakes on ``NOTIFY`` instead of at the next poll.

Waiting inside a transaction sees new results only where each statement
sees the latest commits: PostgreSQL's and SQLite's defaults, MySQL/MariaDB
with READ COMMITTED (under REPEATABLE READ, wait outside ``atomic()``).
"""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any, TypeVar

from django.db import DatabaseError, InterfaceError, OperationalError, connections, router, transaction

from .rows import RowFormat
from .waiting import PgResultWaiter, PollingWaiter, Waiter

__all__ = ["DatabaseBackend"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: What a write or read may be retried after: the connection dropped, the
#: server restarted, SQLite's "database is locked".
TRANSIENT_ERRORS = (OperationalError, InterfaceError)


def is_transient(exc: BaseException) -> bool:
    """A :data:`TRANSIENT_ERRORS` error, also as kombu's ``OperationalError`` (a publish re-raises it so)."""
    from kombu.exceptions import OperationalError as KombuOperationalError

    if isinstance(exc, KombuOperationalError):
        exc = exc.__cause__ or exc
    return isinstance(exc, TRANSIENT_ERRORS)


class DatabaseBackend(RowFormat):
    """Task and group results stored with the ORM (:mod:`celery_compat.models`)."""

    #: Retries of an operation that failed with a transient error.
    max_retries = 2
    #: Seconds before the first retry; doubled for each further one.
    retry_delay = 0.1
    #: Retries of a chord header part's result and count: a part that is
    #: never counted leaves its chord waiting forever, so it is worth more
    #: patience than a plain result (SQLite under many writers can refuse a
    #: writer its lock for minutes: each attempt waits the busy timeout).
    chord_part_max_retries = 10
    #: Rows deleted per batch by :meth:`cleanup`.
    cleanup_batch_size = 10_000

    def __init__(self, app: Any, url: str | None = "django-db", **kwargs: Any) -> None:
        super().__init__(app, url=url, **kwargs)

    # Models are imported on first use: building the app must not need the app registry.
    @functools.cached_property
    def TaskModel(self) -> Any:
        from ..models import TaskResult

        return TaskResult

    @functools.cached_property
    def GroupModel(self) -> Any:
        from ..models import GroupResult

        return GroupResult

    @functools.cached_property
    def ChordCounterModel(self) -> Any:
        from ..models import ChordCounter

        return ChordCounter

    # -- retries ------------------------------------------------------------------

    def _retrying(self, alias: str, operation: Callable[..., T], *args: Any, max_retries: int | None = None,
                  **kwargs: Any) -> T:
        """Run ``operation``, again after a transient database error (not inside ``atomic()``).

        Inside the caller's transaction a retry cannot help: the error has
        broken the transaction, so it is raised at once.
        """
        limit = self.max_retries if max_retries is None else max_retries
        attempt = 0
        while True:
            try:
                return operation(*args, **kwargs)
            except Exception as exc:
                connection = connections[alias]
                if not is_transient(exc) or attempt >= limit or connection.in_atomic_block:
                    raise
                attempt += 1
                logger.warning("Result backend error=%r; retry %s of %s", exc, attempt, limit)
                try:
                    if connection.connection is not None and not connection.is_usable():
                        connection.close()
                except DatabaseError:
                    connection.close()
                time.sleep(min(self.retry_delay * 2 ** (attempt - 1), 5.0))

    # -- storing --------------------------------------------------------------------

    def _store_result(self, task_id: str, result: Any, state: str, traceback: str | None = None,
                      request: Any = None, using: str | None = None, **kwargs: Any) -> Any:
        values = self.row_values(task_id, result, state, traceback, request)
        alias = using or router.db_for_write(self.TaskModel)
        self._retrying(alias, self.TaskModel._default_manager.write_result, dict(values), using=alias)
        return values["result"]

    def store_task_log(self, task_id: str, lines: list[str], limit: int) -> None:
        """Append ``lines`` to the row's ``log`` (earlier attempts first), keeping the last ``limit``.

        A read and an UPDATE, only for tasks that logged something; runs of
        one task id never overlap, so nothing races. No row (the result was
        not stored): nothing is kept.
        """
        model = self.TaskModel
        alias = router.db_for_write(model)
        rows = model._default_manager.using(alias).filter(task_id=task_id)

        def write() -> None:
            previous = rows.values_list("log", flat=True).first()
            combined = (previous.splitlines() if previous else []) + list(lines)
            rows.update(log="\n".join(combined[-limit:] if limit else combined))

        self._retrying(alias, write)

    # -- reading --------------------------------------------------------------------

    def _get_task_meta_for(self, task_id: str) -> dict[str, Any]:
        alias = router.db_for_read(self.TaskModel)
        obj = self._retrying(alias, self.TaskModel._default_manager.db_manager(alias).get_task, task_id)
        return self.meta_from_row(obj)

    def _forget(self, task_id: str) -> None:
        self.TaskModel._default_manager.filter(task_id=task_id).delete()

    def _waiter(self) -> Waiter:
        alias = router.db_for_read(self.TaskModel)
        if connections[alias].vendor == "postgresql":
            return PgResultWaiter(alias)
        return PollingWaiter()

    # -- groups ---------------------------------------------------------------------

    def _save_group(self, group_id: str, result: Any) -> Any:
        content_type, content_encoding, content = self.encode_content(result.as_tuple())
        self.GroupModel._default_manager.store_group_result(content_type, content_encoding, group_id, content)
        return result

    def _restore_group(self, group_id: str) -> dict[str, Any] | None:
        from ..result import result_from_tuple

        obj = self.GroupModel._default_manager.get_group(group_id)
        if obj is None:
            return None
        decoded = self.decode_content(obj, obj.result)
        return {
            "group_id": obj.group_id,
            "result": result_from_tuple(decoded, app=self.app) if decoded else None,
            "date_done": obj.date_done,
        }

    def _delete_group(self, group_id: str) -> None:
        self.GroupModel._default_manager.filter(group_id=group_id).delete()

    # -- chords ---------------------------------------------------------------------

    def apply_chord(self, header_result_args: Any, body: Any, **kwargs: Any) -> None:
        """Create the ``ChordCounter`` of the header (before the header is published)."""
        header = self._header_result(header_result_args)
        content = json.dumps([result.as_tuple() for result in header.results])
        alias = router.db_for_write(self.ChordCounterModel)
        self._retrying(alias, self.ChordCounterModel._default_manager.using(alias).create,
                       group_id=header.id, sub_tasks=content, count=len(header.results))

    def chord_publish_transaction(self) -> AbstractContextManager[Any]:
        """One transaction for the counter and the header's messages when the broker shares the database."""
        alias = router.db_for_write(self.ChordCounterModel)
        return transaction.atomic(using=alias) if self._broker_on(alias) else nullcontext()

    def _chord_part_done(self, request: Any) -> Any:
        """Decrement the counter under ``SELECT ... FOR UPDATE``; at 0 delete it and return the header."""
        model = self.ChordCounterModel
        alias = router.db_for_write(model)
        with transaction.atomic(using=alias):
            counter = model._default_manager.using(alias).select_for_update().filter(group_id=request.group).first()
            if counter is None:
                # Real Celery producers' chords wait in celery.chord_unlock instead.
                logger.debug("Chord part of group %s returned, but no chord counter exists", request.group)
                return None
            counter.count -= 1
            if counter.count > 0:
                model._default_manager.using(alias).filter(pk=counter.pk).update(count=counter.count)
                return None
            model._default_manager.using(alias).filter(pk=counter.pk).delete()
            return counter.group_result(app=self.app)

    def _store_chord_part(self, store: Callable[[], None], request: Any, state: str, result: Any) -> None:
        """Store the header task's result and count it in one transaction; the last one publishes the body.

        With the ``django://`` broker on the same database, the body's
        message is inserted in that same transaction: the result, the
        counter's deletion and the body message are committed together or
        not at all (a lost connection undoes all three and the whole is
        retried), so the body is published exactly once. With another
        broker the body is published after the commit; a process that dies
        in between leaves the body unpublished (django-celery-results and
        Celery's own backends have the same gap).
        """
        if request is None or not getattr(request, "chord", None):
            store()
            return
        alias = router.db_for_write(self.TaskModel)
        in_transaction = self._broker_on(alias) and router.db_for_write(self.ChordCounterModel) == alias

        def store_and_count() -> Any:
            with transaction.atomic(using=alias):
                store()
                header = self._chord_part_done(request)
                if header is not None and in_transaction:
                    self.trigger_chord_body(request.chord, header)
                    return None
                return header

        header = self._retrying(alias, store_and_count, max_retries=self.chord_part_max_retries)
        if header is not None:
            self.trigger_chord_body(request.chord, header)

    def _broker_on(self, alias: str) -> bool:
        """Whether the app publishes by INSERTs on database ``alias`` (the ``django://`` transport there)."""
        from kombu_transport_django.transport import Transport

        transport = self.app.producer().connection.transport
        return isinstance(transport, Transport) and transport.options.database == alias

    def _publish_chord_body(self, body: Any, values: list[Any]) -> None:
        alias = router.db_for_write(self.ChordCounterModel)
        if not connections[alias].in_atomic_block:
            body.delay(values)
            return
        # A savepoint: a publish that fails (a value the serializer refuses,
        # a routing error) leaves the transaction usable, to store the
        # body's failure instead.
        with transaction.atomic(using=alias):
            body.delay(values)

    def _retry_chord_completion(self, exc: BaseException) -> bool:
        # Inside the transaction a lost connection has already undone the
        # result and the count: raise, so that ``_retrying`` does it all again.
        alias = router.db_for_write(self.ChordCounterModel)
        return connections[alias].in_atomic_block and is_transient(exc)

    def _run_chord_errback(self, fn: Callable[..., Any], *args: Any) -> None:
        alias = router.db_for_write(self.ChordCounterModel)
        if not connections[alias].in_atomic_block:
            fn(*args)
            return
        # An errback that breaks the transaction must not undo the chord's completion.
        with transaction.atomic(using=alias):
            fn(*args)

    # -- maintenance ----------------------------------------------------------------

    def cleanup(self) -> None:
        """Delete results and saved groups older than ``result_expires``, and abandoned chord counters."""
        expires = self.expires
        if expires is None:
            return
        batch = self.cleanup_batch_size
        tasks = self.TaskModel._default_manager.delete_expired(expires, batch_size=batch)
        groups = self.GroupModel._default_manager.delete_expired(expires, batch_size=batch)
        chords = self.ChordCounterModel._default_manager.expired(expires).delete_in_batches(batch)
        logger.info("Result cleanup tasks=%s groups=%s chord_counters=%s", tasks, groups, chords)
