"""A NUL byte anywhere in a task message: never a bare database error at publish.

PostgreSQL text columns cannot hold NUL (``DataError: PostgreSQL text fields
cannot contain NUL (0x00) bytes``). A task message goes to the database as
JSON (which escapes NUL) plus a few plain columns (queue, task id, task
name): wherever a Celery user puts a NUL (task name, id, a header, args,
kwargs, the queue), ``send_task`` either publishes the message or raises an
error that names the bad value and the fix; a message it publishes is then
run or kept as dead with its reason by a real worker, which keeps going.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
from django.db import DatabaseError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from celery_compat import Celery
from celery_compat.models import TaskResult
from celery_compat.testing import drain
from kombu_transport_django.models import Message
from tests.chaos.harness import ledger_counts

pytestmark = pytest.mark.django_db(transaction=True)

settings.load_profile("fuzz")

WHERE = ["name", "task_id", "header_value", "header_key", "arg", "kwarg_value", "kwarg_key", "queue",
         "routing_key", "root_id", "parent_id", "shadow", "group_id"]
_examples = itertools.count()
texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=6)


def _options(where: str, value: str) -> tuple[str, tuple, dict[str, Any], dict[str, Any]]:
    """(name, args, kwargs, send_task options) with ``value`` at ``where``."""
    name, args, kwargs, options = "fuzz.strict", (1, 2), {}, {"task_id": "nul-case"}
    if where == "name":
        name = value
    elif where == "task_id":
        options["task_id"] = value
    elif where == "header_value":
        options["headers"] = {"x-custom": value}
    elif where == "header_key":
        options["headers"] = {value: "x"}
    elif where == "arg":
        name, args = "fuzz.echo", (value,)
    elif where == "kwarg_value":
        name, args, kwargs = "fuzz.echo", (), {"value": value}
    elif where == "kwarg_key":
        name, args, kwargs = "fuzz.echo", (), {value: 1}
    elif where == "queue":
        options["queue"] = value
    elif where == "routing_key":
        options.update(exchange="celery", routing_key=value)
    else:
        options[where] = value
    return name, args, kwargs, options


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(where=st.sampled_from(WHERE), before=texts, after=texts)
def test_a_nul_byte_never_gives_a_bare_database_error(app: Celery, tmp_path: Path, where: str, before: str,
                                                      after: str) -> None:
    Message.objects.all().delete()
    TaskResult.objects.all().delete()
    value = f"{before}\x00{after}"
    name, args, kwargs, options = _options(where, value)
    try:
        app.send_task(name, args, kwargs, **options)
    except DatabaseError as exc:  # what PostgreSQL gave: DataError, naming neither the value nor the fix
        pytest.fail(f"NUL in {where}: bare {type(exc).__name__} at publish: {exc}")
    except ValueError as exc:
        # Refused at publish: the error names the value and what to do.
        assert repr(value) in str(exc) and "NUL" in str(exc), (where, str(exc))
        assert not Message.objects.exists()
        return
    ledger = tmp_path / f"ledger-{next(_examples)}"  # tmp_path is the same for every example
    app.send_task("fuzz.good", (str(ledger),), task_id="good-after")
    drain(app, queues=["celery"], timeout=60)
    # The worker kept going, and nothing is left waiting or leased.
    assert ledger_counts(ledger) == {"good-after": 1}
    assert not Message.objects.filter(queue="celery").exclude(status=Message.Status.DEAD).exists()
    # The message with the NUL ended visibly: a result, or a dead row (with its reason).
    ended = TaskResult.objects.exclude(task_id="good-after").exists() or Message.objects.dead().exists()
    assert ended, f"the message with a NUL in {where} vanished"
    assert all(Message.objects.dead().values_list("dead_reason", flat=True))
