"""The chord body runs exactly once when header tasks finish at the same instant on different workers."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from django.db import connection, connections

from celery_compat import Celery, chord
from celery_compat.context import Context
from celery_compat.models import ChordCounter
from celery_compat.testing import start_worker
from tests.canvas.tasks import add, meet, record, tsum

pytestmark = pytest.mark.django_db(transaction=True)


def test_two_workers_finish_header_tasks_together_body_once(app: Celery, tmp_path: Path) -> None:
    # One message reserved per worker: each header task goes to its own worker.
    app.conf.worker_prefetch_multiplier = 1
    rounds = 5
    with start_worker(app, perform_ping_check=False, hostname="w1@canvas"), \
            start_worker(app, perform_ping_check=False, hostname="w2@canvas"):
        for i in range(rounds):
            base = tmp_path / f"meet{i}"
            r = chord([meet.s(str(base), 2, "a"), meet.s(str(base), 2, "b")],
                      record.s(str(tmp_path / f"body{i}"))).delay()
            assert r.get(timeout=30) == ["a", "b"]
    for i in range(rounds):
        assert (tmp_path / f"body{i}").read_text().splitlines() == ["['a', 'b']"]
    assert not ChordCounter.objects.exists()


@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_concurrent_decrements_trigger_the_body_once(app: Celery, monkeypatch: pytest.MonkeyPatch) -> None:
    """Many header parts return at once (PostgreSQL, one connection per thread): exactly one trigger."""
    n = 12
    header = chord([add.s(i, i) for i in range(n)], tsum.s())
    body_result = header.freeze()
    backend = app.backend
    backend.apply_chord(body_result.parent, header.body)
    triggered: list[str] = []
    monkeypatch.setattr(backend, "trigger_chord_body", lambda callback, group: triggered.append(group.id))
    barrier = threading.Barrier(n)
    errors: list[BaseException] = []

    def part(i: int) -> None:
        try:
            task = header.tasks[i]
            request = Context(id=task.id, group=body_result.parent.id, chord=task.options["chord"])
            barrier.wait()
            backend.mark_as_done(task.id, 2 * i, request=request)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=part, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert triggered == [body_result.parent.id]
    assert not ChordCounter.objects.exists()


_ = connection
