"""``manage.py celery_compat status``: counts read from the tables while a real worker runs."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import timezone

from celery_compat import Celery
from celery_compat.models import TaskResult
from kombu_transport_django.models import Consumer, Message
from tests.worker.conftest import StartWorker, wait_until
from tests.worker.proj.tasks import add, fail, late_and_requeued, rejected

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("celery_compat", *args, stdout=out)
    return out.getvalue()


def status_json() -> dict:
    return json.loads(run("status", "--json"))


def test_status_reports_queues_workers_and_rates(runworker: StartWorker, app: Celery, tmp_path: Path) -> None:
    worker = runworker("-P", "threads", "-c", "2", "--prefetch-multiplier", "1")
    # Consumer rows appear with the first heartbeat (heartbeat_interval=1).
    wait_until("the worker's heartbeat rows", lambda: Consumer.objects.filter(queues__endswith=".celery.pidbox").exists(),
               30, procs=[worker.proc], log=worker.log)
    # Finished: three successes and a failure, for the rates.
    for result in [add.delay(1, 1), add.delay(2, 2), add.delay(3, 3)]:
        assert result.get(timeout=30) in (2, 4, 6)
    failed = fail.delay()
    wait_until("the failure stored", lambda: TaskResult.objects.filter(task_id=failed.id, status="FAILURE").exists(),
               30, procs=[worker.proc], log=worker.log)
    # Dead: rejected without requeue, kept with its reason.
    rejected.delay(False)
    wait_until("a dead message", lambda: Message.objects.dead().exists(), 30, procs=[worker.proc], log=worker.log)
    # Leased: two long acks_late tasks hold both threads. An early-acked
    # task's row stays running until its run has ended, a moment after its
    # result is stored: wait for those to be gone too, as status counts them.
    marks = tmp_path / "marks"
    for _ in range(2):
        late_and_requeued.delay(str(marks), 60)
    wait_until("both long tasks leased, no earlier run still in flight",
               lambda: Message.objects.leased().count() == 2
               and not Message.objects.running().exists(),
               30, procs=[worker.proc], log=worker.log)
    # Scheduled: an ETA an hour away. Ready: a queue nobody consumes.
    add.apply_async((1, 2), countdown=3600)
    for n in range(3):
        add.apply_async((n, n), queue="nobody")
    Message.objects.filter(queue="nobody").update(available_at=timezone.now() - dt.timedelta(minutes=5))

    data = status_json()

    queues = {q["name"]: q for q in data["queues"]}
    assert not any(name.endswith(".pidbox") for name in queues), queues  # control queues hidden
    assert queues["celery"]["leased"] == 2
    assert queues["celery"]["scheduled"] == 1
    assert queues["celery"]["dead"] == 1
    assert queues["celery"]["ready"] == 0
    assert queues["nobody"]["ready"] == 3
    assert 5 * 60 <= queues["nobody"]["oldest_waiting"] < 60 * 60
    assert queues["celery"]["oldest_waiting"] is None

    [row] = [w for w in data["workers"] if w["node"] == worker.hostname]
    assert row["pid"] == worker.pid
    assert row["queues"] == ["celery"]
    assert row["leased"] == 2
    assert row["health"] == "ok"
    assert row["heartbeat_age"] < 30
    # From runworker's own row (refreshed every few seconds): both threads
    # busy with the acks_late tasks, the 5 earlier ones processed.
    assert (row["pool"], row["concurrency"]) == ("threads", 2)

    def registry() -> dict | None:
        [w] = status_json()["workers"]
        return w if w["running"] == 2 and w["processed"] >= 5 else None

    wait_until("the worker's own row to show its tasks", registry, 30, procs=[worker.proc], log=worker.log)

    rates = {r["minutes"]: r for r in data["rates"]}
    # 3 successes and the failure; the rejected task is stored as a FAILURE
    # too (Celery 5.7), the long ones are not finished.
    finished = TaskResult.objects.filter(status__in=["SUCCESS", "FAILURE", "REVOKED"])
    assert finished.count() >= 4
    assert rates[5]["finished"] == rates[60]["finished"] == finished.count()
    assert rates[5]["failed"] == finished.filter(status="FAILURE").count() >= 1
    assert rates[5]["per_minute"] == pytest.approx(finished.count() / 5)

    text = run("status")
    assert worker.hostname in text and "threads×2" in text
    assert "oldest waiting" in text and "last heartbeat" in text and "per minute" in text
    line = next(ln for ln in text.splitlines() if ln.startswith("nobody"))
    assert line.split()[1:5] == ["3", "0", "0", "0"]

    # Results older than the windows do not count.
    TaskResult.objects.update(date_done=timezone.now() - dt.timedelta(hours=2))
    assert {r["minutes"]: r["finished"] for r in status_json()["rates"]} == {5: 0, 60: 0}


def test_status_without_workers_and_all_queues(app: Celery) -> None:
    add.apply_async((1, 1), queue="q1")
    text = run("status")
    assert "workers: none" in text
    data = json.loads(run("status", "--json", "--all-queues"))
    assert {q["name"] for q in data["queues"]} >= {"celery", "q1"}


def test_watch_refreshes_in_plain_text(app: Celery) -> None:
    add.delay(1, 1)
    text = run("status", "--watch", "--plain", "--interval", "0.05", "--iterations", "3")
    assert text.count("status at ") == 3
    assert all(block.count("celery ") >= 1 for block in text.split("status at ")[1:])


def test_watch_rejects_a_bad_interval(app: Celery) -> None:
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="--interval"):
        run("status", "--watch", "--interval", "0")


def test_rich_rendering(app: Celery) -> None:
    """What --watch draws in a terminal: the same numbers as rich tables."""
    from rich.console import Console

    from celery_compat.cli import status

    add.apply_async((1, 1), queue="q1")
    console = Console(file=io.StringIO(), width=150, record=True)
    console.print(status.render_rich(status.collect(app)))
    text = console.export_text()
    assert "queues at" in text and "workers" in text and "finished tasks" in text
    assert next(line for line in text.splitlines() if " q1 " in line).split("│")[2].strip() == "1"


def test_no_rates_without_the_result_tables(app: Celery) -> None:
    from celery_compat.cli import status

    other = Celery("no-results", set_as_current=False)
    other.conf.result_backend = "disabled"
    snapshot = status.collect(other)
    assert snapshot.rates is None
    assert "rates: results are not in celery_compat's tables (result_backend='disabled')" in status.render_text(snapshot)
    assert status.collect(app).rates is not None  # django-db, the default
