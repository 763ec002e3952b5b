"""Task and group results, and chord counters, stored as django-celery-results stores them.

The three models have django-celery-results 2.6's field names, types and
lengths, so its rows can be copied over with ``INSERT … SELECT`` and
dashboards' ORM queries port by changing the import. Only the tables differ
(``celery_compat_taskresult``…), so both apps can be installed side by side
while a project migrates. Three additions, all nullable or defaulted:
``TaskResult.retries`` and ``TaskResult.queue`` (as in later
django-celery-results releases) and ``ChordCounter.date_created``, so that
the counters of abandoned chords expire with the results.

The managers hold every statement the result backend runs: one upsert per
stored result, one SELECT per read, and batched DELETEs for expiry.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from typing import TYPE_CHECKING, Any

from django.db import connections, models, router
from django.db.models.constants import OnConflict
from django.db.models.functions import Now
from django.db.models.sql.subqueries import InsertQuery
from django.utils import timezone
from kombu_transport_django import prepared, writeturn

from . import nextstart, states

if TYPE_CHECKING:
    from .result import GroupResult as GroupResultHandle

__all__ = ["TaskResult", "GroupResult", "ChordCounter", "Revoke", "Worker"]

#: django-celery-results' default for ``DJANGO_CELERY_RESULTS_TASK_ID_MAX_LENGTH``.
ID_MAX_LENGTH = 255
#: Seconds between two heartbeats of a worker's row (:class:`Worker`).
WORKER_HEARTBEAT_INTERVAL = 5.0
#: Rows deleted per statement at most when expiring results.
DELETE_BATCH_SIZE = 100_000


def _expiry_cutoff(expires: dt.timedelta | float | int) -> dt.datetime:
    if not isinstance(expires, dt.timedelta):
        expires = dt.timedelta(seconds=expires)
    return timezone.now() - expires


#: The SQL of :func:`_upsert`, by model, database and columns: Django's
#: compiler built the same statement for every stored result, a third of a
#: prefork child's CPU per task in a drain (cProfile, process time).
_UPSERT_SQL: dict[tuple[Any, ...], str] = {}


class _Attributes:
    """A row dict seen as an object: what ``Field.pre_save`` and the insert compiler read and set.

    Storing a result needs the values of one row, not a model instance:
    ``Model.__init__`` (signals, per-field defaults and checks) was a fifth
    of the upsert's Python (``python -m bench.result_cost``).
    """

    def __init__(self, row: dict[str, Any]) -> None:
        self.__dict__ = row


@functools.cache
def _insert_fields(model: type[models.Model]) -> tuple[tuple[models.Field, bool, bool], ...]:
    """The columns an INSERT of ``model`` writes: ``(field, has its own pre_save, text)``.

    ``text``: a plain ``CharField``/``TextField``, whose ``get_db_prep_save``
    returns a ``str`` or None unchanged on every database, so those values
    skip it (most of a result row, and most of the per-value cost).
    """
    return tuple(
        (f, type(f).pre_save is not models.Field.pre_save, type(f) in (models.CharField, models.TextField))
        for f in model._meta.concrete_fields if not f.primary_key
    )


def _complete(model: type[models.Model], row: dict[str, Any]) -> dict[str, Any]:
    """``row`` (attname -> value) with every missing column set to its field's default, as ``Model()`` does."""
    for field, _, _ in _insert_fields(model):
        if field.attname not in row:
            row[field.attname] = field.get_default()
    return row


