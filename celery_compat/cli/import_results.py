"""Copy django-celery-results' rows into celery_compat's result tables.

celery_compat's ``TaskResult``, ``GroupResult`` and ``ChordCounter`` have
django-celery-results' field names and types (see celery_compat/models.py),
so its rows copy over as they are: read through unmanaged mirrors of the
``django_celery_results_*`` tables (django-celery-results need not be
installed), written with their own timestamps. Columns an older
django-celery-results lacks (``date_started``, ``periodic_task_name``…)
get the field's default. Rows whose id is already here are left alone, so
running it twice copies nothing twice. Batches of ``batch_size`` rows keep
each statement short.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.apps.registry import Apps
from django.db import connections, models, router, transaction

#: source table → (our model's name, its unique key)
SOURCES = {
    "django_celery_results_taskresult": ("TaskResult", "task_id"),
    "django_celery_results_groupresult": ("GroupResult", "group_id"),
    "django_celery_results_chordcounter": ("ChordCounter", "group_id"),
}


@dataclass
class Copied:
    """What one table's import did."""

    table: str
    copied: int = 0
    already_present: int = 0
    #: our columns the source table does not have (filled with defaults)
    missing_columns: list[str] = field(default_factory=list)


def our_model(name: str) -> type[models.Model]:
    from .. import models as result_models

    return getattr(result_models, name)


def mirror(model: type[models.Model], table: str, columns: set[str] | None = None) -> type[models.Model]:
    """An unmanaged model over ``table`` with ``model``'s fields that ``table`` has (all by default)."""
    attrs: dict[str, Any] = {"__module__": __name__, "id": models.AutoField(primary_key=True)}
    for f in model._meta.concrete_fields:
        if f.primary_key or (columns is not None and f.column not in columns):
            continue
        clone = f.clone()
        # Reading only: no auto_now/auto_now_add, no unique index to declare.
        for flag in ("auto_now", "auto_now_add"):
            if getattr(clone, flag, False):
                setattr(clone, flag, False)
        attrs[f.name] = clone
    attrs["Meta"] = type("Meta", (), {"db_table": table, "managed": False, "apps": Apps(),
                                       "app_label": "django_celery_results_mirror"})
    return type(f"Mirror_{table}", (models.Model,), attrs)


def import_celery_results(using: str | None = None, batch_size: int = 1000, dry_run: bool = False) -> list[Copied]:
    """Copy every ``django_celery_results_*`` table found in ``using``; one report per table.

    Raises ``LookupError`` when the database has none of them.
    """
    if batch_size < 1:
        raise ValueError(f"batch size {batch_size!r} is invalid: use a whole number of rows, 1 or more")
    db = using or router.db_for_write(our_model("TaskResult"))
    connection = connections[db]
    with connection.cursor() as cursor:
        tables = set(connection.introspection.table_names(cursor))
        present = {t: {c.name for c in connection.introspection.get_table_description(cursor, t)}
                   for t in SOURCES if t in tables}
    if not present:
        raise LookupError(
            f"no django-celery-results tables ({', '.join(SOURCES)}) in database {db!r} "
            f"({connection.settings_dict.get('NAME')}): give the one that holds them with --database"
        )
    return [_copy(table, columns, db, batch_size, dry_run) for table, columns in present.items()]


def _copy(table: str, columns: set[str], db: str, batch_size: int, dry_run: bool) -> Copied:
    model_name, key = SOURCES[table]
    model = our_model(model_name)
    source = mirror(model, table, columns)
    names = [f.name for f in source._meta.concrete_fields if not f.primary_key]
    report = Copied(table, missing_columns=sorted(
        f.column for f in model._meta.concrete_fields if not f.primary_key and f.column not in columns))
    target_fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    last = None
    while True:
        rows = source.objects.using(db).order_by("pk")
        if last is not None:
            rows = rows.filter(pk__gt=last)
        batch = list(rows.values("pk", *names)[:batch_size])
        if not batch:
            return report
        last = batch[-1]["pk"]
        keys = [row[key] for row in batch]
        existing = set(model._default_manager.using(db).filter(**{f"{key}__in": keys}).values_list(key, flat=True))
        new = [model(**{n: row[n] for n in names}) for row in batch if row[key] not in existing]
        report.already_present += len(batch) - len(new)
        report.copied += len(new)
        if new and not dry_run:
            with transaction.atomic(using=db):
                # raw=True: the rows keep their own date_created/date_done
                # (auto_now would stamp them with the time of the import).
                model._default_manager.using(db)._insert(new, fields=target_fields, raw=True, using=db)
        if len(batch) < batch_size:
            return report
