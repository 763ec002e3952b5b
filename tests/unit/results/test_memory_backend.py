"""The in-memory backend keeps the backend contract (the database one runs it in integration/)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from celery_compat.backends.memory import MemoryBackend

from .contract import BackendContract


class TestMemoryBackend(BackendContract):
    @pytest.fixture
    def app_factory(self, app_factory: Callable[..., Any]) -> Callable[..., Any]:
        def make(**conf: Any) -> Any:
            app = app_factory(result_backend="cache+memory://", **conf)
            assert isinstance(app.backend, MemoryBackend)
            return app

        return make


def test_cleanup_drops_results_older_than_result_expires(app_factory: Callable[..., Any]) -> None:
    import datetime as dt

    app = app_factory(result_expires=dt.timedelta(hours=1))
    app.backend.mark_as_done("old", 1)
    app.backend.mark_as_done("new", 2)
    app.backend._rows["old"].date_done -= dt.timedelta(hours=2)

    app.backend.cleanup()

    assert app.backend.get_state("old") == "PENDING"
    assert app.backend.get_state("new") == "SUCCESS"
