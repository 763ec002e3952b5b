"""Fixtures of the canvas tests: an app on the test database with the canvas tasks."""

from __future__ import annotations

from typing import Iterator

import pytest

from celery_compat import Celery, _state


@pytest.fixture
def app() -> Iterator[Celery]:
    """A celery_compat app on the test database."""
    import tests.canvas.tasks  # noqa: F401  registers the shared tasks

    previous = getattr(_state._tls, "current_app", None)
    app = Celery("tests.canvas")
    app.config_from_object("django.conf:settings", namespace="CELERY")
    app.conf.worker_hijack_root_logger = False
    app.finalize()
    app.set_current()
    yield app
    app.close()
    _state._tls.current_app = previous


@pytest.fixture
def eager_app(app: Celery) -> Iterator[Celery]:
    app.conf.task_always_eager = True
    yield app
    app.conf.task_always_eager = False
