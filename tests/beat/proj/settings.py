"""Settings of the beat test workers: the test settings, this project and two entries."""

import os

from celery_compat.schedules import crontab
from tests.settings import *  # noqa: F401,F403
from tests.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "tests.beat.proj"]

CELERY_BROKER_URL = "django://"
CELERY_RESULT_BACKEND = "django-db"
CELERY_BROKER_TRANSPORT_OPTIONS = {"heartbeat_interval": 1}
CELERY_CONTROL_QUEUE_EXPIRES = 5.0
CELERY_BEAT_SCHEDULE = {} if os.environ.get("BEATPROJ_NO_SETTINGS_ENTRIES") else {
    "every-second": {"task": "tests.beat.proj.tasks.record", "schedule": 1.0, "args": ("sec",)},
    "every-minute": {"task": "tests.beat.proj.tasks.record", "schedule": crontab(), "args": ("min",),
                     "options": {"expires": 120}},
}
if os.environ.get("BEATPROJ_BAD_ENTRY"):
    CELERY_BEAT_SCHEDULE = {"bad": {"task": "tests.beat.proj.tasks.record"}}
