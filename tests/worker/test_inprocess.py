"""The worker in this process: ``runworker`` via call_command, the threads pool, start_worker."""

from __future__ import annotations

import logging
import os
import threading
import time
from io import StringIO
from pathlib import Path
from typing import Iterator

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from django.db import connection

from celery_compat import Celery, signals, states
from celery_compat.models import TaskResult
from celery_compat.testing import start_worker
from celery_compat.worker import WorkController, nodename
from kombu_transport_django.models import Message
from tests.worker.proj.tasks import add, sleep_then_mark

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def worker_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """INFO logs of the worker; removes the handlers runworker installs."""
    caplog.set_level(logging.INFO)
    yield caplog
    for logger in (logging.getLogger(), logging.getLogger("celery.task")):
        for handler in list(logger.handlers):
            if getattr(handler, "_runworker", False):
                logger.removeHandler(handler)
                handler.close()  # -f: a file handler
    logging.getLogger("celery.task").propagate = True


def test_runworker_until_empty_runs_tasks_and_logs_like_celery(app: Celery, worker_logs: pytest.LogCaptureFixture) -> None:
    result = add.delay(20, 22)

    call_command("runworker", "--until-empty", "-P", "solo", "-l", "INFO")

    assert result.get(timeout=1) == 42
    messages = [record.getMessage() for record in worker_logs.records]
    assert f"Task {add.name}[{result.id}] received" in messages
    succeeded = [m for m in messages if m.startswith(f"Task {add.name}[{result.id}] succeeded in ")]
    assert len(succeeded) == 1 and succeeded[0].endswith("s: 42")


def test_runworker_app_option_names_a_module_attribute(app: Celery, worker_logs: pytest.LogCaptureFixture) -> None:
    result = add.delay(1, 2)

    call_command("runworker", "-A", "tests.worker.proj.celery:app", "--until-empty", "-P", "solo")

    assert result.get(timeout=1) == 3


def test_threads_pool_runs_tasks_concurrently(app: Celery, tmp_path: Path) -> None:
    path = tmp_path / "marks"
    results = [sleep_then_mark.delay(0.5, str(path), n) for n in range(4)]
    worker = WorkController(app, pool="threads", concurrency=4, until_empty=True,
                            install_signal_handlers=False, enable_remote_control=False)

    started = time.monotonic()
    assert worker.start() == 0
    elapsed = time.monotonic() - started

    assert [r.get(timeout=1) for r in results] == [0, 1, 2, 3]
    assert elapsed < 1.8, f"4 tasks of 0.5s on 4 threads took {elapsed:.2f}s"
    assert sum(worker.state.total.values()) == 4
    assert not Message.objects.exists()


def test_start_worker_answers_ping_and_runs_tasks(app: Celery) -> None:
    with start_worker(app, pool="threads", concurrency=2) as worker:
        assert add.delay(2, 2).get(timeout=10) == 4
        replies = app.control.inspect(timeout=10, destination=[worker.hostname]).ping()
        assert replies == {worker.hostname: {"ok": "pong"}}
        stats = app.control.inspect(timeout=10, destination=[worker.hostname]).stats()
        assert stats[worker.hostname]["pool"]["max-concurrency"] == 2
        assert stats[worker.hostname]["total"] == {"celery.ping": 1, add.name: 1}
        registered = app.control.inspect(timeout=10, destination=[worker.hostname]).registered()
        assert add.name in registered[worker.hostname]
        queues = app.control.inspect(timeout=10, destination=[worker.hostname]).active_queues()
        assert [q["name"] for q in queues[worker.hostname]] == ["celery"]
    assert not worker.ready.is_set() or worker.stopping


