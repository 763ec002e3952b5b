"""Django settings for the benchmark processes. ``BENCH_DATABASE_URL`` picks the database.

Persistent connections (``CONN_MAX_AGE=None``), as a production worker would
run: the issue's targets are measured that way.
"""

import os
from pathlib import Path

from tests.dburl import parse

BASE_DIR = Path(__file__).resolve().parent.parent
(BASE_DIR / "var").mkdir(exist_ok=True)

DATABASES = {"default": parse(os.environ.get("BENCH_DATABASE_URL", "sqlite:///var/bench.sqlite3"), BASE_DIR)}
DATABASES["default"]["CONN_MAX_AGE"] = None

SECRET_KEY = "bench-only-not-secret"
USE_TZ = True
TIME_ZONE = "UTC"
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "kombu_transport_django",
    "celery_compat",
]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LOGGING = {"version": 1, "disable_existing_loggers": False}

# celery_compat reads CELERY_* settings (bench/compat_app.py); real Celery
# apps in bench/celery_app.py configure themselves.
CELERY_BROKER_URL = "django://"
CELERY_RESULT_BACKEND = "django-db"
# BENCH_SYNCHRONOUS_COMMIT=off (system compat-pg-async): the opt-in django://
# options that commit start marks and autocommit publishes asynchronously
# (docs/transport.md).
if os.environ.get("BENCH_SYNCHRONOUS_COMMIT") == "off":
    CELERY_BROKER_TRANSPORT_OPTIONS = {"synchronous_commit": False, "publish_synchronous_commit": False}