def _upsert(model: type[models.Model], row: dict[str, Any], unique: str, update: list[str], using: str,
            start: Any = None) -> None:
    """INSERT ``row``, or overwrite the ``update`` fields of the row with the same ``unique`` value.

    ``row`` maps attnames to values, as ``Model(**row)`` takes them; missing
    columns get their defaults, and the values ``pre_save`` sets
    (``auto_now``, ``auto_now_add``) are written back into it.

    One statement (``ON CONFLICT … DO UPDATE`` / ``ON DUPLICATE KEY UPDATE``),
    so two writers racing on a new id cannot both insert, and a later write
    always wins. Not ``bulk_create(update_conflicts=True)``: it wraps even one
    row in a transaction of its own, two extra round trips in autocommit mode;
    one statement is already atomic, and inside the caller's ``atomic()`` it
    joins that transaction.

    Django's compiler builds the statement the first time for each model,
    database and set of columns; later calls reuse its SQL and prepare only
    the values, the compiler's way (``pre_save``, then ``get_db_prep_save``).

    ``start``: a message's start ticket (:mod:`celery_compat.nextstart`) whose
    UPDATE runs in the same statement on PostgreSQL, outside ``atomic()``;
    whether it started the row is recorded there. Elsewhere it is ignored,
    and the ticket is started on its own later.
    """
    connection = connections[using]
    key = (model, using, connection.settings_dict.get("ENGINE"), unique, tuple(update))
    attributes = _Attributes(_complete(model, row))
    params = []
    # An expression value (``Now()``) compiles to other SQL: never cached.
    plain = True
    for field, own_pre_save, text in _insert_fields(model):
        value = field.pre_save(attributes, True) if own_pre_save else row[field.attname]
        if text and (value is None or type(value) is str):
            params.append(value)
            continue
        if hasattr(value, "resolve_expression"):
            plain = False
        params.append(field.get_db_prep_save(value, connection=connection))
    sql = _UPSERT_SQL.get(key)
    if sql is None or not plain:
        opts = model._meta
        # MySQL/MariaDB's ON DUPLICATE KEY UPDATE names no conflict target.
        unique_fields = [opts.get_field(unique)] if connection.features.supports_update_conflicts_with_target else []
        query = InsertQuery(
            model,
            on_conflict=OnConflict.UPDATE,
            update_fields=[opts.get_field(name) for name in update],
            unique_fields=unique_fields,
        )
        query.insert_values([field for field, _, _ in _insert_fields(model)], [attributes])
        ((sql, params),) = query.get_compiler(using=using).as_sql()
        if plain:
            _UPSERT_SQL[key] = sql
    # Prepared on the server where it may be (kombu_transport_django.prepared):
    # a cached text repeats for every result, an expression's does not.
    cursor = prepared.cursor(connection, prepare=plain)
    if start is not None and connection.vendor == "postgresql" and not connection.in_atomic_block:
        # One statement, so one commit for both: a data-modifying WITH runs
        # its UPDATE whatever the INSERT does, and the count says if it hit.
        start_sql, start_params = start.statement()
        upsert_sql = sql
        with cursor:
            cursor.execute(f"WITH started AS ({start_sql} RETURNING 1) {upsert_sql} RETURNING (SELECT count(*) FROM started)",
                           [*start_params, *params])
            nextstart.record(start, cursor.fetchone()[0] == 1)
        return
    with writeturn.turn(connection), cursor:
        cursor.execute(sql, params)


class TaskResultQuerySet(models.QuerySet):
    """Queries on stored task results."""

    def expired(self, expires: dt.timedelta | float) -> TaskResultQuerySet:
        """Results last written more than ``expires`` (a timedelta or seconds) ago."""
        return self.filter(date_done__lt=_expiry_cutoff(expires))

    def delete_in_batches(self, batch_size: int = DELETE_BATCH_SIZE) -> int:
        """Delete the rows of this queryset, ``batch_size`` at a time; return the count.

        Each batch is one SELECT of ids and short DELETEs, so expiring
        millions of rows never holds long locks (or one huge transaction).
        """
        db = router.db_for_write(self.model)
        # SQLite caps the number of parameters per statement.
        connection = connections[db]
        deleted = 0
        while True:
            ids = list(self.using(db).order_by().values_list("pk", flat=True)[:batch_size])
            if not ids:
                return deleted
            chunk = max(1, connection.ops.bulk_batch_size(["pk"], ids))
            for start in range(0, len(ids), chunk):
                count, _ = self.model._default_manager.using(db).filter(pk__in=ids[start:start + chunk]).delete()
                deleted += count
            if len(ids) < batch_size:
                return deleted


class ExpiringManager:
    """``get_all_expired`` / ``delete_expired``, as django-celery-results' managers."""

    def get_all_expired(self, expires: dt.timedelta | float) -> Any:
        """Rows whose ``date_done`` is older than ``expires``."""
        return self.get_queryset().expired(expires)  # type: ignore[attr-defined]

    def delete_expired(self, expires: dt.timedelta | float, batch_size: int = DELETE_BATCH_SIZE) -> int:
        """Delete rows whose ``date_done`` is older than ``expires``, in batches; return the count."""
        return self.get_all_expired(expires).delete_in_batches(batch_size)


