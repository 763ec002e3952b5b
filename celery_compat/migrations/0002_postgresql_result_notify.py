"""PostgreSQL: NOTIFY celery_compat_result, '<task_id>' when a result becomes ready.

``AsyncResult.get()`` LISTENs on this channel (see
``celery_compat.backends.waiting``), so a waiting client wakes when the
worker commits SUCCESS, FAILURE or REVOKED instead of at its next poll.
A trigger rather than a statement in the backend: rows written by any
writer (another process, a real Celery worker pointed at these tables, a
manual UPDATE) wake the waiters too, at commit time, at no extra round trip.
Other vendors have nothing to do here; waiting there polls.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION celery_compat_result_notify() RETURNS trigger AS $$
BEGIN
    IF NEW.status IN ('SUCCESS', 'FAILURE', 'REVOKED') THEN
        PERFORM pg_notify('celery_compat_result', NEW.task_id);
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS celery_compat_taskresult_notify ON {table};
CREATE TRIGGER celery_compat_taskresult_notify
    AFTER INSERT OR UPDATE ON {table}
    FOR EACH ROW EXECUTE FUNCTION celery_compat_result_notify();
"""

DROP = """
DROP TRIGGER IF EXISTS celery_compat_taskresult_notify ON {table};
DROP FUNCTION IF EXISTS celery_compat_result_notify();
"""


def _table(apps, schema_editor):
    model = apps.get_model("celery_compat", "TaskResult")
    return schema_editor.quote_name(model._meta.db_table)


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE.format(table=_table(apps, schema_editor)))


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP.format(table=_table(apps, schema_editor)))


class Migration(migrations.Migration):
    dependencies = [("celery_compat", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
