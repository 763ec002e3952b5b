"""``celery.app``'s twin: the app class and ``shared_task``."""

from .base import Celery, shared_task

__all__ = ["Celery", "shared_task"]
