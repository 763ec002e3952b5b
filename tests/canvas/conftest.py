"""Fixtures of the canvas tests: an app on the test database with the canvas tasks."""

from __future__ import annotations

from typing import Iterator

import pytest

from celery_compat import Celery
from tests.helpers.fixtures import app_fixture, real_celery  # noqa: F401  fixtures

app = app_fixture("tests.canvas", "tests.canvas.tasks", set_current=True)


@pytest.fixture
def eager_app(app: Celery) -> Iterator[Celery]:
    app.conf.task_always_eager = True
    yield app
    app.conf.task_always_eager = False
