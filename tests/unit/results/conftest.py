"""An app whose results live in memory, and a way to run code "inside a worker task"."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from celery_compat import _state
from celery_compat.app import Celery
from celery_compat.context import Context


class RecordingControl:
    """Stands in for ``app.control``: records revokes instead of broadcasting them."""

    def __init__(self) -> None:
        self.revoked: list[tuple[Any, dict[str, Any]]] = []

    def revoke(self, task_id: Any, **kwargs: Any) -> None:
        self.revoked.append((task_id, kwargs))


class ResultsApp(Celery):
    """The real app, with remote control recorded (no broker involved)."""

    recording_control = RecordingControl

    @property
    def control(self) -> Any:  # type: ignore[override]
        if not hasattr(self, "_recorder"):
            self._recorder = self.recording_control()
        return self._recorder


@pytest.fixture
def app_factory() -> Callable[..., ResultsApp]:
    def make(**conf: Any) -> ResultsApp:
        conf.setdefault("result_backend", "cache+memory://")
        return ResultsApp("results-tests", set_as_current=False, **conf)

    return make


@pytest.fixture
def app(app_factory: Callable[..., ResultsApp]) -> ResultsApp:
    return app_factory()


@pytest.fixture
def in_worker_task(app: ResultsApp) -> Callable[..., Any]:
    """``with in_worker_task(): ...`` runs the block as the body of a task in a worker."""

    @app.task(name="results.tests.body")
    def body() -> None:
        return None

    @contextmanager
    def run(**request: Any) -> Iterator[Context]:
        request = {"id": "outer-task", "called_directly": False, "is_eager": False, **request}
        body.push_request(**request)
        _state.push_current_task(body)
        try:
            yield body.request
        finally:
            _state.pop_current_task()
            body.pop_request()

    return run
