#!/usr/bin/env python
"""celery_compat's worker, with beat, on SQLite only: a realistic workload in about 20 s.

Run it from the repository root:

    python3 dev.py demo

1. Resets example/var/ and migrates a fresh SQLite database: the shop's
   tables, the queue tables (django://) and the result/schedule tables.
2. Starts ``python manage.py runworker -B`` as a subprocess: celery_compat's
   worker with the periodic-task scheduler. Its broker, its result store and
   its schedule are that database file.
3. Sends a workload: receipts enqueued in their order's own transaction,
   thumbnails, a chain, a group, a chord, a slow report, a task that retries,
   one with an ETA, one revoked before it is due, and one whose transaction
   rolls back (so it is never sent); meanwhile beat fires a periodic task.
4. Shows their states live (a progress bar and a table of states), prints a
   summary with timings and ``manage.py celery_compat status``, stops the
   worker with SIGTERM (a warm shutdown), and exits 0 only if everything
   ended the way it should.
"""

from __future__ import annotations

import io
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

EXAMPLE_DIR = Path(__file__).resolve().parent
ROOT = EXAMPLE_DIR.parent
# `proj` and `shop` live in example/, celery_compat in the repository root;
# the script may be started from anywhere.
for _path in (str(ROOT), str(EXAMPLE_DIR)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

try:
    from rich.console import Console, Group
    from rich.live import Live
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table
except ImportError as exc:
    sys.exit(f"{exc}: run the demo with `python3 dev.py demo` from the repository root.")

import django  # noqa: E402

from proj import celery_app as app  # noqa: E402  (sets DJANGO_SETTINGS_MODULE)

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import transaction  # noqa: E402

from celery_compat import chain, chord, group  # noqa: E402
from celery_compat.models import TaskResult  # noqa: E402
from celery_compat.result import AsyncResult  # noqa: E402
from kombu_transport_django.models import Message  # noqa: E402
from shop.models import Order  # noqa: E402
from shop.tasks import (  # noqa: E402
    build_sales_report,
    charge_card,
    make_gallery,
    pack_order,
    refresh_sales_stats,
    reserve_stock,
    resize_image,
    send_receipt,
    send_reminder,
    ship_order,
)

console = Console()
if not console.is_terminal and "COLUMNS" not in os.environ:
    console.width = 120  # logs and pipes: wide enough for the tables
WORKER_LOG = Path(settings.VAR_DIR) / "worker.log"
WORKER_CMD = ["manage.py", "runworker", "-B", "-P", "threads", "-c", "4", "-l", "INFO", "-n", "demo@%h"]
WORKLOAD_TIMEOUT = 45  # seconds; the workload needs about 6
PERIODIC_RUNS = 2  # beat fires refresh_sales_stats every 2 s: wait for this many runs
PERIODIC_ENTRY = "refresh-sales-stats"
FINAL_STATES = {"SUCCESS", "FAILURE", "REVOKED"}
STYLE = {"PENDING": "dim", "STARTED": "cyan", "RETRY": "yellow", "SUCCESS": "green",
         "FAILURE": "bold red", "REVOKED": "magenta"}


class CardDeclined(Exception):
    """Raised inside a transaction to roll it back."""


class DemoError(Exception):
    """The demo cannot go on (the worker did not start)."""


@dataclass
class Job:
    """One sent task and the states the demo has seen it in."""

    scenario: str  # its row in the live table
    task_id: str
    sent_at: datetime
    expect: str = "SUCCESS"
    seen: list[str] = field(default_factory=list)
    done_at: datetime | None = None

    @property
    def state(self) -> str:
        return self.seen[-1] if self.seen else "PENDING"

    @property
    def result(self) -> AsyncResult:
        return AsyncResult(self.task_id, app=app)

    def update(self, state: str, done_at: datetime | None) -> None:
        if not self.seen or self.seen[-1] != state:
            self.seen.append(state)
        if state in FINAL_STATES:
            self.done_at = done_at

    def message_waiting(self) -> bool:
        """Whether this task's message is still in the queue table."""
        return Message.objects.filter(task_id=self.task_id).exists()

    def finished(self) -> bool:
        if self.expect == "REVOKED":
            # REVOKED is stored as soon as revoke() is called; wait until the
            # message came due and the worker discarded it unrun.
            return self.state == "REVOKED" and not self.message_waiting()
        return self.state in FINAL_STATES

    def latency(self) -> float | None:
        """Seconds from send to the worker storing SUCCESS."""
        if self.state != "SUCCESS" or self.done_at is None:
            return None
        return (self.done_at - self.sent_at).total_seconds()


def shown(path: Path) -> str:
    """``path`` relative to the repository when inside it."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def now() -> datetime:
    return datetime.now(timezone.utc)


def poll(jobs: list[Job]) -> None:
    """One SELECT for every tracked task's state in the result table."""
    rows = TaskResult.objects.filter(task_id__in=[job.task_id for job in jobs])
    found = {task_id: (status, done) for task_id, status, done in rows.values_list("task_id", "status", "date_done")}
    for job in jobs:
        if job.task_id in found:
            job.update(*found[job.task_id])


def periodic_runs() -> list[TaskResult]:
    """The periodic task's runs, as the result table recorded them."""
    return list(TaskResult.objects.filter(task_name=refresh_sales_stats.name).order_by("date_done"))


# -- 1. a fresh database ---------------------------------------------------------

def reset_database() -> None:
    db = Path(settings.DATABASES["default"]["NAME"])
    for path in (db, Path(f"{db}-wal"), Path(f"{db}-shm"), WORKER_LOG):
        path.unlink(missing_ok=True)
    shutil.rmtree(Path(settings.VAR_DIR) / "results", ignore_errors=True)  # left by older demos
    # The shop's tables, the django_kombu_* queue tables, celery_compat's.
    call_command("migrate", verbosity=0)


# -- 2. the worker -----------------------------------------------------------------

def start_worker() -> subprocess.Popen:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(EXAMPLE_DIR), str(ROOT), env.get("PYTHONPATH")]))
    console.print(f"[bold]starting worker:[/] python {' '.join(WORKER_CMD)}  [dim](log: {shown(WORKER_LOG)})[/]")
    # Same process group as this script on purpose: a Ctrl-C in the terminal
    # reaches the worker too, so it shuts down even if this script is killed.
    with open(WORKER_LOG, "wb") as log:
        return subprocess.Popen([sys.executable, *WORKER_CMD], cwd=EXAMPLE_DIR, env=env,
                                stdout=log, stderr=subprocess.STDOUT)


