"""PostgreSQL: NOTIFY a ready result only when somebody waits for it.

Migration 0002's trigger notified for every ready result. A ``NOTIFY``
costs its committing transaction a lock and a queue entry: 8-11% of a
worker's throughput with results stored (docs/benchmarks.md), paid for
every task although most results are never waited for. ``AsyncResult.get()``
now registers the task ids it waits for in ``celery_compat_resultwaiter``
(see ``celery_compat.backends.waiting``) and the trigger notifies only for
those. An UNLOGGED table: registrations live for one wait and need no WAL;
after a server crash the table is empty, and a waiter that lost its row
still reads at its interval.
"""

from django.db import migrations

CREATE = """
CREATE UNLOGGED TABLE IF NOT EXISTS celery_compat_resultwaiter (
    task_id varchar(255) NOT NULL,
    waiter varchar(32) NOT NULL,
    since timestamp with time zone NOT NULL DEFAULT now(),
    PRIMARY KEY (task_id, waiter)
);
CREATE OR REPLACE FUNCTION celery_compat_result_notify() RETURNS trigger AS $$
BEGIN
    IF NEW.status IN ('SUCCESS', 'FAILURE', 'REVOKED')
            AND EXISTS (SELECT 1 FROM celery_compat_resultwaiter WHERE task_id = NEW.task_id) THEN
        PERFORM pg_notify('celery_compat_result', NEW.task_id);
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
"""

DROP = """
CREATE OR REPLACE FUNCTION celery_compat_result_notify() RETURNS trigger AS $$
BEGIN
    IF NEW.status IN ('SUCCESS', 'FAILURE', 'REVOKED') THEN
        PERFORM pg_notify('celery_compat_result', NEW.task_id);
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
DROP TABLE IF EXISTS celery_compat_resultwaiter;
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("celery_compat", "0005_worker_tasklog_workflow_links")]
    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
