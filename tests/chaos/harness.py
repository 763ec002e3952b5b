"""The chaos suite's bookkeeping: known task ids in, every one accounted for out.

A chaos test publishes a known set of task ids, injects a fault while
workers run them, waits for the system to recover and then classifies each
id (:func:`account`):

- *executed*: its ledger line exists (the task's only side effect), once or
  more; every run past the first is a *duplicate*;
- *failed with reason*: never executed, but visibly failed: a FAILURE result
  (``WorkerLostError``) or a dead message row with its reason;
- *lost*: neither. A lost id is always a defect.

Each test appends its accounting row to the results file (``CHAOS_RESULTS``,
default ``var/chaos-results.jsonl``); ``python -m tests.chaos.render`` turns
the rows into the table of docs/reliability.md.

Sizes scale with ``CHAOS_SCALE`` (default 1: the CI size, the whole suite in
a few minutes on a loaded 2-core machine).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
import subprocess
from typing import Any, Callable, Iterable

from django.db import connection

from tests.conftest import ROOT

RESULTS_DEFAULT = ROOT / "var" / "chaos-results.jsonl"


def scale() -> float:
    return float(os.environ.get("CHAOS_SCALE", "1"))


def scaled(ci_size: int, minimum: int = 1) -> int:
    """``ci_size`` times ``CHAOS_SCALE``."""
    return max(minimum, int(ci_size * scale()))


def setting(name: str, default: float) -> float:
    """A chaos knob from the environment (``CHAOS_<NAME>``)."""
    return float(os.environ.get(f"CHAOS_{name.upper()}", default))


def task_ids(prefix: str, start: int, count: int) -> list[str]:
    return [f"{prefix}-{n}" for n in range(start, start + count)]


def ledger_counts(ledger: Path) -> Counter[str]:
    """How many times each task id ran (complete lines only)."""
    if not ledger.exists():
        return Counter()
    text = ledger.read_text()
    text = text[: text.rfind("\n") + 1]
    return Counter(line.split(" ", 1)[0] for line in text.splitlines())


def _chunks(items: list[str], size: int = 2000) -> Iterable[list[str]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def failures(ids: list[str], using: str = "default") -> dict[str, str]:
    """``task_id → reason`` for ids that failed visibly: FAILURE results, dead rows."""
    from celery_compat.models import TaskResult
    from kombu_transport_django.models import Message

    found: dict[str, str] = {}
    for chunk in _chunks(ids):
        for task_id, result in TaskResult.objects.using(using).filter(task_id__in=chunk, status="FAILURE").values_list(
            "task_id", "result"
        ):
            try:
                exc_type = json.loads(result or "{}").get("exc_type", "?")
            except ValueError:
                exc_type = "?"
            found[task_id] = f"FAILURE {exc_type}"
        for task_id, reason in Message.objects.using(using).dead().filter(task_id__in=chunk).values_list(
            "task_id", "dead_reason"
        ):
            found.setdefault(task_id, f"dead: {reason}")
    return found


def pending(ids: list[str], using: str = "default") -> int:
    """Messages of these ids still waiting or leased in the queue table."""
    from kombu_transport_django.models import Message

    return sum(
        Message.objects.using(using).filter(task_id__in=chunk).exclude(status=Message.Status.DEAD).count()
        for chunk in _chunks(ids)
    )


@dataclass
class Accounting:
    fault: str
    tasks: int
    ran: int = 0
    duplicated: int = 0
    failed_with_reason: int = 0
    lost: int = 0
    #: how each visibly failed id failed (reason → count)
    reasons: dict[str, int] = field(default_factory=dict)
    #: ids run more than once (at most 20, for the report)
    duplicate_ids: list[str] = field(default_factory=list)
    lost_ids: list[str] = field(default_factory=list)
    #: seconds from the fault until work was back to normal (what that
    #: means for each fault: see the test, and docs/reliability.md)
    recovery_s: float | None = None
    #: seconds from the fault until every id was accounted for
    settle_s: float | None = None
    notes: str = ""
    extra: dict[str, object] = field(default_factory=dict)


def account(fault: str, ids: list[str], ledger: Path, subset: bool = False,
            using: str = "default") -> Accounting:
    """Classify every id of ``ids`` (see the module docstring).

    Unless ``subset``, the ledger may hold no other id: a task that ran
    although nobody published it would be a defect too.
    """
    counts = ledger_counts(ledger)
    failed = failures([i for i in ids if not counts.get(i)], using)
    acc = Accounting(fault=fault, tasks=len(ids))
    reasons: Counter[str] = Counter()
    for task_id in ids:
        runs = counts.get(task_id, 0)
        if runs >= 1:
            acc.ran += 1
            if runs > 1:
                acc.duplicated += runs - 1
                if len(acc.duplicate_ids) < 20:
                    acc.duplicate_ids.append(task_id)
        elif task_id in failed:
            acc.failed_with_reason += 1
            reasons[_short(failed[task_id])] += 1
        else:
            acc.lost += 1
            if len(acc.lost_ids) < 20:
                acc.lost_ids.append(task_id)
    acc.reasons = dict(reasons)
    unknown = set() if subset else set(counts) - set(ids)
    assert not unknown, f"the ledger holds ids nobody published: {sorted(unknown)[:5]}"
    return acc


def _short(reason: str) -> str:
    return reason if len(reason) <= 80 else reason[:77] + "..."


def settled(ids: list[str], ledger: Path, queue: str = "celery", using: str = "default") -> bool:
    """Every id ran or failed visibly, and nothing is left in the queue.

    The cheap checks first: at 200,000 ids the per-id lookups are costly.
    """
    from kombu_transport_django.models import Message

    if Message.objects.using(using).filter(queue=queue).exclude(status=Message.Status.DEAD).exists():
        return False
    counts = ledger_counts(ledger)
    missing = [i for i in ids if not counts.get(i)]
    if missing and len(failures(missing, using)) < len(missing):
        return False
    return pending(ids, using) == 0


def wait_settled(ids: list[str], ledger: Path, timeout: float, procs: Iterable = (),
                 check_every: float = 0.5, quiet: float = 20.0, using: str = "default") -> float:
    """Wait until :func:`settled`; the seconds it took. Times out generously.

    Also returns once the queue has held nothing but dead rows and no id
    has run for ``quiet`` seconds (longer than a lease): whatever is missing
    then is lost, and :func:`account` reports it instead of a timeout.
    """
    from kombu_transport_django.models import Message

    started = time.monotonic()
    deadline = started + timeout
    last_count, last_change = -1, started
    while not settled(ids, ledger, using=using):
        for proc in procs:
            if proc.poll() is not None:
                raise AssertionError(f"a worker exited rc={proc.returncode} before the run settled")
        now = time.monotonic()
        count = executed(ids, ledger)
        if count != last_count or Message.objects.using(using).filter(queue="celery").exclude(
                status=Message.Status.DEAD).exists():
            last_count, last_change = count, now
        elif now - last_change > quiet:
            return now - started  # nothing left to run: the missing ids are lost
        if now > deadline:
            raise AssertionError(
                f"not settled after {timeout}s: {count}/{len(ids)} ran, {pending(ids, using)} still in the queue"
            )
        time.sleep(check_every)
    return time.monotonic() - started


def executed(ids: list[str], ledger: Path) -> int:
    counts = ledger_counts(ledger)
    return sum(1 for i in ids if counts.get(i))


def record(acc: Accounting, database: str | None = None) -> None:
    """Append ``acc`` (with the database and scale) to the results file."""
    path = Path(os.environ.get("CHAOS_RESULTS", RESULTS_DEFAULT))
    path.parent.mkdir(parents=True, exist_ok=True)
    row = asdict(acc)
    row.update(
        database=database or connection.vendor,
        scale=scale(),
        at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        test=os.environ.get("PYTEST_CURRENT_TEST", "").split(" ")[0],
        python=sys.version.split()[0],
        loadavg=round(os.getloadavg()[0], 2),
        cpus=os.cpu_count(),
    )
    with open(path, "a") as fh:
        fh.write(json.dumps(row, sort_keys=True) + "\n")


# -- processes -------------------------------------------------------------------


class RunWorker:
    """A ``manage.py runworker`` child process; its output goes to a file."""

    def __init__(self, proc: subprocess.Popen, hostname: str, log: Path) -> None:
        self.proc = proc
        self.hostname = hostname
        self.log = log

    @property
    def pid(self) -> int:
        return self.proc.pid

    def output(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def wait_exit(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"runworker did not exit in {timeout}s\n{self.output()[-5000:]}") from None


#: the ``chaos_worker`` fixture: ``chaos_worker(*args, ready=True, **env)``
StartWorker = Callable[..., RunWorker]


def consuming(hostname: str, using: str = "default") -> bool:
    """The worker consumes tasks and gets broadcasts (:func:`tests.helpers.e2e.control_ready`)."""
    from tests.helpers.e2e import control_ready

    return control_ready(hostname, using)


def wait_until(what: str, check: Callable[[], Any], timeout: float, interval: float = 0.1,
               procs: Iterable[subprocess.Popen] = (), log: Path | None = None) -> Any:
    """Poll ``check`` until truthy; fail early (with the log) if a child exits."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        for proc in procs:
            if proc.poll() is not None:
                text = log.read_text()[-5000:] if log is not None and log.exists() else ""
                raise AssertionError(f"while waiting for {what}: child exited rc={proc.returncode}\n{text}")
        if time.monotonic() > deadline:
            text = log.read_text()[-5000:] if log is not None and log.exists() else ""
            raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{text}")
        time.sleep(interval)


