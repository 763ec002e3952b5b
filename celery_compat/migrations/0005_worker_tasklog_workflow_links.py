# Worker rows for the admin, TaskResult.log (a task's log lines) and the
# workflow links TaskResult.parent_id/root_id (issue 9).

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("celery_compat", "0004_beat"),
    ]

    operations = [
        migrations.CreateModel(
            name="Worker",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("hostname", models.CharField(help_text="Node name (-n), e.g. celery@host", max_length=255,
                                              unique=True)),
                ("pid", models.PositiveIntegerField()),
                ("pool", models.CharField(max_length=32)),
                ("concurrency", models.PositiveIntegerField()),
                ("queues", models.TextField(blank=True, default="", help_text="Comma-separated queues it consumes")),
                ("started_at", models.DateTimeField()),
                ("heartbeat_at", models.DateTimeField(db_index=True)),
                ("stopped_at", models.DateTimeField(blank=True, null=True)),
                ("processed", models.PositiveBigIntegerField(default=0, help_text="Tasks run since it started")),
                ("active", models.TextField(default="[]")),
            ],
            options={
                "ordering": ["hostname"],
            },
        ),
        migrations.CreateModel(
            name="Dashboard",
            fields=[],
            options={
                "verbose_name": "dashboard",
                "verbose_name_plural": "dashboard",
                "proxy": True,
                "indexes": [],
                "constraints": [],
            },
            bases=("celery_compat.taskresult",),
        ),
        migrations.AddField(
            model_name="taskresult",
            name="log",
            field=models.TextField(default=None, editable=False,
                                   help_text="The last lines the task logged through get_task_logger "
                                             "(CELERY_TASK_LOG_LINES)",
                                   null=True, verbose_name="Task Log"),
        ),
        migrations.AddField(
            model_name="taskresult",
            name="parent_id",
            field=models.CharField(default=None, help_text="ID of the task that published this one",
                                   max_length=255, null=True, verbose_name="Parent ID"),
        ),
        migrations.AddField(
            model_name="taskresult",
            name="root_id",
            field=models.CharField(default=None, help_text="ID of the first task of this workflow",
                                   max_length=255, null=True, verbose_name="Root ID"),
        ),
        migrations.AddIndex(
            model_name="taskresult",
            index=models.Index(fields=["root_id"], name="celery_compat_tr_root"),
        ),
    ]