def wait_for_worker(worker: subprocess.Popen, timeout: float = 30) -> float:
    # Remote control over django://: ping is a broadcast to the worker's
    # pidbox queue, and the reply comes back through a reply queue, all of
    # them rows in the database.
    started = time.monotonic()
    with console.status("waiting for the worker to answer ping..."):
        while True:
            if worker.poll() is not None:
                raise DemoError(f"the worker exited with code {worker.returncode} before answering ping")
            replies = app.control.inspect(timeout=1).ping()
            if replies:
                took = time.monotonic() - started
                console.print(f"[green]worker ready[/] after {took:.1f} s: {', '.join(replies)} answered ping")
                return took
            if time.monotonic() - started > timeout:
                raise DemoError(f"the worker did not answer ping within {timeout:.0f} s")


def stop_worker(worker: subprocess.Popen) -> bool:
    """SIGTERM (a warm shutdown), then kill if it hangs; True if it exited cleanly."""
    if worker.poll() is not None:
        return worker.returncode == 0
    stopping = time.monotonic()
    worker.terminate()
    try:
        code = worker.wait(timeout=15)
        console.print(f"worker stopped in {time.monotonic() - stopping:.1f} s (exit code {code})")
        return code == 0
    except subprocess.TimeoutExpired:
        console.print("[red]worker did not stop within 15 s of SIGTERM; killing it[/]")
        worker.kill()
        worker.wait()
        return False