def rss_kib(pid: int) -> int:
    """Resident memory of ``pid`` in KiB (``VmRSS``)."""
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        fields_ = stat.rsplit(")", 1)[1].split()
        if int(fields_[1]) == pid and fields_[0] != "Z":
            found.append(int(entry))
    return found


def pool_children(worker_pid: int) -> list[int]:
    """The prefork pool processes of a runworker: children of its fork server."""
    return [child for server in children(worker_pid) for child in children(server)]


def terminate_backends() -> int:
    """``pg_terminate_backend`` every other session of the test database."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def publish(task: str, ledger: Path | str, ids: list[str], seconds: float = 0.0, batch: int = 100,
            pause: float = 0.0) -> int:
    """Publish ``ids`` as runs of ``task``, one transaction per batch; the retries needed.

    A batch the database dropped midway was rolled back whole and is sent
    again: never half-sent, never sent twice. A connection lost *at the
    commit* leaves the outcome unknown (the server may have committed
    before it went away, as a real restart can do): then the batch is sent
    again only if none of its ids is in the queue table or the ledger
    (:func:`batch_committed`), and the producer prints ``in doubt``.
    """
    from django.db import InterfaceError, OperationalError, transaction
    from kombu.exceptions import OperationalError as KombuOperationalError

    from tests.worker.proj.celery import app

    retries = 0
    for first in range(0, len(ids), batch):
        chunk = ids[first:first + batch]
        while True:
            try:
                with transaction.atomic():
                    for task_id in chunk:
                        app.send_task(task, (str(ledger), seconds), task_id=task_id)
                break
            except (OperationalError, InterfaceError, KombuOperationalError) as exc:
                # kombu re-raises the database's connection errors as its own.
                retries += 1
                print(f"batch at {first} failed ({exc!r})", file=sys.stderr, flush=True)
                connection.close()
                time.sleep(0.2)
                if batch_committed(chunk, Path(ledger)):
                    print(f"in doubt: batch at {first} had committed; not sent again", file=sys.stderr, flush=True)
                    break
                print(f"batch at {first}: publishing it again", file=sys.stderr, flush=True)
        if pause:
            time.sleep(pause)
    return retries


def batch_committed(chunk: list[str], ledger: Path, timeout: float = 300.0) -> bool:
    """Whether a batch whose commit failed was committed after all (waits for the database).

    Its ids are in the queue table (waiting, leased, running, dead) or, once
    run and deleted, in the ledger: a task writes its ledger line before its
    row is deleted, so reading the table first and the ledger second misses
    none.
    """
    from django.db import InterfaceError, OperationalError

    from kombu_transport_django.models import Message

    deadline = time.monotonic() + timeout
    while True:
        try:
            in_table = Message.objects.filter(task_id__in=chunk).exists()
            break
        except (OperationalError, InterfaceError):
            connection.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)  # the database is still down
    return in_table or bool(set(chunk) & set(ledger_counts(ledger)))


def tokens_of(pid: int) -> list[str]:
    """The consumer tokens (lease owners) of the worker process ``pid``."""
    from kombu_transport_django.models import Consumer

    return list(Consumer.objects.filter(pid=pid).values_list("token", flat=True))


def held_by(tokens: list[str]) -> int:
    """Messages leased to ``tokens`` right now."""
    from kombu_transport_django.models import Message

    return Message.objects.filter(lease_owner__in=tokens, status=Message.Status.LEASED).count()


def seconds_until(check: Callable[[], Any], timeout: float, interval: float = 0.1,
                  procs: Iterable[subprocess.Popen] = ()) -> float:
    """How long until ``check()`` is truthy (a generous ``timeout`` guards hangs; a child exiting fails it)."""
    started = time.monotonic()
    wait_until("recovery", check, timeout, interval=interval, procs=procs)
    return time.monotonic() - started


def next_completion(ids: list[str], ledger: Path, timeout: float, procs: Iterable[subprocess.Popen] = ()) -> float:
    """Seconds until one more of ``ids`` has run than now: work resumed (fails early if one of ``procs`` exits)."""
    now = executed(ids, ledger)
    return seconds_until(lambda: executed(ids, ledger) > now, timeout, procs=procs)


def busy_pids(ledger: Path) -> set[int]:
    """Processes running a task right now: started (``.starts``), not yet recorded."""
    starts = Path(str(ledger) + ".starts")
    if not starts.exists():
        return set()
    running: dict[int, set[str]] = {}
    for line in starts.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2:
            running.setdefault(int(parts[1]), set()).add(parts[0])
    text = ledger.read_text() if ledger.exists() else ""
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2:
            running.get(int(parts[1]), set()).discard(parts[0])
    return {pid for pid, ids in running.items() if ids}
