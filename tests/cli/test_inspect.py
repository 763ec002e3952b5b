"""``manage.py celery_compat inspect``: Celery's ``inspect`` over the pidbox, against a real worker.

Asked of a ``runworker`` child here; tests/devtools/test_inspect_real_celery.py
asks a real ``celery worker`` on ``django://`` the same way.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from celery_compat import Celery
from kombu_transport_django.models import Message
from tests.worker.conftest import StartWorker, wait_until
from tests.worker.proj.tasks import add, sleep_then_mark

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("celery_compat", *args, stdout=out)
    return out.getvalue()


def test_inspect_runworker(runworker: StartWorker, app: Celery, tmp_path: Path) -> None:
    worker = runworker("-P", "threads", "-c", "1", "--prefetch-multiplier", "1")
    node = worker.hostname

    ping = run("inspect", "ping", "-d", node)
    assert ping == f"->  {node}: OK\n        pong\n\n1 node online.\n"

    marks = tmp_path / "marks"
    running = sleep_then_mark.delay(20, str(marks), "slow")
    queued = add.delay(2, 3)  # prefetch 1 with one thread: waits in the table, not reserved
    wait_until("the slow task to start", lambda: marks.exists() or Message.objects.leased().exists(), 30,
               procs=[worker.proc], log=worker.log)
    active = wait_until("the task in `inspect active`",
                        lambda: (lambda t: running.id in t and t)(run("inspect", "active", "-d", node)), 30)
    lines = active.splitlines()
    assert lines[0] == f"->  {node}: OK"
    assert lines[1].startswith("    * {") and f"'id': '{running.id}'" in lines[1]
    assert "'name': 'tests.worker.proj.tasks.sleep_then_mark'" in lines[1]
    assert lines[-1] == "1 node online."

    data = json.loads(run("inspect", "active", "--json", "-d", node))
    assert [task["id"] for task in data[node]] == [running.id]

    assert run("inspect", "scheduled", "-d", node) == f"->  {node}: OK\n    - empty -\n\n1 node online.\n"

    registered = run("inspect", "registered", "-d", node)
    assert "    * tests.worker.proj.tasks.add\n" in registered

    queued.revoke()
    revoked = json.loads(run("inspect", "revoked", "-j", "-d", node))
    assert queued.id in revoked[node]

    stats = json.loads(run("inspect", "stats", "-j", "-d", node))
    assert stats[node]["pid"] == worker.pid

    # Nobody by that name: Celery's message and exit code (EX_UNAVAILABLE).
    with pytest.raises(CommandError, match="No nodes replied within time constraint") as excinfo:
        run("inspect", "ping", "-d", "nobody@nowhere", "-t", "0.3")
    assert excinfo.value.returncode == 69


def test_inspect_rejects_an_unknown_command(app: Celery) -> None:
    with pytest.raises(CommandError, match="invalid choice: 'bogus'"):
        run("inspect", "bogus")
