"""Tasks every app has, under Celery's names (a real worker has them too)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .app import Celery


def register(app: Celery) -> None:
    @app.task(name="celery.backend_cleanup", shared=False, lazy=False)
    def backend_cleanup() -> None:
        """Delete results older than ``result_expires``."""
        app.backend.cleanup()

    @app.task(name="celery.ping", shared=False, lazy=False)
    def ping() -> str:
        return "pong"
