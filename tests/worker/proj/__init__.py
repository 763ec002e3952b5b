"""A Django project in Celery's layout, for runworker subprocesses.

``DJANGO_SETTINGS_MODULE=tests.worker.proj.settings`` imports this package
first, which builds the app (as ``proj/__init__.py`` does in Celery's Django
guide), so ``runworker`` finds it without ``-A``.
"""

from .celery import app as celery_app

__all__ = ["celery_app"]
