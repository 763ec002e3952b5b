"""Celery's pytest fixtures, under the same names, from celery_compat.contrib.pytest.

pytest.ini loads the plugin with ``-p celery_compat.contrib.pytest``, as a project would.
"""

from __future__ import annotations

from typing import Any

import pytest



@pytest.fixture
def celery_config() -> dict[str, Any]:
    return {"task_default_queue": "plugin-tests"}


@pytest.mark.django_db(transaction=True)
def test_celery_worker_runs_a_task_of_celery_app(celery_app: Any, celery_worker: Any) -> None:
    @celery_app.task
    def mul(x: int, y: int) -> int:
        return x * y

    assert celery_app.conf.task_default_queue == "plugin-tests"
    assert mul.delay(6, 7).get(timeout=10) == 42


@pytest.mark.celery(task_always_eager=True)
def test_celery_marker_overrides_the_config(celery_app: Any) -> None:
    assert celery_app.conf.task_always_eager is True
    assert celery_app.conf.task_default_queue == "plugin-tests"


def test_after_the_fixtures_the_previous_apps_are_back() -> None:
    from celery_compat import _state

    # A test run after the ones above must not publish with their app.
    assert getattr(_state._default_app, "main", None) != "celery.tests"
    assert getattr(getattr(_state._tls, "current_app", None), "main", None) != "celery.tests"
