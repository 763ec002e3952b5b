"""A project in Celery's layout whose workers run beat (``runworker -B``)."""

from .celery import app as celery_app

__all__ = ["celery_app"]
