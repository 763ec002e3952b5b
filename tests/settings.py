"""Settings for the test suites. DATABASE_URL picks the database.

Worker and consumer subprocesses started by the tests import these same
settings; the parent passes the name of its test database in
``DJANGO_TEST_DB_NAME`` so both sides use the same tables.
"""

import os
from pathlib import Path

from tests.dburl import parse

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"
VAR_DIR.mkdir(exist_ok=True)

DATABASE_URL = os.environ.get("DATABASE_URL", "sqlite:///var/tests.sqlite3")
DATABASES = {"default": parse(DATABASE_URL, BASE_DIR)}
if os.environ.get("TEST_DB_SUFFIX"):
    # Lets several test runs share one server without sharing a database.
    _default = DATABASES["default"]
    _test_name = _default.get("TEST", {}).get("NAME") or f"test_{_default['NAME']}"
    _suffix = os.environ["TEST_DB_SUFFIX"]
    if _default["ENGINE"].endswith("sqlite3"):
        # The suffix goes before the extension: the file keeps the name
        # .gitignore knows (*.sqlite3, *.sqlite3-*) and the folder it was in.
        _path = Path(_test_name)
        _test_name = str(_path.with_name(f"{_path.stem}_{_suffix}{_path.suffix}"))
    else:
        _test_name = f"{_test_name}_{_suffix}"
    _default.setdefault("TEST", {})["NAME"] = _test_name
if os.environ.get("DJANGO_TEST_DB_NAME"):
    DATABASES["default"]["NAME"] = os.environ["DJANGO_TEST_DB_NAME"]

SECRET_KEY = "tests-only-not-secret"
USE_TZ = True
TIME_ZONE = "UTC"
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.admin",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",  # the admin's CSS in the browser test (tests/admin)
    "kombu_transport_django",
    "celery_compat",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
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
ROOT_URLCONF = "tests.urls"
STATIC_URL = "static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"kombu_transport_django": {"handlers": ["console"], "level": "WARNING"}},
}
