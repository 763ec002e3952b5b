"""``DatabaseScheduler``: sends each due run of every entry, claimed in the database.

Each :meth:`tick` does, for every entry: take the entry's cursor (the last
due instant this scheduler knows was fired, else the entry's shared anchor),
find the next due instant after it, and if that is not in the future claim
and send it (:func:`~celery_compat.beat.claims.claim_and_send`). A run
another scheduler already claimed is skipped; either way the cursor moves
on. So any number of schedulers send each run exactly once.

Late runs. Runs due since this scheduler started (and within
:data:`CATCH_UP` before now) are fired one by one: a scheduler that was
slowed down for a few seconds misses nothing. Runs due before that (beat was
down, or the entry was just edited) fire once, at the latest due instant,
as Celery beat fires a missed run once.

Changes. Database entries are reloaded when the ``PeriodicTasks`` marker
moves (checked at most every :data:`SYNC_EVERY` seconds, one small SELECT):
admin changes apply without a restart. Settings entries are read at start.
A database entry with the name of a settings entry replaces it.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import time
from typing import TYPE_CHECKING, Any

from django.db import DatabaseError, close_old_connections
from django.utils import timezone
from kombu.exceptions import OperationalError

from ..exceptions import ImproperlyConfigured
from . import claims
from .entries import BadRow, Entry, default_entries, entry_from_row, settings_entries
from .slots import CrontabSlots

if TYPE_CHECKING:
    from ..app import Celery

logger = logging.getLogger("celery.beat")

UTC = dt.timezone.utc
#: Runs older than this are not caught up one by one even by a running scheduler.
CATCH_UP = dt.timedelta(minutes=5)
#: Seconds between two checks of the change marker.
SYNC_EVERY = 1.0
#: Longest sleep between two ticks when ``beat_max_loop_interval`` is 0 (django-celery-beat's).
DEFAULT_MAX_INTERVAL = 5.0
#: Seconds between two deletions of old claim rows (randomised ±50% so schedulers spread them).
CLEANUP_EVERY = 600.0
#: Claim rows are kept this long by default (``beat_run_expires``).
DEFAULT_RUN_EXPIRES = dt.timedelta(days=1)
#: Most runs of one entry fired in one tick (a bound, not a limit in practice).
MAX_RUNS_PER_TICK = 1000


class DatabaseScheduler:
    """Beat's scheduler for celery_compat: safe to run in every worker (``-B``).

    ``app`` gives ``beat_schedule``, ``timezone`` and ``beat_max_loop_interval``;
    ``hostname`` is written on the runs this scheduler claims.
    """

    def __init__(self, app: Celery, hostname: str = "", max_interval: float | None = None,
                 now: Any = None) -> None:
        self.app = app
        self.hostname = hostname
        configured = max_interval if max_interval is not None else app.conf.beat_max_loop_interval
        self.max_interval = float(configured or DEFAULT_MAX_INTERVAL)
        self._now = now or timezone.now
        self.started_at: dt.datetime | None = None
        self.entries: dict[str, Entry] = {}
        self.cursors: dict[str, dt.datetime] = {}
        #: names of database rows that cannot run, with the reason (logged once)
        self.bad_rows: dict[str, str] = {}
        self._settings: dict[str, Entry] = {}
        self._marker: Any = object()
        self._next_sync = 0.0
        self._next_cleanup = time.monotonic() + CLEANUP_EVERY * random.uniform(0.1, 1.0)
        expires = app.conf.get("beat_run_expires")
        if expires is None:
            expires = DEFAULT_RUN_EXPIRES
        try:
            self.run_expires = expires if isinstance(expires, dt.timedelta) else dt.timedelta(seconds=float(expires))
        except (TypeError, ValueError):
            raise ImproperlyConfigured(
                f"beat_run_expires={expires!r}: give a timedelta or a number of seconds (default: one day)"
            ) from None

    def now(self) -> dt.datetime:
        return self._now().astimezone(UTC)

    # -- entries -------------------------------------------------------------------

    def setup(self) -> None:
        """Read the settings entries (errors raise ``ImproperlyConfigured``) and the database ones."""
        self.started_at = self.now()
        self._settings = settings_entries(self.app)
        self._settings.update(default_entries(self.app, self._settings))
        self.sync(force=True)

    def sync(self, force: bool = False) -> bool:
        """Reload the database entries if the change marker moved; True if reloaded."""
        from .models import PeriodicTask, PeriodicTasks

        mono = time.monotonic()
        if not force and mono < self._next_sync:
            return False
        self._next_sync = mono + SYNC_EVERY
        marker = PeriodicTasks.last_change()
        if not force and marker == self._marker:
            return False
        self._marker = marker
        entries = dict(self._settings)
        bad: dict[str, str] = {}
        for row in PeriodicTask.objects.enabled():
            try:
                entries[row.name] = entry_from_row(row)
            except BadRow as exc:
                bad[row.name] = str(exc)
                entries.pop(row.name, None)
        for name, reason in bad.items():
            if self.bad_rows.get(name) != reason:
                logger.error("Periodic task %r cannot be scheduled: %s (fix it in the admin)", name, reason)
        self.bad_rows = bad
        changed = [name for name, entry in entries.items()
                   if name not in self.entries or self.entries[name].fingerprint != entry.fingerprint]
        self.entries = entries
        for name in list(self.cursors):
            if name not in entries:
                del self.cursors[name]
        fresh = claims.load_states([name for name in entries if name not in self.cursors or name in changed],
                                   self.now())
        for name, state in fresh.items():
            self.cursors[name] = self._cursor(entries[name], state)
        if changed:
            logger.info("beat: %d entries (%d new or changed)", len(entries), len(changed))
        return True

    @staticmethod
    def _cursor(entry: Entry, state: claims.State) -> dt.datetime:
        anchor, last_due = state
        if last_due is not None:
            return last_due
        # A clocked run is due at its time even if that was before the entry was first seen.
        return dt.datetime.min.replace(tzinfo=UTC) if entry.clocked else anchor

    # -- ticking -------------------------------------------------------------------

    def tick(self) -> float:
        """Send what is due; return the seconds until the next check."""
        if self.started_at is None:
            self.setup()
        self.sync()
        now = self.now()
        next_due: list[dt.datetime] = []
        for entry in list(self.entries.values()):
            upcoming = self._fire_due(entry, now)
            if upcoming is not None:
                next_due.append(upcoming)
        self._maybe_cleanup()
        wait = self.max_interval
        if next_due:
            wait = min(wait, max((min(next_due) - self.now()).total_seconds(), 0.0))
        return min(wait, max(self._next_sync - time.monotonic(), 0.0) + 0.01, self.max_interval)

    def _fire_due(self, entry: Entry, now: dt.datetime) -> dt.datetime | None:
        """Fire the due runs of ``entry``; return its next due instant (None: never)."""
        cursor = self.cursors.get(entry.name)
        if cursor is None:
            return None
        for _ in range(MAX_RUNS_PER_TICK):
            due = entry.next_after(cursor)
            if due is None or due > now:
                return due
            if entry.ends_at is not None and due > entry.ends_at:
                return None
            horizon = max(filter(None, (self.started_at, now - CATCH_UP, entry.changed_at)))
            if due < horizon and not entry.clocked:
                # Runs missed while down: refresh from the shared state, then fire once.
                state = claims.refresh_state(entry.name)
                stored = self._cursor(entry, state) if state is not None else None
                if stored is not None and stored > cursor:
                    cursor = self.cursors[entry.name] = stored
                    continue
                limit = min(now, entry.ends_at) if entry.ends_at is not None else now
                due = entry.latest_at_or_before(limit, cursor) or due
                deadline = self.app.conf.beat_cron_starting_deadline
                if deadline is not None and isinstance(entry.slots, CrontabSlots) \
                        and due < now - dt.timedelta(seconds=deadline):
                    # Celery's beat_cron_starting_deadline: a crontab run missed by more is skipped.
                    logger.info("beat: %s: run due at %s is older than beat_cron_starting_deadline (%ss): skipped",
                                entry.name, due.isoformat(), deadline)
                    cursor = self.cursors[entry.name] = due
                    continue
            try:
                fired = claims.claim_and_send(
                    entry.name, entry.task, due, self.hostname, lambda task_id: self.send(entry, task_id, due),
                    row_id=entry.row_id, one_off=entry.one_off,
                )
            except (DatabaseError, OperationalError):
                # The database (our broker) is unreachable (a publish re-raises
                # that as kombu's OperationalError): the tick is retried, nothing is skipped.
                raise
            except Exception:
                # As Celery's beat: a message that cannot be built or sent is logged and the run
                # skipped; the claim was rolled back, so another scheduler may still send it.
                logger.error("Message Error: cannot send %s (%s) due at %s", entry.name, entry.task,
                             due.isoformat(), exc_info=True)
                fired = False
            if fired:
                logger.info("Scheduler: Sending due task %s (%s) due at %s", entry.name, entry.task, due.isoformat())
            cursor = self.cursors[entry.name] = due
            if entry.one_off and fired:
                self.entries.pop(entry.name, None)
                return None
        return entry.next_after(cursor)

    def send(self, entry: Entry, task_id: str, due_at: dt.datetime | None = None) -> None:
        """Publish ``entry``'s task with id ``task_id`` (in the claim's transaction)."""
        send_entry(self.app, entry, task_id, due_at)

    def _maybe_cleanup(self) -> None:
        if time.monotonic() < self._next_cleanup:
            return
        self._next_cleanup = time.monotonic() + CLEANUP_EVERY * random.uniform(0.5, 1.5)
        deleted = claims.delete_old_runs(self.run_expires)
        if deleted:
            logger.info("beat: deleted %d claim rows older than %s", deleted, self.run_expires)

    def close(self) -> None:
        close_old_connections()


def send_entry(app: Celery, entry: Entry, task_id: str | None = None, due_at: dt.datetime | None = None) -> Any:
    """Publish ``entry``'s task now; returns its AsyncResult.

    Headers: ``periodic_task_name`` (as django-celery-beat) and, for a
    scheduled run, ``periodic_task_due_at``, the ISO due instant of the run
    (a task can use it as an idempotency key); both become ``self.request``
    attributes. A registered task is sent with its own ``apply_async`` (its
    routing and options apply), others with ``app.send_task``.
    """
    options = entry.message_options()
    if due_at is not None:
        options["headers"].setdefault("periodic_task_due_at", due_at.isoformat())
    if task_id is not None:
        options["task_id"] = task_id
    task = app.tasks.get(entry.task)
    if task is not None:
        return task.apply_async(entry.args, entry.kwargs, **options)
    return app.send_task(entry.task, entry.args, entry.kwargs, **options)


def check_scheduler_setting(app: Celery) -> None:
    """Accept ``beat_scheduler`` values a migrating project may still have; refuse others clearly."""
    name = app.conf.beat_scheduler
    accepted = {
        None, "", "celery_compat.beat:DatabaseScheduler", "celery_compat.beat.scheduler:DatabaseScheduler",
        "django_celery_beat.schedulers:DatabaseScheduler", "django", "celery.beat:PersistentScheduler",
    }
    if isinstance(name, str) and name in accepted:
        return
    if name is DatabaseScheduler:
        return
    raise ImproperlyConfigured(
        f"beat_scheduler={name!r}: celery_compat runs its own database scheduler; remove the setting or set it "
        "to 'celery_compat.beat:DatabaseScheduler'"
    )