# -- 3. the workload ----------------------------------------------------------------

RECEIPTS = "send_receipt, in the order's transaction"
THUMBS = "resize_image"
CHAIN = "chain(reserve_stock | pack_order | ship_order)"
GROUP = "group(resize_image × 4)"
CHORD = "chord(resize_image × 4, make_gallery)"
REPORT = "build_sales_report (slow)"
RETRY = "charge_card (fails once, retries)"
ETA = "send_reminder, countdown=3"
REVOKED = "send_reminder, countdown=5, revoked"
PERIODIC = "refresh_sales_stats (beat, every 2 s)"
ROLLBACK = "send_receipt, transaction rolled back"
EXPECTED = {RECEIPTS: "SUCCESS", THUMBS: "SUCCESS", CHAIN: "SUCCESS, in order", GROUP: "SUCCESS",
            CHORD: "SUCCESS, body last", REPORT: "SUCCESS", RETRY: "SUCCESS after 1 retry",
            ETA: "SUCCESS after 3 s", REVOKED: "REVOKED, never runs", PERIODIC: f"≥ {PERIODIC_RUNS} runs",
            ROLLBACK: "never sent"}
CUSTOMERS = [("Ada", "42.00"), ("Grace", "17.50"), ("Linus", "99.90"),
             ("Margaret", "8.25"), ("Ken", "63.10"), ("Barbara", "24.00")]


def send_workload(jobs: list[Job]) -> dict:
    """Send every task; returns the ids the checks need."""
    ids: dict = {"orders": []}

    def track(scenario: str, result: AsyncResult, expect: str = "SUCCESS", sent_at: datetime | None = None) -> Job:
        job = Job(scenario, result.id, sent_at or now(), expect)
        jobs.append(job)
        return job

    # The order row and its receipt's message are inserted in one transaction:
    # the worker sees both or neither (delay() simply joins the transaction).
    for customer, total in CUSTOMERS:
        with transaction.atomic():
            order = Order.objects.create(customer=customer, total=total)
            track(RECEIPTS, send_receipt.delay(order.pk))
        ids["orders"].append(order.pk)

    ids["charged"] = ids["orders"][0]
    ids["retry"] = track(RETRY, charge_card.delay(ids["charged"]))

    # A chain: each step's return value is the next one's argument.
    sent_at = now()
    ids["shipped"] = ids["orders"][2]
    last = chain(reserve_stock.s(ids["shipped"]), pack_order.s(), ship_order.s()).apply_async()
    steps = [last.parent.parent, last.parent, last]
    ids["chain"] = [track(CHAIN, step, sent_at=sent_at) for step in steps]

    for n in range(1, 7):
        track(THUMBS, resize_image.delay(n))

    # A group is several messages sent together; each child is tracked.
    sent_at = now()
    for child in group(resize_image.s(n) for n in range(101, 105)).apply_async().children:
        track(GROUP, child, sent_at=sent_at)

    # A chord: the body runs once, when a counter row says every part is done.
    sent_at = now()
    body = chord(group(resize_image.s(n) for n in range(201, 205)), make_gallery.s()).apply_async()
    ids["chord_header"] = [track(CHORD, part, sent_at=sent_at) for part in body.parent.children]
    ids["chord_body"] = track(CHORD, body, sent_at=sent_at)

    track(REPORT, build_sales_report.delay())

    # The message is stored now but stays invisible until its ETA.
    ids["eta"] = track(ETA, send_reminder.apply_async((ids["orders"][1],), countdown=3))

    # The customer cancels before the reminder is due: revoke() is a row
    # every worker reads and a broadcast; the worker records REVOKED and,
    # when the message comes due, drops it unrun.
    cancelled = Order.objects.create(customer="Dennis", total="12.00")
    ids["cancelled"] = cancelled.pk
    revoked = track(REVOKED, send_reminder.apply_async((cancelled.pk,), countdown=5), "REVOKED")
    revoked.result.revoke()

    # The card is declined after the task was sent: the rollback takes the
    # order *and* the message with it, so the receipt is never sent.
    try:
        with transaction.atomic():
            ghost_order = Order.objects.create(customer="Mallory", total="1000.00")
            ids["ghost_order"] = ghost_order.pk
            ids["ghost"] = track(ROLLBACK, send_receipt.delay(ghost_order.pk), "never sent")
            raise CardDeclined()
    except CardDeclined:
        pass
    return ids