def test_start_worker_revoke_reaches_the_worker_and_shows_in_inspect(app: Celery, tmp_path: Path) -> None:
    path = tmp_path / "ran"
    with start_worker(app, pool="threads", concurrency=1) as worker:
        inspect = app.control.inspect(timeout=10, destination=[worker.hostname])
        blocker = sleep_then_mark.delay(0.8, str(path), "blocker")
        queued = sleep_then_mark.delay(0, str(path), "queued")
        app.control.revoke(queued.id)
        active = inspect.active()[worker.hostname]
        assert [task["id"] for task in active] in ([blocker.id], [])
        assert queued.id in inspect.revoked()[worker.hostname]
        assert blocker.get(timeout=10) == "blocker"
        deadline = time.monotonic() + 5
        while queued.state != states.REVOKED and time.monotonic() < deadline:
            time.sleep(0.05)
    assert queued.state == states.REVOKED
    assert "queued" not in Path(path).read_text()


def test_nodename_expands_like_celery() -> None:
    assert nodename(None, "george.example.com") == "celery@george.example.com"
    assert nodename("w1@%h", "george.example.com") == "w1@george.example.com"
    assert nodename("w1@%n.%d", "george.example.com") == "w1@george.example.com"
    assert nodename("w1", "george.example.com") == "celery@w1"


@pytest.mark.slow
def test_start_worker_with_the_prefork_pool(app: Celery) -> None:
    from tests.worker.proj.tasks import pid

    with start_worker(app, pool="prefork", concurrency=2, perform_ping_check=False) as worker:
        pids = {pid.delay().get(timeout=10) for _ in range(4)}
        children = set(worker.pool.processes)
    assert pids <= children and os.getpid() not in pids


def test_prefork_children_keep_what_they_inherit_out_of_their_collections(app: Celery) -> None:
    """A child's collections would write to every inherited object and unshare its pages (memory)."""
    from tests.worker.proj.tasks import frozen_objects

    with start_worker(app, pool="prefork", concurrency=1, perform_ping_check=False):
        frozen = frozen_objects.delay().get(timeout=30)
    # The worker's own objects, modules included: tens of thousands.
    assert frozen > 10_000


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the start rides on the result write on PostgreSQL only")
def test_a_busy_prefork_child_starts_its_next_job_in_the_statement_storing_the_result_before_it(app: Celery) -> None:
    """One commit for both (celery_compat.nextstart): the rows share the id of the transaction that wrote them."""
    from tests.worker.proj.tasks import running_rows_xmin, sleep_for

    with start_worker(app, pool="prefork", concurrency=1, perform_ping_check=False):
        first = sleep_for.delay(0.5)  # the second waits in the busy child's pipe meanwhile
        second = running_rows_xmin.delay()
        assert first.get(timeout=10) == 0.5
        xmins = second.get(timeout=10)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT xmin::text::bigint FROM {TaskResult._meta.db_table} WHERE task_id = %s", [first.id])
        (first_result,) = cursor.fetchone()
    assert first_result in xmins


def test_the_next_job_of_a_child_that_died_after_storing_a_result_runs_again(app: Celery) -> None:
    """The next job's start mark made with that result (PostgreSQL) is undone: the job never ran."""
    from tests.worker.proj.tasks import exit_after_success

    with start_worker(app, pool="prefork", concurrency=1, perform_ping_check=False):
        first = exit_after_success.delay(0.5)  # the second waits in the busy child's pipe meanwhile
        second = add.delay(1, 2)
        assert second.get(timeout=20) == 3
        assert first.get(timeout=10) == 0.5  # stored before the child died: kept


