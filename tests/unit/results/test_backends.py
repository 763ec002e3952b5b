"""Choosing a backend from ``result_backend``, the disabled backend, and what every backend encodes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from kombu.exceptions import EncodeError

from celery_compat import states
from celery_compat.backends import by_name, by_url
from celery_compat.backends.database import DatabaseBackend
from celery_compat.backends.disabled import DisabledBackend
from celery_compat.backends.memory import MemoryBackend
from celery_compat.backends.waiting import PollingWaiter
from celery_compat.exceptions import (
    ImproperlyConfigured,
    SoftTimeLimitExceeded,
    TaskRevokedError,
)
from celery_compat.result import AsyncResult


@pytest.mark.parametrize(
    ("value", "cls"),
    [
        ("django-db", DatabaseBackend),
        ("celery_compat.backends.database:DatabaseBackend", DatabaseBackend),
        ("django_celery_results.backends.database:DatabaseBackend", DatabaseBackend),
        ("cache+memory://", MemoryBackend),
        ("memory", MemoryBackend),
        ("disabled", DisabledBackend),
        (None, DisabledBackend),
        (MemoryBackend, MemoryBackend),
    ],
)
def test_by_url_resolves_the_supported_values(app: Any, value: Any, cls: type) -> None:
    backend = by_url(value, app)

    assert type(backend) is cls
    assert backend.app is app


@pytest.mark.parametrize("value", ["redis://localhost:6379/0", "db+sqlite:///results.db", "rpc://", "database"])
def test_by_url_names_the_value_and_the_choices(app: Any, value: str) -> None:
    with pytest.raises(ImproperlyConfigured) as caught:
        by_name(value)

    message = str(caught.value)
    assert repr(value) in message
    for choice in ("'django-db'", "'cache+memory://'", "'disabled'"):
        assert choice in message


def test_the_app_builds_its_backend_from_the_setting(app_factory: Callable[..., Any]) -> None:
    assert type(app_factory(result_backend="django-db").backend) is DatabaseBackend
    assert type(app_factory(result_backend="cache+memory://").backend) is MemoryBackend


def test_disabled_backend_raises_celerys_message(app_factory: Callable[..., Any]) -> None:
    app = app_factory(result_backend="disabled")
    app.backend.store_result("x", 1, states.SUCCESS)  # silently nothing

    with pytest.raises(NotImplementedError, match=r"^No result backend is configured\.\nPlease see"):
        AsyncResult("x", app=app).get()
    with pytest.raises(NotImplementedError, match="No result backend is configured"):
        app.backend.get_state("x")
    with pytest.raises(NotImplementedError, match="^Starting chords requires a result backend"):
        app.backend.apply_chord(("g", []), None)


def test_memory_backend_counts_chord_parts_in_the_process(app: Any) -> None:
    from celery_compat.context import Context
    from celery_compat.result import AsyncResult

    app.backend.apply_chord(("g", [AsyncResult("a", app=app), AsyncResult("b", app=app)]), None)
    request = Context(group="g", chord={"task": "body"})
    assert app.backend._chord_part_done(request) is None
    assert [r.id for r in app.backend._chord_part_done(request).results] == ["a", "b"]
    assert app.backend._chord_part_done(request) is None


def test_exceptions_are_encoded_like_celery(app: Any) -> None:
    encoded = app.backend.encode_result(SoftTimeLimitExceeded(1), states.FAILURE)
    assert encoded == {"exc_type": "SoftTimeLimitExceeded", "exc_message": [1], "exc_module": "billiard.exceptions"}

    encoded = app.backend.encode_result(TaskRevokedError("revoked"), states.REVOKED)
    assert encoded == {"exc_type": "TaskRevokedError", "exc_message": ["revoked"], "exc_module": "celery.exceptions"}


def test_an_exception_in_a_success_state_is_not_an_exception_result(app: Any) -> None:
    # Celery: only exception states encode exceptions; JSON cannot store one (R2).
    with pytest.raises(EncodeError):
        app.backend.store_result("r2", ValueError("x"), states.SUCCESS)


def test_a_result_handle_is_stored_as_its_tuple(app: Any) -> None:
    app.backend.mark_as_done("outer", AsyncResult("inner", app=app))

    assert app.backend.get_result("outer") == [["inner", None], None]


def test_a_failure_row_without_exc_type_raises_like_celery(app: Any) -> None:
    app.backend.store_result("bad", {"reason": "x"}, states.FAILURE)

    with pytest.raises(ValueError, match="must include the exception type"):
        app.backend.get_task_meta("bad")


def test_success_metas_are_cached_when_result_cache_max_allows(app_factory: Callable[..., Any]) -> None:
    app = app_factory(result_cache_max=10)
    app.backend.mark_as_done("c", 1)
    assert app.backend.get_result("c") == 1
    app.backend.mark_as_done("c", 2)

    assert app.backend.get_result("c") == 1
    assert app.backend.get_task_meta("c", cache=False)["result"] == 2
    app.backend.reload_task_result("c")
    assert app.backend.get_result("c") == 2


def test_nothing_is_cached_by_default(app: Any) -> None:
    app.backend.mark_as_done("c", 1)
    app.backend.get_result("c")
    app.backend.mark_as_done("c", 2)

    assert app.backend.get_result("c") == 2
    assert not app.backend.is_cached("c")


def test_wait_for_counts_only_the_sleeps(app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # Reads that take time do not eat the timeout, as in Celery (P3).
    slept: list[float] = []
    monkeypatch.setattr("celery_compat.backends.waiting.time.sleep", slept.append)
    from celery_compat.exceptions import TimeoutError

    backend = by_url("django-db", app)
    backend._waiter = PollingWaiter  # type: ignore[method-assign]
    backend._get_task_meta_for = lambda task_id: {"status": states.PENDING, "result": None}  # type: ignore[method-assign]
    with pytest.raises(TimeoutError):
        backend.wait_for("p", timeout=1.0, interval=0.5)

    assert slept == pytest.approx([0.05, 0.1, 0.2, 0.4, 0.25])
    assert sum(slept) == pytest.approx(1.0)
