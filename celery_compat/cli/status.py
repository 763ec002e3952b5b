"""``celery_compat status``: queues, workers and throughput, read from the tables.

Nothing is asked of the workers (unlike ``inspect``): everything comes from
three tables every process writes anyway, so the status of a cluster whose
workers are all stuck or gone still shows.

- queues: ``django_kombu_message`` counted by queue and state; *scheduled*
  are ready rows not yet due (ETA/countdown), *oldest waiting* is how long
  the oldest due ready row has been claimable.
- workers: ``django_kombu_consumer`` rows, the heartbeats of consuming
  connections (ours and real Celery workers on ``django://``), one line per
  process; the node name comes from its pidbox queue. ``runworker`` also
  keeps a row of its own (``celery_compat.models.Worker``): its pool,
  concurrency, running and processed tasks are added from there.
- rates: rows of the result table finished in the last 5 and 60 minutes
  (tasks with ``ignore_result`` store none, so they are not counted).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from django.db import router
from django.db.models import Count, Min, Q
from django.utils import timezone

from .durations import humanize

if TYPE_CHECKING:
    from ..app import Celery

#: minutes of the two throughput windows
RATE_WINDOWS = (5, 60)
#: final states, as ``celery.states.READY_STATES``
FINISHED_STATES = ("SUCCESS", "FAILURE", "REVOKED")


@dataclass(frozen=True)
class QueueStatus:
    name: str
    ready: int
    scheduled: int
    leased: int
    dead: int
    #: seconds the oldest due, unclaimed message has waited; None when none waits
    oldest_waiting: float | None


@dataclass(frozen=True)
class WorkerStatus:
    #: the worker's node name (``celery@host``), from its pidbox queue; ``host:pid`` without one
    node: str
    hostname: str
    pid: int
    queues: list[str]
    started_at: dt.datetime
    heartbeat_at: dt.datetime
    #: seconds since the last heartbeat
    heartbeat_age: float
    #: messages leased to it: running and prefetched tasks
    leased: int
    #: ``ok``, ``late`` (missed heartbeats) or ``lost`` (past ``lease_seconds``: its messages return)
    health: str
    #: from runworker's own row (celery_compat.models.Worker); None for other workers (real Celery)
    pool: str | None = None
    concurrency: int | None = None
    running: int | None = None
    processed: int | None = None


@dataclass(frozen=True)
class Rate:
    minutes: int
    finished: int
    failed: int

    @property
    def per_minute(self) -> float:
        return self.finished / self.minutes


@dataclass
class Status:
    taken_at: dt.datetime
    queues: list[QueueStatus] = field(default_factory=list)
    workers: list[WorkerStatus] = field(default_factory=list)
    #: None when results are not in celery_compat's tables
    rates: list[Rate] | None = None
    result_backend: str = ""

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if self.rates is not None:
            for item, rate in zip(data["rates"], self.rates):
                item["per_minute"] = round(rate.per_minute, 2)
        return data


def is_control_queue(name: str, app: Celery) -> bool:
    """Remote-control and event queues (``…pidbox``, ``celeryev.…``): not task queues."""
    return name.endswith(".pidbox") or name.startswith(f"{app.conf.event_exchange}.")


def collect(app: Celery, *, control_queues: bool = False, now: dt.datetime | None = None) -> Status:
    """Read the status from the database (a few aggregate queries)."""
    now = now or timezone.now()
    options = _transport_options(app)
    status = Status(taken_at=now, result_backend=str(app.conf.result_backend))
    status.queues = _queues(app, options.database, now, control_queues)
    status.workers = _workers(app, options, now)
    if _results_in_tables(app):
        status.rates = _rates(now)
    return status


def _transport_options(app: Celery) -> Any:
    from kombu_transport_django.options import TransportOptions

    return TransportOptions.from_transport_options(app.conf.broker_transport_options or {})


def _queues(app: Celery, using: str, now: dt.datetime, control_queues: bool) -> list[QueueStatus]:
    from kombu_transport_django.models import Message, Queue

    ready = Q(status=Message.Status.READY)
    rows = (
        Message.objects.using(using).values("queue").order_by()
        .annotate(
            ready=Count("id", filter=ready & Q(available_at__lte=now)),
            scheduled=Count("id", filter=ready & Q(available_at__gt=now)),
            leased=Count("id", filter=Q(status__in=(Message.Status.LEASED, Message.Status.RUNNING))),
            dead=Count("id", filter=Q(status=Message.Status.DEAD)),
            oldest=Min("available_at", filter=ready & Q(available_at__lte=now)),
        )
    )
    by_name = {row["queue"]: row for row in rows}
    # Declared queues with nothing in them, and the app's own, show as zeros.
    names = set(by_name) | set(Queue.objects.using(using).values_list("name", flat=True))
    names |= set(app.router.queues)
    result = []
    for name in sorted(names):
        if not control_queues and is_control_queue(name, app):
            continue
        row = by_name.get(name, {})
        oldest = row.get("oldest")
        result.append(QueueStatus(
            name=name, ready=row.get("ready", 0), scheduled=row.get("scheduled", 0),
            leased=row.get("leased", 0), dead=row.get("dead", 0),
            oldest_waiting=(now - oldest).total_seconds() if oldest else None,
        ))
    return result


def _workers(app: Celery, options: Any, now: dt.datetime) -> list[WorkerStatus]:
    from kombu_transport_django.models import Consumer, Message

    pidbox_suffix = f".{app.conf.control_exchange}.pidbox"
    processes: dict[tuple[str, int], list[Any]] = {}
    for consumer in Consumer.objects.using(options.database).order_by("started_at"):
        processes.setdefault((consumer.hostname, consumer.pid), []).append(consumer)
    leased = dict(
        Message.objects.using(options.database).filter(status=Message.Status.LEASED)
        .values("lease_owner").order_by().annotate(n=Count("id")).values_list("lease_owner", "n")
    )
    workers = []
    for (hostname, pid), consumers in processes.items():
        queues = sorted({q for c in consumers for q in c.queues.split(",") if q})
        # The worker's own pidbox queue names it: <node>.celery.pidbox.
        node = next(
            (q[: -len(pidbox_suffix)] for q in queues if q.endswith(pidbox_suffix) and ".reply." not in q),
            f"{hostname}:{pid}",
        )
        heartbeat_at = max(c.heartbeat_at for c in consumers)
        age = (now - heartbeat_at).total_seconds()
        if age > options.lease_seconds:
            health = "lost"
        elif age > 2 * options.heartbeat_interval + 1:
            health = "late"
        else:
            health = "ok"
        workers.append(WorkerStatus(
            node=node, hostname=hostname, pid=pid,
            queues=[q for q in queues if not is_control_queue(q, app)],
            started_at=min(c.started_at for c in consumers), heartbeat_at=heartbeat_at,
            heartbeat_age=max(0.0, age), leased=sum(leased.get(c.token, 0) for c in consumers), health=health,
        ))
    return sorted(_with_registry(workers), key=lambda w: (w.node, w.pid))


def _with_registry(workers: list[WorkerStatus]) -> list[WorkerStatus]:
    """Add pool, concurrency and task counts from runworker's own rows."""
    import dataclasses

    from .. import models

    Worker = getattr(models, "Worker", None)
    if Worker is None:  # a version without runworker's registry: the consumer rows say enough
        return workers
    rows = {
        w.hostname: w for w in Worker.objects.using(router.db_for_read(Worker))
        .filter(hostname__in=[w.node for w in workers], stopped_at__isnull=True)
    }
    result = []
    for worker in workers:
        row = rows.get(worker.node)
        if row is not None and row.pid == worker.pid:
            worker = dataclasses.replace(worker, pool=row.pool, concurrency=row.concurrency,
                                         running=len(row.active_tasks()), processed=row.processed)
        result.append(worker)
    return result


