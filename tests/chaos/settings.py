"""Settings of the chaos workers and producers: the worker project plus the chaos tasks.

Short leases, so a killed worker's messages come back within seconds, and
persistent connections on server databases, so a loaded worker does not
open a connection per task.
"""

import os

from tests.worker.proj.settings import *  # noqa: F401,F403
from tests.worker.proj.settings import DATABASES, INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "tests.chaos"]

CELERY_BROKER_TRANSPORT_OPTIONS = {
    "lease_seconds": float(os.environ.get("CHAOS_LEASE_SECONDS", 4)),
    "heartbeat_interval": 1,
}
if os.environ.get("CHAOS_SYNCHRONOUS_COMMIT") == "off":
    # The opt-in asynchronous start marks (PostgreSQL), for the crash test.
    CELERY_BROKER_TRANSPORT_OPTIONS["synchronous_commit"] = False
if DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3":
    DATABASES["default"]["CONN_MAX_AGE"] = 60

if os.environ.get("CHAOS_FAULT"):
    # An exact fault point (tests/chaos/faults.py), for the delivery tests.
    from tests.chaos.faults import install

    install(os.environ["CHAOS_FAULT"])
