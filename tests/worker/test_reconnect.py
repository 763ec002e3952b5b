"""``runworker`` rides out a database that drops its connections (PostgreSQL, MariaDB)."""

from __future__ import annotations

import time

import pytest
from django.db import connection

from tests.helpers.e2e import wait_until
from tests.helpers.sessions import terminate_other_sessions
from tests.worker.conftest import StartWorker
from tests.worker.proj.tasks import add, count_results

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.mark.skipif(connection.vendor not in ("postgresql", "mysql"),
                    reason="needs a server whose sessions can be killed")
@pytest.mark.parametrize("pool", ["solo", "prefork"])
def test_worker_reconnects_after_its_database_sessions_are_killed(runworker: StartWorker, pool: str) -> None:
    worker = runworker("-P", pool, "-c", "1")
    assert add.delay(1, 1).get(timeout=20) == 2

    assert terminate_other_sessions() >= 1

    # No task fails for it: a kept connection is checked before reuse.
    assert add.delay(2, 2).get(timeout=30) == 4, worker.output()
    wait_until("a second task", lambda: add.delay(3, 3).get(timeout=30) == 6, 30)
    assert worker.proc.poll() is None


@pytest.mark.skipif(connection.vendor not in ("postgresql", "mysql"),
                    reason="needs a server whose sessions can be killed")
def test_a_task_querying_after_the_restart_gets_a_working_connection(runworker: StartWorker) -> None:
    # The task's own queries (not only the worker's) run on a replaced connection.
    worker = runworker("-P", "prefork", "-c", "1")
    assert count_results.delay().get(timeout=20) >= 0
    time.sleep(1.5)  # past CHECK_AFTER_IDLE: the child's connection is checked before reuse
    assert terminate_other_sessions() >= 1
    assert count_results.delay().get(timeout=30) >= 1, worker.output()
