"""PostgreSQL: NOTIFY django_kombu, '<queue>' whenever a message becomes ready.

A trigger rather than a statement in ``_put``: every path that makes a row
ready (publish, bulk insert, requeue, a reaped lease, a real Celery producer)
wakes the consumers, at commit time, at no extra round trip. PostgreSQL folds
identical notifications of one transaction, so a bulk publish sends one per
queue. Other vendors have nothing to do here.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION django_kombu_notify() RETURNS trigger AS $$
BEGIN
    IF NEW.status = 0 THEN
        PERFORM pg_notify('django_kombu', NEW.queue);
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS django_kombu_message_notify ON django_kombu_message;
CREATE TRIGGER django_kombu_message_notify
    AFTER INSERT OR UPDATE OF status ON django_kombu_message
    FOR EACH ROW EXECUTE FUNCTION django_kombu_notify();
"""

DROP = """
DROP TRIGGER IF EXISTS django_kombu_message_notify ON django_kombu_message;
DROP FUNCTION IF EXISTS django_kombu_notify();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("django_kombu", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
