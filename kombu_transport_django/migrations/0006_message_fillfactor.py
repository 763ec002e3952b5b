"""PostgreSQL: leave a fifth of each page of the message table free.

Each message row is rewritten twice after its insert (the claim, then the
start mark) and then deleted. With room on its page the start mark, which
changes no indexed column (0005), is a HOT update: the new version stays on
the page and no index gets a new entry. At the default fill factor (100) a
freshly filled page has no room, and about one start in nine was not HOT in
``python -m bench.cpu_split``; at 80 nearly all are (docs/benchmarks.md).
It applies to pages written from now on. Other vendors have no such setting.
"""

from django.db import migrations


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE django_kombu_message SET (fillfactor = 80)")


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE django_kombu_message RESET (fillfactor)")


class Migration(migrations.Migration):
    dependencies = [("django_kombu", "0005_message_started_at")]
    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
