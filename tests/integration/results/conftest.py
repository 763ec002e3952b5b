"""Apps whose results are stored in the test database."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.unit.results.conftest import ResultsApp


@pytest.fixture
def app_factory() -> Callable[..., ResultsApp]:
    def make(**conf: Any) -> ResultsApp:
        conf.setdefault("result_backend", "django-db")
        return ResultsApp("results-db-tests", set_as_current=False, **conf)

    return make


@pytest.fixture
def app(app_factory: Callable[..., ResultsApp]) -> ResultsApp:
    return app_factory()
