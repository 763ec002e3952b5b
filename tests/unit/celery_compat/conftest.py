"""Real Celery, for the tests that compare against it.

Celery is in the ``test`` extra: a missing Celery is a broken install and
fails these tests rather than skipping them.

Only these tests import ``celery``; ``celery_compat`` itself never does (see
test_isolation.py).
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

import pytest


def _celery(module: str) -> ModuleType:
    return importlib.import_module(module)


@pytest.fixture(scope="session")
def real_states() -> ModuleType:
    return _celery("celery.states")


@pytest.fixture(scope="session")
def real_exceptions() -> ModuleType:
    return _celery("celery.exceptions")


@pytest.fixture(scope="session")
def real_signals() -> ModuleType:
    return _celery("celery.signals")


@pytest.fixture(scope="session")
def real_log() -> ModuleType:
    return _celery("celery.utils.log")


@pytest.fixture(scope="session")
def real_backend() -> Any:
    """Celery's base result backend, JSON serializer: prepare_exception / exception_to_python."""
    celery = _celery("celery")
    base = _celery("celery.backends.base")
    app = celery.Celery("compat-tests", set_as_current=False)
    return base.BaseBackend(app, serializer="json")
