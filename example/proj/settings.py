"""Settings for the example shop: SQLite, and its task queues, results and schedules in it too."""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent  # example/
# Everything the demo writes (the database, the worker's log); ignored by git.
# EXAMPLE_VAR_DIR moves it (the demo's test runs it in a temporary directory).
VAR_DIR = Path(os.environ.get("EXAMPLE_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)

SECRET_KEY = "example-only-not-secret"
DEBUG = True  # a local demo; never in production
ALLOWED_HOSTS = ["localhost", "127.0.0.1"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "kombu_transport_django",  # the queue tables (broker "django://")
    "celery_compat",  # results, schedules, revokes, and the runworker command
    "shop",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
ROOT_URLCONF = "proj.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
STATIC_URL = "static/"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": VAR_DIR / "db.sqlite3",
        "OPTIONS": {
            # The web process, the worker's consumer and its pool threads all
            # write to this one file: wait for the lock instead of failing...
            "timeout": 30,
            # ...also in transactions that read before they write: take the
            # write lock at BEGIN, or SQLite fails such a transaction with
            # "database is locked" at once, without waiting (Django's advice
            # for concurrent writers)...
            "transaction_mode": "IMMEDIATE",
            # ...and let readers proceed while someone writes (WAL).
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        },
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

USE_TZ = True
TIME_ZONE = "UTC"

# -- Celery (read by proj/celery.py: the CELERY_ prefix is its namespace) -----
# Celery's setting names and defaults. Two defaults differ, and are the point:
# CELERY_BROKER_URL is "django://" and CELERY_RESULT_BACKEND is "django-db",
# i.e. the database above. No Redis, no RabbitMQ. Written out here to be seen:
CELERY_BROKER_URL = "django://"
CELERY_RESULT_BACKEND = "django-db"
# Report STARTED too, so the demo can show tasks while they run.
CELERY_TASK_TRACK_STARTED = True
# Store task name, arguments, worker and periodic entry with each result
# (as django-celery-results does with it): the admin and the demo show them.
CELERY_RESULT_EXTENDED = True
# Periodic tasks, as in Celery: `runworker -B` runs the scheduler. Every
# worker may run -B; each due run is claimed in the database, so it is sent once.
CELERY_BEAT_SCHEDULE = {
    "refresh-sales-stats": {
        "task": "shop.tasks.refresh_sales_stats",
        "schedule": 2.0,  # seconds; a crontab(...) works too
    },
}
