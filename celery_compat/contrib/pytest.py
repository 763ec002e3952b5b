"""``celery.contrib.pytest``'s twin: Celery's pytest fixtures, same names.

Enable with ``pytest_plugins = ["celery_compat.contrib.pytest"]``. The app
uses this project's defaults (``django://`` and the ``django-db`` results),
so tests that use ``celery_worker`` need database access across threads:
mark them ``@pytest.mark.django_db(transaction=True)``. Override
``celery_config`` (or use ``@pytest.mark.celery(**config)``) as with Celery.
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping, Sequence

import pytest

from .. import _state
from ..app import Celery
from ..testing import start_worker


def pytest_configure(config: Any) -> None:
    config.addinivalue_line("markers", "celery(**overrides): override the celery_app configuration")


@pytest.fixture
def celery_config() -> Mapping[str, Any]:
    """Override to configure ``celery_app``."""
    return {}


@pytest.fixture
def celery_parameters() -> Mapping[str, Any]:
    """Override to pass arguments to ``Celery(...)``."""
    return {}


@pytest.fixture
def celery_includes() -> Sequence[str]:
    """Override: modules to import so their tasks are registered."""
    return ()


@pytest.fixture
def celery_worker_pool() -> str:
    return "solo"


@pytest.fixture
def celery_worker_parameters() -> Mapping[str, Any]:
    return {}


@pytest.fixture
def celery_enable_logging() -> bool:
    return False


@pytest.fixture
def celery_app(request: Any, celery_config: Mapping[str, Any], celery_parameters: Mapping[str, Any],
               celery_enable_logging: bool) -> Iterator[Celery]:
    """A fresh app, current for the test, configured by ``celery_config``."""
    config = dict(celery_config)
    marker = request.node.get_closest_marker("celery")
    if marker is not None:
        config.update(marker.kwargs)
    previous_default = _state._default_app
    previous_current = getattr(_state._tls, "current_app", None)
    app = Celery("celery.tests", set_as_current=False, **dict(celery_parameters))
    app.conf.update(config)
    app.set_current()
    try:
        yield app
    finally:
        app.close()
        # The worker made this app the default (as Celery's does): put the
        # process back as it was, or later tests publish with this app.
        _state._default_app = previous_default
        _state._tls.current_app = previous_current


@pytest.fixture
def celery_worker(celery_app: Celery, celery_includes: Sequence[str], celery_worker_pool: str,
                  celery_worker_parameters: Mapping[str, Any]) -> Iterator[Any]:
    """An embedded worker running ``celery_app``'s tasks for the test."""
    import importlib

    for module in celery_includes:
        importlib.import_module(module)
    with start_worker(celery_app, pool=celery_worker_pool, **dict(celery_worker_parameters)) as worker:
        yield worker
