"""Process tests that do not depend on the database vendor.

The demo (always SQLite, whatever DATABASE_URL says), ``runworker
--reload``, and ``celery_compat inspect`` answered by a real Celery worker.
.ci/run runs them once, in the SQLite stage (not again on PostgreSQL,
MariaDB or Django 6).
"""
