"""What every result backend does, written once.

``TestMemoryBackend`` (here, in unit/) and ``TestDatabaseBackend`` (in
integration/, on each database) subclass :class:`BackendContract`; each
provides the ``app_factory`` fixture building an app on its backend.
"""

from __future__ import annotations

import builtins
import pickle
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connections
from kombu.exceptions import ContentDisallowed

from celery_compat import states
from celery_compat.context import Context
from celery_compat.exceptions import SoftTimeLimitExceeded, TaskRevokedError, TimeoutError
from celery_compat.result import AsyncResult, GroupResult


class Boom(Exception):
    """A user exception with two arguments."""


class Point:
    """Something only pickle can store."""

    def __init__(self, x: int) -> None:
        self.x = x

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Point) and other.x == self.x


def write_later(backend: Any, delay: float, *args: Any, **kwargs: Any) -> threading.Thread:
    """Store a result from another thread after ``delay`` seconds."""

    def run() -> None:
        time.sleep(delay)
        try:
            backend.store_result(*args, **kwargs)
        finally:
            connections.close_all()  # this thread's own database connection, if any

    thread = threading.Thread(target=run)
    thread.start()
    return thread


class BackendContract:
    """Behaviour shared by the memory and database backends."""

    @pytest.fixture
    def backend(self, app_factory: Callable[..., Any]) -> Any:
        return app_factory().backend

    # -- reading what is (not) there -----------------------------------------------------

    def test_unknown_id_is_pending_with_no_result(self, backend: Any) -> None:
        meta = backend.get_task_meta("never-sent")

        assert meta["status"] == states.PENDING
        assert meta["result"] is None
        assert meta["traceback"] is None
        assert meta["children"] is None
        assert meta["date_done"] is None
        assert backend.task_result_exists("never-sent") is False

    @pytest.mark.parametrize("value", [3, "text ünïcode", [1, [2, "3"]], {"a": {"b": None}}, None, 2.5, True])
    def test_success_stores_the_return_value(self, backend: Any, value: Any) -> None:
        backend.mark_as_done("t-ok", value)

        meta = backend.get_task_meta("t-ok")
        assert meta["status"] == states.SUCCESS
        assert meta["result"] == value
        assert meta["date_done"] is not None and meta["date_done"].tzinfo is not None
        assert backend.get_state("t-ok") == states.SUCCESS
        assert backend.get_result("t-ok") == value
        assert backend.task_result_exists("t-ok") is True

    def test_failure_stores_the_exception_and_traceback(self, backend: Any) -> None:
        backend.mark_as_failure("t-fail", Boom("boom", 42), traceback="Traceback (most recent call last):\n...")

        meta = backend.get_task_meta("t-fail")
        assert meta["status"] == states.FAILURE
        assert type(meta["result"]) is Boom
        assert meta["result"].args == ("boom", 42)
        assert backend.get_traceback("t-fail") == "Traceback (most recent call last):\n..."

    def test_celery_errors_come_back_as_our_classes(self, backend: Any) -> None:
        backend.mark_as_failure("t-soft", SoftTimeLimitExceeded(3))

        result = backend.get_result("t-soft")
        assert type(result) is SoftTimeLimitExceeded
        assert result.args == (3,)

    def test_retry_stores_the_exception_and_is_not_ready(self, app_factory: Callable[..., Any]) -> None:
        app = app_factory()
        app.backend.mark_as_retry("t-retry", Boom("flaky"), traceback="tb")

        result = AsyncResult("t-retry", app=app)
        assert result.state == states.RETRY
        assert repr(result.result) == "Boom('flaky')"
        assert result.traceback == "tb"
        assert not result.ready()

    def test_revoked_stores_task_revoked_error(self, backend: Any) -> None:
        backend.mark_as_revoked("t-rev", "expired")

        meta = backend.get_task_meta("t-rev")
        assert meta["status"] == states.REVOKED
        assert type(meta["result"]) is TaskRevokedError
        assert meta["result"].args == ("expired",)

    def test_started_stores_pid_and_hostname(self, backend: Any) -> None:
        backend.mark_as_started("t-start", pid=12, hostname="w1@host")

        meta = backend.get_task_meta("t-start")
        assert meta["status"] == states.STARTED
        assert meta["result"] == {"pid": 12, "hostname": "w1@host"}

    def test_custom_state_stores_its_meta(self, app_factory: Callable[..., Any]) -> None:
        app = app_factory()
        app.backend.store_result("t-progress", {"current": 1, "total": 2}, "PROGRESS")

        result = AsyncResult("t-progress", app=app)
        assert result.state == "PROGRESS"
        assert result.info == {"current": 1, "total": 2}
        assert not result.ready()

    def test_ignored_request_stores_nothing(self, backend: Any) -> None:
        backend.mark_as_done("t-ignored", 1, request=Context(id="t-ignored", ignore_result=True))

        assert backend.get_state("t-ignored") == states.PENDING

    # -- overwriting ------------------------------------------------------------------------

    def test_a_later_write_wins_until_success(self, backend: Any) -> None:
        backend.store_result("t-reuse", {"step": 1}, "PROGRESS")
        backend.mark_as_failure("t-reuse", Boom("first"))
        assert backend.get_state("t-reuse") == states.FAILURE

        backend.store_result("t-reuse", {"step": 2}, "PROGRESS")
        assert backend.get_task_meta("t-reuse")["result"] == {"step": 2}

        backend.mark_as_done("t-reuse", 2)
        backend.mark_as_done("t-reuse", 4)
        assert backend.get_result("t-reuse") == 4

    def test_a_success_is_not_overwritten_by_a_late_state(self, backend: Any) -> None:
        # retry() publishes the re-run before it stores RETRY: a fast re-run's
        # SUCCESS must survive the late RETRY (Celery's key-value backends agree).
        backend.mark_as_done("t-final", 7)
        backend.mark_as_retry("t-final", Boom("late retry"))
        backend.mark_as_failure("t-final", Boom("late failure"))
        backend.mark_as_revoked("t-final", "revoked")
        backend.store_result("t-final", {"step": 1}, "PROGRESS")

        assert backend.get_state("t-final") == states.SUCCESS
        assert backend.get_result("t-final") == 7

    def test_a_ready_handle_keeps_its_value_after_an_overwrite(self, app_factory: Callable[..., Any]) -> None:
        app = app_factory()
        app.backend.mark_as_done("t-cached", 1)
        result = AsyncResult("t-cached", app=app)
        assert result.get() == 1

        app.backend.mark_as_done("t-cached", 2)

        assert result.get() == 1
        assert AsyncResult("t-cached", app=app).get() == 2

    def test_forget_deletes_the_result(self, backend: Any) -> None:
        backend.mark_as_done("t-forget", 1)

        backend.forget("t-forget")

        assert backend.get_state("t-forget") == states.PENDING

    # -- children and extended fields -------------------------------------------------------

    def test_children_are_stored_as_tuples_and_read_as_results(self, app_factory: Callable[..., Any]) -> None:
        app = app_factory()
        child = AsyncResult("child-1", app=app)
        group = GroupResult("g-1", [AsyncResult("g-1-a", app=app), AsyncResult("g-1-b", app=app)], app=app)
        request = Context(id="t-parent")
        request.children.extend([child, group])  # what Task.add_trail does while the task runs
        app.backend.mark_as_done("t-parent", 7, request=request)

        assert app.backend.get_children("t-parent") == [
            [["child-1", None], None],
            [["g-1", None], [[["g-1-a", None], None], [["g-1-b", None], None]]],
        ]
        children = AsyncResult("t-parent", app=app).children
        assert children == [child, group]
        assert isinstance(children[1], GroupResult) and children[1].results == group.results

    def test_extended_fields_need_result_extended(self, app_factory: Callable[..., Any]) -> None:
        request = Context(
            id="t-ext", task="shop.tasks.add", args=[1, 2], kwargs={"z": 3}, argsrepr="(1, 2)",
            kwargsrepr="{'z': 3}", hostname="w1@host", retries=2, delivery_info={"routing_key": "fast"},
        )
        plain = app_factory()
        plain.backend.mark_as_done("t-ext", 3, request=request)
        assert AsyncResult("t-ext", app=plain).name is None

        app = app_factory(result_extended=True)
        app.backend.mark_as_done("t-ext", 3, request=request)

        result = AsyncResult("t-ext", app=app)
        assert (result.name, result.args, result.kwargs) == ("shop.tasks.add", "(1, 2)", "{'z': 3}")
        assert (result.worker, result.retries, result.queue) == ("w1@host", 2, "fast")

    # -- serializers -----------------------------------------------------------------------

    def test_pickle_results_need_pickle_accepted(self, app_factory: Callable[..., Any]) -> None:
        writer = app_factory(result_serializer="pickle", accept_content=["json", "pickle"])
        writer.backend.mark_as_done("t-pickle", Point(1))
        writer.backend.mark_as_failure("t-pickle-fail", Boom("b", 1))

        assert writer.backend.get_result("t-pickle") == Point(1)
        assert writer.backend.get_result("t-pickle-fail").args == ("b", 1)
        json_only = app_factory(result_serializer="json") if self.shared_store else None
        if json_only is not None:
            with pytest.raises(ContentDisallowed):
                json_only.backend.get_task_meta("t-pickle")

    def test_pickle_serializer_without_pickle_accepted_cannot_read(self, app_factory: Callable[..., Any]) -> None:
        app = app_factory(result_serializer="pickle")  # accept_content stays ["json"]
        app.backend.mark_as_done("t-pickle-refused", Point(2))

        with pytest.raises(ContentDisallowed):
            app.backend.get_task_meta("t-pickle-refused")

    #: True if two apps of one test share the stored results (the database does).
    shared_store = False

    # -- groups ----------------------------------------------------------------------------

    def test_group_save_restore_delete(self, app_factory: Callable[..., Any]) -> None:
        app = app_factory()
        group = GroupResult("g-save", [AsyncResult("g-a", app=app), AsyncResult("g-b", app=app)], app=app)
        assert GroupResult.restore("g-save", app=app) is None

        group.save()
        restored = GroupResult.restore("g-save", app=app)
        assert restored == group
        assert [r.id for r in restored.results] == ["g-a", "g-b"]
        assert app.backend.get_group_meta("g-save")["date_done"] is not None

        group.delete()
        assert GroupResult.restore("g-save", app=app) is None

    # -- waiting ---------------------------------------------------------------------------

    def test_wait_for_times_out_with_celery_error_and_message(self, backend: Any) -> None:
        started = time.monotonic()
        with pytest.raises(TimeoutError, match=r"^The operation timed out\.$") as caught:
            backend.wait_for("t-never", timeout=0.2, interval=0.05)

        assert not isinstance(caught.value, builtins.TimeoutError)
        assert 0.2 <= time.monotonic() - started < 2

    def test_wait_for_timeout_zero_reads_once(self, backend: Any) -> None:
        with pytest.raises(TimeoutError):
            backend.wait_for("t-zero", timeout=0)
        backend.mark_as_done("t-zero", 1)

        assert backend.wait_for("t-zero", timeout=0)["result"] == 1

    def test_wait_for_calls_on_interval_between_reads(self, backend: Any) -> None:
        calls: list[int] = []
        with pytest.raises(TimeoutError):
            backend.wait_for("t-int", timeout=0.1, interval=0.02, on_interval=lambda: calls.append(1))

        assert len(calls) >= 2

    def test_wait_for_returns_a_result_written_by_another_thread(self, backend: Any) -> None:
        thread = write_later(backend, 0.2, "t-thread", 42, states.SUCCESS)
        try:
            meta = backend.wait_for("t-thread", timeout=10, interval=0.1)
        finally:
            thread.join()

        assert meta["result"] == 42

    def test_get_is_woken_well_before_the_interval(self, app_factory: Callable[..., Any]) -> None:
        app = app_factory()
        thread = write_later(app.backend, 0.1, "t-wake", "done", states.SUCCESS)
        started = time.monotonic()
        try:
            value = AsyncResult("t-wake", app=app).get(timeout=30, interval=self.wake_interval)
        finally:
            thread.join()

        assert value == "done"
        assert time.monotonic() - started < self.wake_interval / 2

    #: An interval much longer than a backend that wakes waiters needs.
    wake_interval = 5.0

    def test_pickled_async_result_keeps_id_and_parent(self, app_factory: Callable[..., Any]) -> None:
        app = app_factory()
        result = AsyncResult("t-child", app=app, parent=AsyncResult("t-parent", app=app))

        copy = pickle.loads(pickle.dumps(result))

        assert copy == result and copy.parent == result.parent
