"""``celery.app.task``'s twin."""

from ..context import Context
from ..task import Task

__all__ = ["Task", "Context"]