class TaskResultManager(ExpiringManager, models.Manager.from_queryset(TaskResultQuerySet)):  # type: ignore[misc]
    """``TaskResult.objects``: django-celery-results' ``TaskResultManager`` verbs."""

    def get_task(self, task_id: str) -> TaskResult:
        """The result of ``task_id``; an unsaved PENDING instance when none is stored."""
        try:
            return self.get(task_id=task_id)
        except self.model.DoesNotExist:
            return self.model(task_id=task_id)

    def store_result(
        self,
        content_type: str,
        content_encoding: str,
        task_id: str,
        result: str | None,
        status: str,
        traceback: str | None = None,
        meta: str | None = None,
        periodic_task_name: str | None = None,
        task_name: str | None = None,
        task_args: str | None = None,
        task_kwargs: str | None = None,
        worker: str | None = None,
        using: str | None = None,
        date_started: dt.datetime | None = None,
        retries: int | None = None,
        queue: str | None = None,
        parent_id: str | None = None,
        root_id: str | None = None,
        **kwargs: Any,
    ) -> TaskResult:
        """Store the (already serialized) result of ``task_id``, overwriting any earlier one.

        Every field is overwritten, as django-celery-results does, except
        ``date_created``, ``log`` and, unless given, ``date_started``,
        ``parent_id`` and ``root_id`` (a revoke from a client knows neither). ``date_done``
        is set to now on every write. Returns the instance written (its
        ``id`` and ``date_created`` are not read back).
        """
        row = dict(
            task_id=task_id, status=status, result=result, traceback=traceback, meta=meta,
            content_type=content_type, content_encoding=content_encoding,
            periodic_task_name=periodic_task_name, task_name=task_name, task_args=task_args,
            task_kwargs=task_kwargs, worker=worker, date_started=date_started, retries=retries, queue=queue,
            parent_id=parent_id, root_id=root_id,
        )
        self.write_result(row, using)
        return self.model(**row)

    def write_result(self, row: dict[str, Any], using: str | None = None) -> None:
        """:meth:`store_result` from a dict of column values, building no model instance.

        ``row`` maps :class:`TaskResult` attnames to values (at least
        ``task_id`` and ``status``); missing columns get their defaults, and
        ``date_done``/``date_created`` are written back into it. The result
        backend stores every result through this: a ``TaskResult()`` per
        task was a fifth of the upsert's Python.
        """
        update = [
            "status", "result", "traceback", "meta", "content_type", "content_encoding", "periodic_task_name",
            "task_name", "task_args", "task_kwargs", "worker", "retries", "queue", "date_done",
        ]
        for name in ("date_started", "parent_id", "root_id"):
            if row.get(name) is not None:
                update.append(name)
        alias = using or router.db_for_write(self.model)
        if row["status"] == states.SUCCESS:
            # In a prefork child, the next job's start mark may ride along.
            _upsert(self.model, row, "task_id", update, alias, nextstart.take(row["task_id"], alias))
        else:
            self._store_unless_succeeded(row, update, alias)

    def _store_unless_succeeded(self, row: dict[str, Any], update: list[str], alias: str) -> None:
        """Write ``row`` (as :meth:`write_result` takes it) unless its task already has a ``SUCCESS`` row.

        A success is final, as in Celery's key-value backends (Redis…):
        a retried task's re-run can finish before the first run has written
        its ``RETRY`` state (``retry()`` publishes first, then stores), and
        that late ``RETRY`` must not hide the result for ever. django-celery-
        results lets the later write win here.

        A guarded UPDATE, else an INSERT that ignores a conflict; if another
        writer inserted the row in between, the guarded UPDATE runs again. A
        concurrent ``SUCCESS`` (a plain upsert) wins in every interleaving.
        """
        manager = self.db_manager(alias)
        obj = _Attributes(_complete(self.model, row))
        for name in update:
            field = self.model._meta.get_field(name)
            setattr(obj, field.attname, field.pre_save(obj, add=False))
        values = {name: getattr(obj, self.model._meta.get_field(name).attname) for name in update}
        guarded = manager.filter(task_id=obj.task_id).exclude(status=states.SUCCESS)
        if guarded.update(**values):
            return
        if _insert_ignoring_conflict(self.model, obj, alias):
            return
        guarded.update(**values)


