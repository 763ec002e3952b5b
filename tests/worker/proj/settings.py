"""Settings of the runworker subprocesses: the test settings plus this project."""

import os

from tests.settings import *  # noqa: F401,F403
from tests.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, *(["celery_compat"] if "celery_compat" not in INSTALLED_APPS else []),
                  "tests.worker.proj"]

CELERY_BROKER_URL = "django://"
CELERY_RESULT_BACKEND = "django-db"
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # A killed worker's messages come back quickly in the tests.
    "lease_seconds": float(os.environ.get("PROJ_LEASE_SECONDS", 30)),
    "heartbeat_interval": 1,
}
# pidbox queues of stopped test workers vanish soon
CELERY_CONTROL_QUEUE_EXPIRES = 5.0
# test_rate_limits: a worker that ignores rate limits
CELERY_WORKER_DISABLE_RATE_LIMITS = bool(os.environ.get("PROJ_DISABLE_RATE_LIMITS"))