# -- 4. watching and checking --------------------------------------------------------

def state_counts(jobs: list[Job]) -> str:
    counts: dict[str, int] = {}
    for job in jobs:
        counts[job.state] = counts.get(job.state, 0) + 1
    return "  ".join(f"[{STYLE.get(s, '')}]{s} {n}[/]" for s, n in sorted(counts.items()))


def history(jobs: list[Job]) -> str:
    if len(jobs) == 1:  # the path one task took, e.g. through RETRY
        states = jobs[0].seen
    else:
        states = [s for s in STYLE if any(s in job.seen for job in jobs)]
    return " → ".join(f"[{STYLE.get(s, '')}]{s}[/]" for s in states)


def queue_caption() -> str:
    """What the queue table holds right now: the broker is just this table."""
    rows = Message.objects.filter(queue=app.conf.task_default_queue)
    ready, leased = rows.ready().count(), rows.leased().count()
    return (f"django_kombu_message rows in queue 'celery': {ready} ready (some not yet due), "
            f"{leased} leased to the worker")


def live_view(jobs: list[Job], runs: int, progress: Progress) -> Group:
    table = Table(title="tasks (states read from celery_compat_taskresult)", title_justify="left",
                  caption=queue_caption(), caption_justify="left")
    for column in ("scenario", "tasks", "now", "seen", "expected"):
        table.add_column(column, justify="right" if column == "tasks" else "left")
    for scenario, expected in EXPECTED.items():
        if scenario == PERIODIC:
            table.add_row(scenario, str(runs), f"[green]SUCCESS {runs}[/]" if runs else "[dim]waiting for beat[/]",
                          "", expected)
            continue
        rows = [job for job in jobs if job.scenario == scenario]
        now_ = state_counts(rows)
        if scenario == REVOKED and rows and rows[0].state == "REVOKED" and rows[0].message_waiting():
            now_ += " [dim](message held until due)[/]"
        table.add_row(scenario, str(len(rows)), now_, history(rows), expected)
    return Group(progress, table)


def watch(jobs: list[Job]) -> None:
    to_finish = [job for job in jobs if job.expect != "never sent"]
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=console)
    bar = progress.add_task("tasks finished", total=len(to_finish) + PERIODIC_RUNS)
    deadline = time.monotonic() + WORKLOAD_TIMEOUT
    with Live(live_view(jobs, 0, progress), console=console, refresh_per_second=10) as live:
        while True:
            poll(jobs)
            runs = len([r for r in periodic_runs() if r.status == "SUCCESS"])
            done = sum(job.finished() for job in to_finish)
            progress.update(bar, completed=done + min(runs, PERIODIC_RUNS))
            live.update(live_view(jobs, runs, progress))
            if (done == len(to_finish) and runs >= PERIODIC_RUNS) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    if not console.is_terminal:
        console.line()  # Live prints its last frame without a newline here


def summarize(jobs: list[Job], started: float, worker_ready: float, workload: float) -> None:
    by_state = Table(title="summary", title_justify="left")
    by_state.add_column("final state")
    by_state.add_column("tasks", justify="right")
    for state in sorted({job.state for job in jobs}):
        label = state + (" (rolled back: never sent)" if state == "PENDING" else "")
        by_state.add_row(f"[{STYLE.get(state, '')}]{label}[/]", str(sum(j.state == state for j in jobs)))
    runs = periodic_runs()
    by_state.add_row("[green]SUCCESS[/] (periodic, sent by beat)", str(len(runs)))

    latencies = sorted(filter(None, (job.latency() for job in jobs)))
    timings = Table(show_header=False, title="timings", title_justify="left")
    timings.add_row("wall time so far (migrate, worker start, workload)", f"{time.monotonic() - started:.1f} s")
    timings.add_row("worker start → answering ping", f"{worker_ready:.1f} s")
    timings.add_row("workload: first send → every task finished", f"{workload:.1f} s")
    if latencies:
        timings.add_row(f"median send → SUCCESS ({len(latencies)} tasks)", f"{statistics.median(latencies):.2f} s")
        timings.add_row("slowest send → SUCCESS", f"{latencies[-1]:.2f} s")
    gaps = [(b.date_done - a.date_done).total_seconds() for a, b in zip(runs, runs[1:])]
    if gaps:
        timings.add_row("periodic task: time between finished runs", ", ".join(f"{gap:.1f} s" for gap in gaps))
    console.print(by_state, timings)