def _insert_ignoring_conflict(model: type[models.Model], obj: Any, using: str) -> bool:
    """INSERT ``obj`` (a model instance or an :class:`_Attributes`) unless a row with one of its unique values exists; True if inserted."""
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    query = InsertQuery(model, on_conflict=OnConflict.IGNORE)
    query.insert_values(fields, [obj])
    with connections[using].cursor() as cursor:
        inserted = 0
        for sql, params in query.get_compiler(using=using).as_sql():
            cursor.execute(sql, params)
            inserted += max(cursor.rowcount, 0)
    return inserted > 0



class TaskResult(models.Model):
    """The stored state and result of one task (django-celery-results' ``TaskResult``)."""

    task_id = models.CharField("Task ID", max_length=ID_MAX_LENGTH, unique=True,
                               help_text="Celery ID for the Task that was run")
    periodic_task_name = models.CharField("Periodic Task Name", null=True, max_length=255,
                                          help_text="Name of the Periodic Task which was run")
    task_name = models.CharField("Task Name", null=True, max_length=ID_MAX_LENGTH,
                                 help_text="Name of the Task which was run")
    task_args = models.TextField("Task Positional Arguments", null=True,
                                 help_text="JSON representation of the positional arguments used with the task")
    task_kwargs = models.TextField("Task Named Arguments", null=True,
                                   help_text="JSON representation of the named arguments used with the task")
    # No choices: update_state() stores custom states such as PROGRESS.
    status = models.CharField("Task State", max_length=50, default=states.PENDING,
                              help_text="Current state of the task being run")
    worker = models.CharField("Worker", max_length=100, default=None, null=True,
                              help_text="Worker that executes the task")
    content_type = models.CharField("Result Content Type", max_length=128,
                                    help_text="Content type of the result data")
    content_encoding = models.CharField("Result Encoding", max_length=64,
                                        help_text="The encoding used to save the task result data")
    result = models.TextField("Result Data", null=True, default=None, editable=False,
                              help_text="The data returned by the task. "
                                        "Use content_encoding and content_type fields to read.")
    date_created = models.DateTimeField("Created DateTime", auto_now_add=True,
                                        help_text="Datetime field when the task result was created in UTC")
    date_started = models.DateTimeField("Started DateTime", null=True, default=None,
                                        help_text="Datetime field when the task was started in UTC")
    # auto_now: updated on every write, so PENDING/STARTED/RETRY rows have one too.
    date_done = models.DateTimeField("Completed DateTime", auto_now=True,
                                     help_text="Datetime field when the task was completed in UTC")
    traceback = models.TextField("Traceback", blank=True, null=True,
                                 help_text="Text of the traceback if the task generated one")
    meta = models.TextField("Task Meta Information", null=True, default=None, editable=False,
                            help_text="JSON meta information about the task, such as information on child tasks")
    retries = models.IntegerField("Retries", null=True, default=None,
                                  help_text="Number of times the task has been retried")
    queue = models.CharField("Queue", max_length=255, null=True, default=None,
                             help_text="Queue the task was sent to")
    # Not in django-celery-results: the workflow links (Celery's parent_id and
    # root_id headers), so a chain's, chord's or replace()'s root task lists
    # its descendants in one indexed query; and the task's own log lines.
    parent_id = models.CharField("Parent ID", max_length=ID_MAX_LENGTH, null=True, default=None,
                                 help_text="ID of the task that published this one")
    root_id = models.CharField("Root ID", max_length=ID_MAX_LENGTH, null=True, default=None,
                               help_text="ID of the first task of this workflow")
    log = models.TextField("Task Log", null=True, default=None, editable=False,
                           help_text="The last lines the task logged through get_task_logger "
                                     "(CELERY_TASK_LOG_LINES)")

    objects = TaskResultManager()

    class Meta:
        ordering = ["-date_done"]
        verbose_name = "task result"
        verbose_name_plural = "task results"
        indexes = [
            models.Index(fields=["task_name"], name="celery_compat_tr_task_name"),
            models.Index(fields=["status"], name="celery_compat_tr_status"),
            models.Index(fields=["worker"], name="celery_compat_tr_worker"),
            models.Index(fields=["date_created"], name="celery_compat_tr_created"),
            models.Index(fields=["date_done"], name="celery_compat_tr_done"),
            models.Index(fields=["periodic_task_name"], name="celery_compat_tr_periodic"),
            models.Index(fields=["root_id"], name="celery_compat_tr_root"),
        ]

    def __str__(self) -> str:
        return f"<Task: {self.task_id} ({self.status})>"

    def as_dict(self) -> dict[str, Any]:
        """The row as django-celery-results' ``as_dict()`` returns it (serialized values)."""
        return {
            "task_id": self.task_id,
            "task_name": self.task_name,
            "task_args": self.task_args,
            "task_kwargs": self.task_kwargs,
            "status": self.status,
            "result": self.result,
            "date_done": self.date_done,
            "traceback": self.traceback,
            "meta": self.meta,
            "worker": self.worker,
        }


