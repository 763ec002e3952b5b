"""Settings for the example shop: SQLite, and Celery on the same database."""

from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent  # example/
# Everything the demo writes (database, task results, worker log); ignored by git.
VAR_DIR = BASE_DIR / "var"
RESULTS_DIR = VAR_DIR / "results"
RESULTS_DIR.mkdir(parents=True, exist_ok=True)

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
    "kombu_transport_django",  # the queue tables: migrate creates them
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

# The queues live in the database above: no Redis, no RabbitMQ.
CELERY_BROKER_URL = "django://"
# Results need a store every process can read; Celery's filesystem backend
# needs nothing installed. (A real project might use django-celery-results.)
CELERY_RESULT_BACKEND = f"file://{RESULTS_DIR.as_posix()}"
# Report STARTED too, so the demo can show tasks while they run.
CELERY_TASK_TRACK_STARTED = True
# Keep retrying the broker at startup (and silence Celery 5's warning).
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