def _results_in_tables(app: Celery) -> bool:
    """Whether the app stores results in celery_compat's tables (whatever name the setting uses)."""
    from ..backends.database import DatabaseBackend

    try:
        return isinstance(app.backend, DatabaseBackend)
    except Exception:  # an unsupported result_backend: say "no rates" rather than fail the status
        return False


def _rates(now: dt.datetime) -> list[Rate]:
    from ..models import TaskResult

    longest = max(RATE_WINDOWS)
    since = {minutes: now - dt.timedelta(minutes=minutes) for minutes in RATE_WINDOWS}
    aggregates: dict[str, Any] = {}
    for minutes in RATE_WINDOWS:
        window = Q(date_done__gte=since[minutes])
        aggregates[f"finished_{minutes}"] = Count("id", filter=window)
        aggregates[f"failed_{minutes}"] = Count("id", filter=window & Q(status="FAILURE"))
    counts = (
        TaskResult.objects.using(router.db_for_read(TaskResult))
        .filter(status__in=FINISHED_STATES, date_done__gte=since[longest])
        .aggregate(**aggregates)
    )
    return [Rate(minutes=m, finished=counts[f"finished_{m}"], failed=counts[f"failed_{m}"]) for m in RATE_WINDOWS]


# -- rendering ---------------------------------------------------------------------------

