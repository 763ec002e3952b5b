"""The Celery app, exactly as Celery's Django guide lays it out, with one import switched.

A project on Celery has ``from celery import Celery`` here and in its
tasks.py files (``from celery import shared_task``). Switching to
django-celery-compat changes those imports and nothing else:

    from celery import Celery            ->  from celery_compat import Celery
    from celery import shared_task       ->  from celery_compat import shared_task

Then the queues, results and schedules live in the project's database, and
``python manage.py runworker -B`` replaces ``celery -A proj worker -B``.
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proj.settings")

from celery_compat import Celery  # noqa: E402  (was: from celery import Celery)

app = Celery("proj")

# Every CELERY_* setting in proj/settings.py configures this app.
app.config_from_object("django.conf:settings", namespace="CELERY")

# Find tasks.py in every installed app (here: shop/tasks.py).
app.autodiscover_tasks()
