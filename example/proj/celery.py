"""The Celery app, exactly as Celery's Django guide lays it out, plus one import."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proj.settings")

# Registers the "django://" broker URL with kombu. kombu has no plug-in hook
# for transports, so this import must run before the app first connects.
import kombu_transport_django  # noqa: E402,F401
from celery import Celery  # noqa: E402

app = Celery("proj")

# Every CELERY_* setting in proj/settings.py configures this app.
app.config_from_object("django.conf:settings", namespace="CELERY")

# Find tasks.py in every installed app (here: shop/tasks.py).
app.autodiscover_tasks()