def render_text(status: Status) -> str:
    """The status as plain text (for pipes, logs, and terminals without rich)."""
    lines = [f"status at {status.taken_at:%Y-%m-%d %H:%M:%S %Z}", ""]
    rows = [("queue", "ready", "scheduled", "leased", "dead", "oldest waiting")]
    rows += [(q.name, str(q.ready), str(q.scheduled), str(q.leased), str(q.dead), humanize(q.oldest_waiting))
             for q in status.queues]
    lines += _columns(rows) if status.queues else ["queues: none"]
    lines.append("")
    if status.workers:
        rows = [("worker", "pid", "pool", "queues", "running", "leased", "processed", "last heartbeat", "health")]
        rows += [(w.node, str(w.pid), _pool(w), ",".join(w.queues) or "-", _count(w.running), str(w.leased),
                  _count(w.processed), f"{humanize(w.heartbeat_age)} ago", w.health) for w in status.workers]
        lines += _columns(rows)
    else:
        lines.append("workers: none (no consumer has a heartbeat row)")
    lines.append("")
    if status.rates is None:
        lines.append(f"rates: results are not in celery_compat's tables (result_backend={status.result_backend!r})")
    else:
        rows = [("finished tasks", *(f"last {r.minutes} min" for r in status.rates))]
        rows.append(("per minute", *(f"{r.per_minute:.1f}" for r in status.rates)))
        rows.append(("total", *(str(r.finished) for r in status.rates)))
        rows.append(("failed", *(str(r.failed) for r in status.rates)))
        lines += _columns(rows)
    return "\n".join(lines)


def _pool(worker: WorkerStatus) -> str:
    return f"{worker.pool}×{worker.concurrency}" if worker.pool else "-"


def _count(value: int | None) -> str:
    return "-" if value is None else str(value)


def _columns(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    out = []
    for row in rows:
        cells = [row[0].ljust(widths[0])] + [cell.rjust(width) for cell, width in zip(row[1:], widths[1:])]
        out.append("  ".join(cells).rstrip())
    return out


def render_rich(status: Status) -> Any:
    """The status as rich tables (``--watch`` in a terminal)."""
    from rich.console import Group
    from rich.table import Table

    queues = Table(title=f"queues at {status.taken_at:%H:%M:%S}", title_justify="left")
    for name in ("queue", "ready", "scheduled", "leased", "dead", "oldest waiting"):
        queues.add_column(name, justify="left" if name == "queue" else "right")
    for q in status.queues:
        queues.add_row(q.name, str(q.ready), str(q.scheduled), str(q.leased),
                       f"[red]{q.dead}[/]" if q.dead else "0", humanize(q.oldest_waiting))
    workers = Table(title="workers", title_justify="left")
    for name in ("worker", "pid", "pool", "queues", "running", "leased", "processed", "last heartbeat"):
        workers.add_column(name, justify="right" if name in ("pid", "running", "leased", "processed") else "left")
    colour = {"ok": "green", "late": "yellow", "lost": "red"}
    for w in status.workers:
        workers.add_row(w.node, str(w.pid), _pool(w), ",".join(w.queues) or "-", _count(w.running), str(w.leased),
                        _count(w.processed), f"[{colour[w.health]}]{humanize(w.heartbeat_age)} ago ({w.health})[/]")
    parts: list[Any] = [queues, workers]
    if status.rates is not None:
        rates = Table(title="finished tasks (from results)", title_justify="left")
        rates.add_column("")
        for r in status.rates:
            rates.add_column(f"last {r.minutes} min", justify="right")
        rates.add_row("per minute", *(f"{r.per_minute:.1f}" for r in status.rates))
        rates.add_row("total", *(str(r.finished) for r in status.rates))
        rates.add_row("failed", *(f"[red]{r.failed}[/]" if r.failed else "0" for r in status.rates))
        parts.append(rates)
    return Group(*parts)
