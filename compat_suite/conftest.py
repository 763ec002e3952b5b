"""The ``impl`` fixture: each scenario runs once per implementation.

Run with ``python -m pytest compat_suite`` (``pytest.ini`` collects only
``tests/``). The workers live for the whole session, on one test database
(``tests.settings``; ``DATABASE_URL`` picks the vendor).
"""

from __future__ import annotations

import time
import warnings
from typing import Any, Iterator

import pytest

from compat_suite.parity import (  # noqa: F401  the parity table plugin's hooks
    pytest_runtest_makereport,
    pytest_sessionfinish,
    pytest_terminal_summary,
)
from compat_suite.runtimes import IMPLEMENTATIONS, RUNTIMES

_started: dict[str, Any] = {}


@pytest.fixture(scope="session")
def django_db_setup(django_test_environment: Any, django_db_blocker: Any) -> Iterator[None]:
    """The test database, created for the session.

    pytest-django only creates databases that ``django_db`` markers ask
    for; the scenarios have none (the workers outlive the tests, so no
    per-test transaction or flush), hence this override.
    """
    from django.test.utils import setup_databases, teardown_databases

    with django_db_blocker.unblock():
        config = setup_databases(verbosity=0, interactive=False, aliases={"default"})
    yield
    with django_db_blocker.unblock():
        _end_other_sessions()
        teardown_databases(config, verbosity=0)


def _end_other_sessions() -> None:
    """End the test database's other sessions before it is dropped.

    Real Celery's worker threads (``celery_django``, the wire scenarios) use
    Django connections through the ``django://`` transport and never close
    them: PostgreSQL refuses to drop a database in use, MariaDB waits.
    """
    from django.db import connection

    name = connection.settings_dict["NAME"]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                           "WHERE datname = %s AND pid <> pg_backend_pid()", [name])
        elif connection.vendor == "mysql":
            cursor.execute("SELECT id FROM information_schema.processlist "
                           "WHERE db = %s AND id <> CONNECTION_ID()", [name])
            for (pid,) in cursor.fetchall():
                try:
                    cursor.execute(f"KILL {int(pid)}")
                except Exception:  # already gone
                    pass


@pytest.fixture(scope="session")
def _database(django_db_setup: Any, django_db_blocker: Any) -> Iterator[None]:
    """The test database stays open for the session: the workers outlive tests."""
    with django_db_blocker.unblock():
        yield


@pytest.fixture(scope="session")
def _runtimes(_database: None) -> Iterator[dict[str, Any]]:
    yield _started
    for runtime in reversed(list(_started.values())):
        runtime.stop()
    _started.clear()
    _no_heartbeat_left()


def _no_heartbeat_left(timeout: float = 10.0) -> None:
    """Every ``django://`` connection of this process was closed once the runtimes stopped.

    One left open keeps its heartbeat thread, which beats into the test
    database after it is dropped: noise at the session's end, and a run that
    fails after all its tests passed if such a thread then raises. Real
    Celery's ``app.close()`` left them open (``runtimes.close_app``).
    """
    from kombu_transport_django.leases import Heartbeat

    deadline = time.monotonic() + timeout
    while True:
        left = Heartbeat.threads()
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert not left, f"{len(left)} django:// connection(s) still open (heartbeating) after every runtime stopped"


def pytest_configure(config: pytest.Config) -> None:
    # Real Celery's Redis result backend is per thread: the sockets of a
    # stopped worker's threads are closed by the garbage collector, in
    # whichever scenario runs then. Not a behaviour of either implementation.
    config.addinivalue_line("filterwarnings", "ignore:unclosed <socket:ResourceWarning")
    # Their Django connections (through django://) are ended by
    # _end_other_sessions before the test database is dropped.
    config.addinivalue_line("filterwarnings", "ignore:<psycopg.Connection object .* was deleted while still open:ResourceWarning")
    # The same for the collector running outside any test (session end).
    warnings.filterwarnings("ignore", message="unclosed <socket", category=ResourceWarning)
    warnings.filterwarnings("ignore", message="<psycopg.Connection object .* was deleted while still open",
                            category=ResourceWarning)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the scenarios one implementation after the other (then the wire ones).

    Real Celery's threads pool runs a task on ``current_app`` (the last
    started worker's app): two real Celery workers in one process would run
    each other's tasks. So ``celery`` and ``celery_django`` never run at the
    same time: all of one, then all of the other.
    """
    def order(item: pytest.Item) -> int:
        callspec = getattr(item, "callspec", None)
        name = callspec.params.get("impl") if callspec else None
        return IMPLEMENTATIONS.index(name) if name in IMPLEMENTATIONS else len(IMPLEMENTATIONS)

    items.sort(key=order)


#: runtimes running real Celery's worker: at most one at a time
REAL_CELERY = {"celery", "celery_django"}


@pytest.fixture(params=IMPLEMENTATIONS)
def impl(request: pytest.FixtureRequest, _runtimes: dict[str, Any]) -> Iterator[Any]:
    """The runtime of one implementation, its worker running (started on first use)."""
    name = request.param
    if name not in _runtimes:
        if name in REAL_CELERY:
            for other in REAL_CELERY & set(_runtimes):
                _runtimes.pop(other).stop()
        runtime = RUNTIMES[name]()
        runtime.start()
        _runtimes[name] = runtime
    runtime = _runtimes[name]
    runtime.node = request.node
    yield runtime
    runtime.node = None