def check(jobs: list[Job], ids: dict) -> list[tuple[bool, str]]:
    results = []

    normal = [job for job in jobs if job.expect == "SUCCESS"]
    bad = [job for job in normal if job.state != "SUCCESS"]
    detail = "; ".join(f"{job.scenario} {job.task_id}: {job.state}"
                       + (f" {job.result.result!r}" if job.state == "FAILURE" else "") for job in bad)
    results.append((not bad, f"{len(normal) - len(bad)}/{len(normal)} tasks SUCCESS" + (f" ({detail})" if bad else "")))

    unsent = Order.objects.filter(pk__in=ids["orders"], receipt_sent_at__isnull=True).count()
    results.append((unsent == 0, f"every order's receipt was sent ({unsent} missing)"))

    steps = ids["chain"]
    in_order = all(s.done_at and t.done_at and s.done_at <= t.done_at for s, t in zip(steps, steps[1:]))
    final = steps[-1].result.result if steps[-1].state == "SUCCESS" else None
    shipped = Order.objects.filter(pk=ids["shipped"], shipped_at__isnull=False).exists()
    results.append((in_order and shipped and final == f"order #{ids['shipped']} shipped",
                    f"chain: 3 steps in order ({in_order}), last returned {final!r}"))

    parts, body = ids["chord_header"], ids["chord_body"]
    gallery = body.result.result if body.state == "SUCCESS" else None
    body_last = body.done_at is not None and all(p.done_at and p.done_at <= body.done_at for p in parts)
    results.append((body_last and isinstance(gallery, dict) and gallery.get("photos") == 4,
                    f"chord: body ran once after its 4 parts ({body_last}), returned {gallery!r}"))

    job = ids["retry"]
    retries = job.result.result.get("retries") if job.state == "SUCCESS" else None
    paid = Order.objects.filter(pk=ids["charged"], paid_at__isnull=False).exists()
    results.append((retries == 1 and paid, f"charge_card: {job.state} after {retries} retr{'y' if retries == 1 else 'ies'}, "
                    f"order {'paid' if paid else 'not paid'} (seen: {' → '.join(job.seen)})"))

    job = ids["eta"]
    delay = job.latency()
    results.append((delay is not None and delay >= 3.0, f"countdown=3 task: {job.state}, done {delay or 0:.2f} s after send (≥ 3 s)"))

    job = next(j for j in jobs if j.expect == "REVOKED")
    reminded = Order.objects.filter(pk=ids["cancelled"], reminder_sent_at__isnull=False).exists()
    waiting = job.message_waiting()
    results.append((job.state == "REVOKED" and not reminded and not waiting,
                    f"revoked task: {job.state}, message {'STILL QUEUED' if waiting else 'dropped when due'}, "
                    f"body {'RAN' if reminded else 'never ran'}"))

    runs = [r for r in periodic_runs() if r.status == "SUCCESS"]
    named = all(r.periodic_task_name == PERIODIC_ENTRY for r in runs)
    results.append((len(runs) >= PERIODIC_RUNS and named,
                    f"beat: {PERIODIC_ENTRY!r} ran {len(runs)} times (≥ {PERIODIC_RUNS}), "
                    f"results name their schedule entry ({named})"))

    job = ids["ghost"]
    queued = Message.objects.filter(task_id=job.task_id).exists()
    order = Order.objects.filter(pk=ids["ghost_order"]).exists()
    results.append((job.state == "PENDING" and not queued and not order,
                    f"rolled-back task: no message ({'FOUND' if queued else 'none'}), no order "
                    f"({'FOUND' if order else 'none'}), no result ({job.state})"))
    return results