class GroupResultQuerySet(models.QuerySet):
    """Queries on stored group results."""

    expired = TaskResultQuerySet.expired
    delete_in_batches = TaskResultQuerySet.delete_in_batches


class GroupResultManager(ExpiringManager, models.Manager.from_queryset(GroupResultQuerySet)):  # type: ignore[misc]
    """``GroupResult.objects``: django-celery-results' ``GroupResultManager`` verbs."""

    def get_group(self, group_id: str) -> GroupResult | None:
        """The saved group ``group_id``, or None."""
        return self.filter(group_id=group_id).first()

    def store_group_result(
        self, content_type: str, content_encoding: str, group_id: str, result: str, using: str | None = None
    ) -> GroupResult:
        """Save a group's serialized ``as_tuple()``, overwriting an earlier save."""
        row = dict(group_id=group_id, content_type=content_type, content_encoding=content_encoding, result=result)
        update = ["content_type", "content_encoding", "result", "date_done"]
        _upsert(self.model, row, "group_id", update, using or router.db_for_write(self.model))
        return self.model(**row)



class GroupResult(models.Model):
    """A saved group: its id and the serialized ``GroupResult.as_tuple()``."""

    group_id = models.CharField("Group ID", max_length=ID_MAX_LENGTH, unique=True,
                                help_text="Celery ID for the Group that was run")
    date_created = models.DateTimeField("Created DateTime", auto_now_add=True,
                                        help_text="Datetime field when the group result was created in UTC")
    date_done = models.DateTimeField("Completed DateTime", auto_now=True,
                                     help_text="Datetime field when the group was completed in UTC")
    content_type = models.CharField("Result Content Type", max_length=128,
                                    help_text="Content type of the result data")
    content_encoding = models.CharField("Result Encoding", max_length=64,
                                        help_text="The encoding used to save the task result data")
    result = models.TextField("Result Data", null=True, default=None, editable=False,
                              help_text="The data returned by the task. "
                                        "Use content_encoding and content_type fields to read.")

    objects = GroupResultManager()

    class Meta:
        ordering = ["-date_done"]
        verbose_name = "group result"
        verbose_name_plural = "group results"
        indexes = [
            models.Index(fields=["date_created"], name="celery_compat_gr_created"),
            models.Index(fields=["date_done"], name="celery_compat_gr_done"),
        ]

    def __str__(self) -> str:
        return f"<Group: {self.group_id}>"

    def as_dict(self) -> dict[str, Any]:
        """The row as django-celery-results' ``as_dict()`` returns it."""
        return {"group_id": self.group_id, "result": self.result, "date_done": self.date_done}


class ChordCounterQuerySet(models.QuerySet):
    """Queries on chord counters."""

    def expired(self, expires: dt.timedelta | float) -> ChordCounterQuerySet:
        """Counters created more than ``expires`` ago: their chord was abandoned."""
        return self.filter(date_created__lt=_expiry_cutoff(expires))

    delete_in_batches = TaskResultQuerySet.delete_in_batches


