"""Fixtures shared by several test folders; each conftest imports what it uses.

``app_fixture`` builds a folder's ``app`` fixture (a celery_compat app on the
test database with that folder's shared tasks); ``real_celery`` is a real
Celery client on ``django://``.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable, Iterator

import pytest

from celery_compat import Celery, _state


def app_fixture(main: str, tasks_module: str, set_current: bool = False) -> Callable[..., Any]:
    """An ``app`` fixture: ``Celery(main)`` configured from Django's settings.

    ``tasks_module`` is imported first, so its shared tasks bind to the app;
    ``set_current`` makes the app current for the test (canvas needs it).
    The previous current app is restored afterwards.
    """

    @pytest.fixture
    def app() -> Iterator[Celery]:
        importlib.import_module(tasks_module)
        previous = getattr(_state._tls, "current_app", None)
        app = Celery(main)
        app.config_from_object("django.conf:settings", namespace="CELERY")
        app.conf.worker_hijack_root_logger = False
        app.finalize()
        if set_current:
            app.set_current()
        yield app
        app.close()
        _state._tls.current_app = previous

    app.__doc__ = f"A celery_compat app ({main!r}) on the test database, with {tasks_module}'s tasks."
    return app


@pytest.fixture
def real_celery() -> Iterator[Any]:
    """A real Celery client on ``django://`` (no result backend: it only publishes)."""
    from celery import Celery as RealCelery

    import kombu_transport_django  # noqa: F401  registers django:// for real Celery

    real = RealCelery("real-client", broker="django://", set_as_current=False)
    real.conf.update(broker_connection_retry_on_startup=True)
    yield real
    real.close()
