"""Rows look like django-celery-results' rows, and rows real Celery wrote read back (protocol §6.2).

Real Celery (a test-only dependency) plays the other side: its backend
encodes what a real worker with ``result_backend='django-db'`` writes, and
decodes what we write.
"""

from __future__ import annotations

import base64
import datetime as dt
import importlib
import json
import pickle
from typing import Any

import pytest
from django.utils import timezone

from celery_compat import exceptions, states
from celery_compat.context import Context
from celery_compat.models import GroupResult as GroupRow
from celery_compat.models import TaskResult
from celery_compat.result import AsyncResult, GroupResult

pytestmark = pytest.mark.django_db


class Boom(Exception):
    """A user error both sides can import (this module)."""


@pytest.fixture(scope="module")
def real() -> Any:
    """Real Celery's base backend, JSON serializer (what django-celery-results builds on)."""
    celery = importlib.import_module("celery")
    base = importlib.import_module("celery.backends.base")
    return base.BaseBackend(celery.Celery("real-side", set_as_current=False), serializer="json")


def write_real_row(real: Any, task_id: str, value: Any, state: str, children: Any = None, **columns: Any) -> None:
    """Insert the row django-celery-results would for ``value`` (its ``_store_result``)."""
    content_type, content_encoding, content = real._encode(real.encode_result(value, state))
    meta = real._encode({"children": children})[2]
    TaskResult.objects.create(task_id=task_id, status=state, result=content, meta=meta,
                              content_type=content_type, content_encoding=content_encoding, **columns)


def row(task_id: str) -> TaskResult:
    return TaskResult.objects.get(task_id=task_id)


# -- what we write --------------------------------------------------------------------------


def test_success_row(app: Any) -> None:
    app.backend.mark_as_done("ok", {"total": 3}, request=Context(id="ok"))

    stored = row("ok")
    assert (stored.status, stored.content_type, stored.content_encoding) == ("SUCCESS", "application/json", "utf-8")
    assert json.loads(stored.result) == {"total": 3}
    assert json.loads(stored.meta) == {"children": []}
    assert stored.traceback is None and stored.task_name is None and stored.task_args is None
    assert stored.date_done is not None and stored.date_started is None


def test_exception_row_is_celerys_dict(app: Any) -> None:
    app.backend.mark_as_failure("bad", Boom("boom", 42), traceback="Traceback ...")
    app.backend.mark_as_revoked("rev", "terminated")

    assert json.loads(row("bad").result) == {
        "exc_type": "Boom", "exc_message": ["boom", 42], "exc_module": "tests.integration.results.test_rows",
    }
    assert row("bad").traceback == "Traceback ..."
    assert json.loads(row("rev").result) == {
        "exc_type": "TaskRevokedError", "exc_message": ["terminated"], "exc_module": "celery.exceptions",
    }


def test_extended_row_holds_argsrepr_strings(app_factory: Any) -> None:
    app = app_factory(result_extended=True)
    request = Context(
        id="ext", task="shop.tasks.add", args=[1, 2], kwargs={"z": 3}, argsrepr="(1, 2)", kwargsrepr="{'z': 3}",
        hostname="celery@w1", retries=1, delivery_info={"routing_key": "celery"}, periodic_task_name="nightly",
    )
    app.backend.mark_as_done("ext", 3, request=request)

    stored = row("ext")
    assert stored.task_args == '"(1, 2)"' and stored.task_kwargs == "\"{'z': 3}\""
    assert (stored.task_name, stored.worker, stored.periodic_task_name) == ("shop.tasks.add", "celery@w1", "nightly")
    assert (stored.retries, stored.queue) == (1, "celery")
    meta = app.backend.get_task_meta("ext")
    assert (meta["task_name"], meta["task_args"], meta["task_kwargs"]) == ("shop.tasks.add", "(1, 2)", "{'z': 3}")


def test_request_meta_is_kept_beside_children(app: Any) -> None:
    request = Context(id="m", meta={"tenant": "acme"})
    request.children.append(AsyncResult("kid", app=app))
    app.backend.mark_as_done("m", 1, request=request)

    assert json.loads(row("m").meta) == {"tenant": "acme", "children": [[["kid", None], None]]}
    assert app.backend.get_task_meta("m")["tenant"] == "acme"


def test_dates_created_started_done(app: Any) -> None:
    app.backend.mark_as_started("d", pid=1, hostname="h")
    started = row("d")
    assert started.date_started is not None and started.date_done is not None
    TaskResult.objects.filter(task_id="d").update(date_done=timezone.now() - dt.timedelta(hours=1))

    app.backend.mark_as_done("d", 1)

    done = row("d")
    assert done.pk == started.pk and done.date_created == started.date_created
    assert done.date_started == started.date_started
    assert done.date_done > timezone.now() - dt.timedelta(minutes=1)


def test_binary_serializer_is_base64_text(app_factory: Any) -> None:
    app = app_factory(result_serializer="pickle", accept_content=["pickle", "json"])
    app.backend.mark_as_done("p", {"set": {1, 2}})

    stored = row("p")
    assert (stored.content_type, stored.content_encoding) == ("application/x-python-serialize", "binary")
    assert pickle.loads(base64.b64decode(stored.result)) == {"set": {1, 2}}
    assert app.backend.get_result("p") == {"set": {1, 2}}