def show_status() -> None:
    """``python manage.py celery_compat status``, as a person would run it now."""
    out = io.StringIO()
    call_command("celery_compat", "status", stdout=out)
    console.rule("python manage.py celery_compat status")
    console.print(out.getvalue().rstrip(), markup=False, highlight=False)


def show_log_tail(lines: int = 25) -> None:
    if WORKER_LOG.exists():
        tail = WORKER_LOG.read_text(errors="replace").splitlines()[-lines:]
        if tail:
            console.rule(f"last lines of {shown(WORKER_LOG)}")
            console.print("\n".join(tail), markup=False, highlight=False)


def main() -> int:
    started = time.monotonic()
    console.rule("[bold]celery_compat demo: Celery's API, a worker and beat on the Django database (SQLite)")
    reset_database()
    console.print(f"[green]migrated[/] {shown(Path(settings.DATABASES['default']['NAME']))}")
    worker = start_worker()
    checks: list[tuple[bool, str]] = []
    try:
        worker_ready = wait_for_worker(worker)
        jobs: list[Job] = []
        first_sent = time.monotonic()
        ids = send_workload(jobs)
        console.print(f"[green]sent[/] {len(jobs)} tasks in {time.monotonic() - first_sent:.1f} s "
                      f"({len(jobs) - 1} to finish, 1 rolled back with its transaction); "
                      f"beat sends '{PERIODIC_ENTRY}' every 2 s")
        watch(jobs)
        summarize(jobs, started, worker_ready, time.monotonic() - first_sent)
        checks = check(jobs, ids)
        try:
            show_status()
        except Exception as exc:  # a broken status command fails the demo, after the other checks
            checks.append((False, f"manage.py celery_compat status failed: {exc!r}"))
    except KeyboardInterrupt:
        console.print("[yellow]interrupted: stopping the worker[/]")
        return 130  # after the finally: below
    except DemoError as exc:
        checks = [(False, str(exc))]
    finally:
        clean = stop_worker(worker)
    # Only now: the worker has acked and released everything it held. Beat
    # may have sent one more periodic run just before the shutdown: that one
    # waits, ready, for the next worker; nothing else may be left.
    left = Message.objects.filter(queue=app.conf.task_default_queue)
    others = left.exclude(task_name=refresh_sales_stats.name, status=Message.Status.READY).count()
    checks.append((others == 0, f"queue table after shutdown: {others} rows left besides "
                                f"{left.count() - others} periodic run(s) waiting for the next worker"))
    checks.append((clean, f"worker stopped cleanly on SIGTERM (exit code {worker.returncode})"))
    imported = sorted(name for name in sys.modules if name == "celery" or name.startswith("celery."))
    checks.append((not imported, "celery_compat did it all: the celery package was never imported"
                   + (f" (imported: {', '.join(imported[:3])})" if imported else "")))

    for ok, text in checks:
        console.print(f"[green]✓[/] {text}" if ok else f"[bold red]✗ {text}[/]")
    total = time.monotonic() - started
    if all(ok for ok, _ in checks):
        console.print(f"[bold green]all {len(checks)} checks passed[/] in {total:.1f} s")
        python = os.path.relpath(sys.executable, EXAMPLE_DIR)
        console.print(f"[dim]See the tables in the admin: cd example && {python} manage.py createsuperuser "
                      f"&& {python} manage.py runserver (the next demo run resets example/var/)[/]")
        return 0
    show_log_tail()
    console.print(f"[bold red]demo FAILED[/] ({sum(not ok for ok, _ in checks)} of {len(checks)} checks) in {total:.1f} s")
    return 1


if __name__ == "__main__":
    sys.exit(main())
