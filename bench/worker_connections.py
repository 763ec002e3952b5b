"""Tasks per second of a worker draining ``add`` tasks, by ``CONN_MAX_AGE``.

Measures what the worker's connection handling costs: with Django's
default ``CONN_MAX_AGE=0`` a worker that closed its connections after every
task (as Celery's Django fix-up does) would reconnect once per task.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test TEST_DB_SUFFIX=bench \\
        .venv/bin/python bench/worker_connections.py --tasks 500 --conn-max-age 0 --pool solo

Creates (and drops) its own test database, publishes ``--tasks`` tasks in one
transaction, then times ``testing.drain``-style runs of a worker until the
queue is empty. Prints one line: settings, tasks, seconds, tasks/s.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.worker.proj.settings")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=300)
    parser.add_argument("--conn-max-age", default="0", help="seconds, or 'none' for persistent connections")
    parser.add_argument("--pool", default="solo", choices=("solo", "threads"))
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3, help="runs; the best is reported")
    args = parser.parse_args()

    from django.conf import settings

    max_age = None if args.conn_max_age.lower() == "none" else int(args.conn_max_age)
    settings.DATABASES["default"]["CONN_MAX_AGE"] = max_age

    import django

    django.setup()
    from django.db import connection, transaction
    from django.test.utils import setup_databases, teardown_databases

    from celery_compat import Celery
    from celery_compat.worker import WorkController

    config = setup_databases(verbosity=0, interactive=False, aliases={"default"})
    try:
        import tests.worker.proj.tasks as tasks

        app = Celery("bench")
        app.config_from_object("django.conf:settings", namespace="CELERY")
        app.conf.worker_hijack_root_logger = False
        app.finalize()
        best = None
        for _ in range(args.repeat):
            with transaction.atomic():
                for n in range(args.tasks):
                    tasks.add.delay(n, n)
            connection.close()  # the worker starts as a fresh process would
            worker = WorkController(
                app, pool=args.pool, concurrency=args.concurrency, until_empty=True,
                install_signal_handlers=False, enable_remote_control=False, deadline=600,
                registry=False,
            )
            started = time.perf_counter()
            worker.start()
            elapsed = time.perf_counter() - started
            assert not worker.timed_out, "the worker did not drain the queue in 600 s"
            best = elapsed if best is None else min(best, elapsed)
        from celery_compat.models import TaskResult

        stored = TaskResult.objects.filter(status="SUCCESS").count()
        assert stored == args.tasks * args.repeat, f"{stored} results stored, expected {args.tasks * args.repeat}"
        vendor = connection.vendor
        print(
            f"{vendor} CONN_MAX_AGE={max_age} pool={args.pool}"
            f"{'' if args.pool == 'solo' else f' -c {args.concurrency}'} tasks={args.tasks} "
            f"best of {args.repeat}: {best:.2f}s = {args.tasks / best:.0f} tasks/s"
        )
    finally:
        connection.close()
        teardown_databases(config, verbosity=0)


if __name__ == "__main__":
    main()