class ChordCounter(models.Model):
    """How many header tasks of a chord have yet to finish before its body runs."""

    group_id = models.CharField("Group ID", max_length=ID_MAX_LENGTH, unique=True,
                                help_text="Celery ID for the Chord header group")
    sub_tasks = models.TextField(help_text="JSON serialized list of task result tuples. "
                                           "use .group_result() to decode")
    count = models.PositiveIntegerField(help_text="Starts at len(chord header) and decrements after each task "
                                                  "is finished")
    # Not in django-celery-results; db_default fills it for rows copied from there.
    date_created = models.DateTimeField("Created DateTime", default=timezone.now, db_default=Now(),
                                        help_text="When the chord was started; abandoned counters expire with "
                                                  "result_expires")

    objects = models.Manager.from_queryset(ChordCounterQuerySet)()

    class Meta:
        verbose_name = "chord counter"
        verbose_name_plural = "chord counters"

    def __str__(self) -> str:
        return f"<ChordCounter: {self.group_id} ({self.count} left)>"

    def group_result(self, app: Any = None) -> GroupResultHandle:
        """The chord header as a :class:`celery_compat.result.GroupResult`."""
        from .result import GroupResult as GroupResultHandle
        from .result import result_from_tuple

        return GroupResultHandle(
            self.group_id, [result_from_tuple(r, app=app) for r in json.loads(self.sub_tasks)], app=app
        )



class RevokeQuerySet(models.QuerySet):
    def active(self, now: dt.datetime) -> RevokeQuerySet:
        return self.filter(models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now))


class Revoke(models.Model):
    """A revoked task id: every worker, including ones started later, skips it.

    Celery keeps revokes in each worker's memory only; a row here survives
    restarts and reaches workers on every host. Rows expire like Celery's
    revoke memory (``expires_at``), so the table stays small.
    """

    task_id = models.CharField(max_length=255, unique=True)
    terminate = models.BooleanField(default=False)
    signal = models.CharField(max_length=16, default="SIGTERM")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    expires_at = models.DateTimeField(null=True, blank=True, db_index=True)

    objects = RevokeQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.task_id


class Worker(models.Model):
    """A worker process as it last reported itself (every few seconds while it runs).

    Written by the worker's registry thread (:mod:`celery_compat.worker.registry`);
    read by the admin and the dashboard. A worker that stopped cleanly sets
    ``stopped_at``; one that died simply stops heartbeating.
    """

    hostname = models.CharField(max_length=255, unique=True, help_text="Node name (-n), e.g. celery@host")
    pid = models.PositiveIntegerField()
    pool = models.CharField(max_length=32)
    concurrency = models.PositiveIntegerField()
    queues = models.TextField(blank=True, default="", help_text="Comma-separated queues it consumes")
    started_at = models.DateTimeField()
    heartbeat_at = models.DateTimeField(db_index=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    processed = models.PositiveBigIntegerField(default=0, help_text="Tasks run since it started")
    #: JSON list of the running tasks: id, name, args, kwargs, time_start, worker_pid
    active = models.TextField(default="[]")

    class Meta:
        ordering = ["hostname"]

    def __str__(self) -> str:
        return self.hostname

    def active_tasks(self) -> list[dict[str, Any]]:
        """The running tasks of the last heartbeat (empty for a stopped worker)."""
        if self.stopped_at is not None:
            return []
        try:
            value = json.loads(self.active or "[]")
        except ValueError:
            return []
        return value if isinstance(value, list) else []

    def is_online(self, now: dt.datetime | None = None, grace: float = 3) -> bool:
        """Not stopped and heard from within ``grace`` heartbeat intervals."""
        if self.stopped_at is not None:
            return False
        now = now or timezone.now()
        return (now - self.heartbeat_at).total_seconds() <= grace * WORKER_HEARTBEAT_INTERVAL


class Dashboard(TaskResult):
    """No table: the admin's dashboard page (throughput, failures, queue depths) lives at its URL."""

    class Meta:
        proxy = True
        verbose_name = "dashboard"
        verbose_name_plural = "dashboard"


# Beat models (app label celery_compat): periodic tasks, schedules, claims.
from .beat.models import *  # noqa: E402,F401,F403
