"""``runworker`` rides out a database that drops its connections (PostgreSQL)."""

from __future__ import annotations

import pytest
from django.db import connection

from tests.helpers.e2e import wait_until
from tests.worker.conftest import StartWorker
from tests.worker.proj.tasks import add

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def terminate_other_sessions() -> int:
    """What a database restart does to the worker: every session of it is killed."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs pg_terminate_backend")
@pytest.mark.parametrize("pool", ["solo", "prefork"])
def test_worker_reconnects_after_its_database_sessions_are_killed(runworker: StartWorker, pool: str) -> None:
    worker = runworker("-P", pool, "-c", "1")
    assert add.delay(1, 1).get(timeout=20) == 2

    assert terminate_other_sessions() >= 1

    assert add.delay(2, 2).get(timeout=30) == 4, worker.output()
    wait_until("a second task", lambda: add.delay(3, 3).get(timeout=30) == 6, 30)
    assert worker.proc.poll() is None
