"""Process tests that do not depend on the database vendor.

The demo (always SQLite, whatever DATABASE_URL says), ``runworker
--reload``, and ``celery_compat inspect`` answered by a real Celery worker.
.ci/run runs them in the SQLite and Django 6 stages and not again on
PostgreSQL and MariaDB, as it does with tests/unit.
"""
