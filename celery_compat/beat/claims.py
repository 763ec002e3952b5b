"""The database side of beat: entry states and the claim of each due run.

A run is claimed by inserting its ``BeatRun`` row ``(name, due_at)`` with
``INSERT … ON CONFLICT DO NOTHING`` (``INSERT IGNORE`` on MySQL/MariaDB) in
the transaction that also publishes the task's message (the ``django://``
transport inserts the message on the caller's connection). Of N schedulers
racing for one run, the first insert wins; the others' inserts wait for it
and then insert nothing, so they send nothing. If the publish fails, the
transaction rolls back and the run stays unclaimed for the next tick.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import Callable, Iterable

from django.db import connections, router, transaction
from django.db.models import F, Q
from django.utils import timezone

from .models import BeatEntryState, BeatRun, PeriodicTask, PeriodicTasks

logger = logging.getLogger("celery.beat")

#: an entry's stored ``(anchor_at, last_due_at)``
State = tuple[dt.datetime, "dt.datetime | None"]


def _db() -> str:
    return router.db_for_write(BeatRun)


def load_states(names: Iterable[str], now: dt.datetime) -> dict[str, State]:
    """Each entry's ``(anchor_at, last_due_at)``.

    Entries never seen get a state row anchored at ``now``; when several
    schedulers see a new entry at once, one row wins and all read it, so
    all count the entry's interval from the same instant.
    """
    names = list(names)
    if not names:
        return {}
    db = _db()
    found = _read_states(names, db)
    missing = [name for name in names if name not in found]
    if missing:
        BeatEntryState.objects.using(db).bulk_create(
            [BeatEntryState(name=name, anchor_at=now) for name in missing], ignore_conflicts=True
        )
        found.update(_read_states(missing, db))
    return found


def _read_states(names: list[str], db: str) -> dict[str, State]:
    rows = BeatEntryState.objects.using(db).filter(name__in=names).values_list("name", "anchor_at", "last_due_at")
    return {name: (anchor, last_due) for name, anchor, last_due in rows}


def _insert_claim(db: str, name: str, due_at: dt.datetime, now: dt.datetime, hostname: str, task: str,
                  task_id: str) -> bool:
    """Insert the run's row unless it exists; True if this call inserted it."""
    connection = connections[db]
    opts = BeatRun._meta
    qn = connection.ops.quote_name
    columns = ["name", "due_at", "claimed_at", "hostname", "task", "task_id"]
    values = [
        opts.get_field(column).get_db_prep_value(value, connection)
        for column, value in zip(columns, [name, due_at, now, hostname[:255], task[:200], task_id])
    ]
    into = f"{qn(opts.db_table)} ({', '.join(qn(c) for c in columns)}) VALUES ({', '.join(['%s'] * len(columns))})"
    if connection.vendor == "mysql":
        sql = f"INSERT IGNORE INTO {into}"
    else:
        sql = f"INSERT INTO {into} ON CONFLICT DO NOTHING"
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        return cursor.rowcount == 1


def claim_and_send(
    name: str, task: str, due_at: dt.datetime, hostname: str, send: Callable[[str], None],
    row_id: int | None = None, one_off: bool = False, now: dt.datetime | None = None,
) -> bool:
    """Claim the run of ``name`` due at ``due_at`` and, if it was ours, ``send(task_id)`` in the same transaction.

    Returns True if this call fired the run, False if another scheduler had.
    Also moves the entry's state (and its ``PeriodicTask`` row's
    ``last_run_at``/``total_run_count``; a one-off row is disabled).
    """
    now = now or timezone.now()
    db = _db()
    task_id = str(uuid.uuid4())
    with transaction.atomic(using=db):
        if not _insert_claim(db, name, due_at, now, hostname, task, task_id):
            return False
        send(task_id)
        BeatEntryState.objects.using(db).filter(name=name).filter(
            Q(last_due_at__isnull=True) | Q(last_due_at__lt=due_at)
        ).update(last_due_at=due_at)
        BeatEntryState.objects.using(db).filter(name=name).update(
            last_run_at=now, total_run_count=F("total_run_count") + 1
        )
        if row_id is not None:
            changes: dict[str, object] = {"last_run_at": now, "total_run_count": F("total_run_count") + 1}
            if one_off:
                changes["enabled"] = False
            PeriodicTask.objects.using(db).filter(pk=row_id).update(**changes)
            if one_off:
                # .update() sends no signal: tell the other schedulers it is disabled.
                PeriodicTasks.update_changed()
    return True


def refresh_state(name: str) -> State | None:
    """The stored ``(anchor_at, last_due_at)`` of ``name``, or None."""
    return _read_states([name], _db()).get(name)


def delete_old_runs(older_than: dt.timedelta, batch_size: int = 1000) -> int:
    """Delete claim rows claimed more than ``older_than`` ago, ``batch_size`` per statement."""
    cutoff = timezone.now() - older_than
    return BeatRun.objects.using(_db()).filter(claimed_at__lt=cutoff).delete_in_batches(batch_size)