def test_group_row_is_the_json_tuple(app: Any) -> None:
    GroupResult("g", [AsyncResult("a", app=app), AsyncResult("b", app=app)], app=app).save()

    stored = GroupRow.objects.get(group_id="g")
    assert json.loads(stored.result) == [["g", None], [[["a", None], None], [["b", None], None]]]
    assert (stored.content_type, stored.content_encoding) == ("application/json", "utf-8")


def test_one_statement_to_store_and_one_to_read(app: Any, django_assert_num_queries: Any) -> None:
    app.backend.mark_as_done("q", 1)
    with django_assert_num_queries(1):
        app.backend.mark_as_done("q", 2)
    with django_assert_num_queries(1):
        app.backend.mark_as_done("q-new", 2)
    with django_assert_num_queries(1):
        assert app.backend.get_task_meta("q")["result"] == 2


# -- what real Celery wrote -----------------------------------------------------------------


def test_reads_real_celery_success_and_children(app: Any, real: Any) -> None:
    celery_result = importlib.import_module("celery.result")
    real_app = real.app
    children = [
        real_app.AsyncResult("c1").as_tuple(),
        celery_result.GroupResult("g1", [real_app.AsyncResult("g1-a")], app=real_app).as_tuple(),
    ]
    write_real_row(real, "real-ok", {"n": [1, 2]}, "SUCCESS", children=children)

    result = AsyncResult("real-ok", app=app)
    assert (result.state, result.get()) == ("SUCCESS", {"n": [1, 2]})
    kids = result.children
    assert kids[0] == "c1" and isinstance(kids[1], GroupResult) and kids[1].results == ["g1-a"]


@pytest.mark.parametrize(
    ("make_exc", "ours"),
    [
        (lambda m: m("celery.exceptions").TaskRevokedError("revoked"), exceptions.TaskRevokedError),
        (lambda m: m("celery.exceptions").MaxRetriesExceededError("Can't retry t[1]"),
         exceptions.MaxRetriesExceededError),
        (lambda m: m("celery.exceptions").NotRegistered("nope.nope"), exceptions.NotRegistered),
        (lambda m: m("billiard.exceptions").TimeLimitExceeded(10.0), exceptions.TimeLimitExceeded),
        (lambda m: m("billiard.exceptions").SoftTimeLimitExceeded(), exceptions.SoftTimeLimitExceeded),
        (lambda m: Boom("boom", 42), Boom),
    ],
)
def test_reads_real_celery_exceptions_as_our_classes(app: Any, real: Any, make_exc: Any, ours: type) -> None:
    exc = make_exc(importlib.import_module)
    write_real_row(real, "real-exc", exc, states.FAILURE, traceback="Traceback (real)")

    value = AsyncResult("real-exc", app=app).get(propagate=False)

    assert type(value) is ours
    assert value.args == exc.args
    assert AsyncResult("real-exc", app=app).traceback == "Traceback (real)"


def test_reads_a_hand_written_django_celery_results_row(app: Any) -> None:
    # The row from protocol §6.2, extended, as django-celery-results 2.6 stores it.
    TaskResult.objects.create(
        task_id="dcr", status="FAILURE", content_type="application/json", content_encoding="utf-8",
        result='{"exc_type": "KwErr", "exc_message": ["m"], "exc_module": "tasks"}',
        meta='{"children": []}', task_name="tasks.kw", task_args='"(1, 2)"', task_kwargs='"{}"', worker="w@h",
    )

    result = AsyncResult("dcr", app=app)
    value = result.get(propagate=False)
    assert type(value).__name__ == "KwErr" and type(value).__module__ == "celery.exceptions"
    assert value.args == ("m",)
    assert (result.name, result.args, result.kwargs, result.worker) == ("tasks.kw", "(1, 2)", "{}", "w@h")
    assert result.children is None or result.children == []


def test_reads_real_celery_pickle_rows_only_when_pickle_is_accepted(app_factory: Any) -> None:
    celery = importlib.import_module("celery")
    base = importlib.import_module("celery.backends.base")
    real = base.BaseBackend(celery.Celery("real-pickle", set_as_current=False), serializer="pickle")
    content_type, content_encoding, content = real._encode(real.encode_result(Boom("p"), states.FAILURE))
    TaskResult.objects.create(task_id="real-pickle", status="FAILURE", content_type=content_type,
                              content_encoding=content_encoding, result=base64.b64encode(content).decode())

    accepting = app_factory(accept_content=["json", "pickle"])
    assert isinstance(accepting.backend.get_result("real-pickle"), Boom)
    from kombu.exceptions import ContentDisallowed

    with pytest.raises(ContentDisallowed):
        app_factory().backend.get_result("real-pickle")


# -- what real Celery reads from us ---------------------------------------------------------


def test_real_celery_reads_our_rows(app: Any, real: Any) -> None:
    app.backend.mark_as_revoked("ours", "revoked")
    app.backend.mark_as_failure("ours-soft", exceptions.SoftTimeLimitExceeded())

    stored = real.decode(row("ours").result)
    real_exc = real.exception_to_python(stored)
    assert type(real_exc) is importlib.import_module("celery.exceptions").TaskRevokedError
    soft = real.exception_to_python(real.decode(row("ours-soft").result))
    assert type(soft) is importlib.import_module("billiard.exceptions").SoftTimeLimitExceeded