@pytest.mark.slow
def test_prefork_children_use_the_database_although_other_threads_did_while_the_pool_started(app: Celery) -> None:
    """SQLite's per-process state copied into the fork server broke every child.

    A thread of ours writes while the fork server is forked: a fork made
    mid-write left the server and the children with the database locked for
    good. Then, before any child exists, that thread closes the process's
    last connection, so SQLite deletes the WAL index, and the worker makes a
    new one: a child that shared the copied connection's record kept reading
    the deleted index (an empty message table: each start refused).
    """
    from django.db import connection, transaction

    from kombu_transport_django.forking import database_work
    from tests.worker.proj.tasks import pid

    stop = threading.Event()

    def write_all_the_time() -> None:
        try:
            while not stop.is_set():
                with database_work(), transaction.atomic():
                    Message.objects.filter(queue="nowhere").update(queue="nowhere-else")
                    time.sleep(0.05)  # the write lock held
                time.sleep(0.001)
        finally:
            connection.close()

    writer = threading.Thread(target=write_all_the_time, daemon=True)

    def stop_writing(**kwargs: object) -> None:
        # Sent in the worker after its fork server is made, before the children.
        stop.set()
        writer.join()

    connection.close()  # the writer's is then the process's last one
    writer.start()
    time.sleep(0.2)
    signals.worker_before_create_process.connect(stop_writing, weak=False)
    try:
        with start_worker(app, pool="prefork", concurrency=2, perform_ping_check=False) as worker:
            signals.worker_before_create_process.disconnect(stop_writing)
            pids = {pid.delay().get(timeout=10) for _ in range(4)}
            children = set(worker.pool.processes)
    finally:
        signals.worker_before_create_process.disconnect(stop_writing)
        stop.set()
        writer.join()
    assert pids <= children


def test_runworker_queues_and_exclude_queues(app: Celery) -> None:
    in_q1 = add.apply_async((1, 1), queue="q1")
    in_q2 = add.apply_async((2, 2), queue="q2")
    default = add.delay(3, 3)

    call_command("runworker", "-Q", "q1,q2", "-X", "q2", "--until-empty", "-P", "solo")

    assert in_q1.get(timeout=1) == 2
    assert (in_q2.state, default.state) == (states.PENDING, states.PENDING)
    assert sorted(Message.objects.values_list("queue", flat=True)) == ["celery", "q2"]


def test_runworker_purge_erases_waiting_messages_before_starting(app: Celery) -> None:
    waiting = [add.delay(n, n) for n in range(2)]
    out = StringIO()

    call_command("runworker", "--purge", "--until-empty", "-P", "solo", stdout=out)

    assert out.getvalue() == "purge: Erased 2 messages from the queue.\n"  # Celery's words
    assert [r.state for r in waiting] == [states.PENDING] * 2
    assert not Message.objects.exists()
    out = StringIO()
    call_command("runworker", "--discard", "--until-empty", "-P", "solo", stdout=out)
    assert out.getvalue() == ""  # nothing to purge: Celery says nothing


def test_runworker_accepts_celerys_no_op_options(app: Celery) -> None:
    result = add.delay(1, 1)
    call_command("runworker", "-O", "fair", "--without-gossip", "--without-mingle", "--without-heartbeat",
                 "-E", "--until-empty", "-P", "solo")
    assert result.get(timeout=1) == 2


def test_runworker_logfile_and_loglevel(app: Celery, worker_logs: pytest.LogCaptureFixture,
                                       tmp_path: Path) -> None:
    logfile = tmp_path / "worker.log"
    result = add.delay(2, 3)

    call_command("runworker", "-f", str(logfile), "-l", "info", "--until-empty", "-P", "solo")

    assert result.get(timeout=1) == 5
    text = logfile.read_text()
    assert f"Task {add.name}[{result.id}] succeeded in " in text
    assert f"Task {add.name}[{result.id}] received" in text


@pytest.mark.parametrize(("args", "error"), [
    (("-l", "CHATTY"), "--loglevel 'CHATTY': use DEBUG, INFO, WARNING, ERROR, CRITICAL or FATAL"),
    (("-A", "no.such.module"), "-A no.such.module: cannot import module 'no.such.module'"),
    (("-A", "tests.worker.proj.tasks:add"), "is not a celery_compat Celery app"),
])
def test_runworker_bad_options_are_named(app: Celery, args: tuple[str, ...], error: str) -> None:
    with pytest.raises(CommandError) as raised:
        call_command("runworker", *args, "--until-empty", "-P", "solo")
    assert error in str(raised.value)

