"""The database backend keeps the backend contract, on every database."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from celery_compat.backends.database import DatabaseBackend
from tests.unit.results.contract import BackendContract

# Some contract tests write from another thread, which must see committed rows.
pytestmark = pytest.mark.django_db(transaction=True)


class TestDatabaseBackend(BackendContract):
    shared_store = True

    @pytest.fixture
    def app_factory(self, app_factory: Callable[..., Any]) -> Callable[..., Any]:
        def make(**conf: Any) -> Any:
            app = app_factory(**conf)
            assert isinstance(app.backend, DatabaseBackend)
            return app

        return make
