"""``python manage.py import_celery_results``: copy django-celery-results' rows into celery_compat's."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ...cli.import_results import import_celery_results


class Command(BaseCommand):
    help = ("Copy task results, group results and chord counters from django-celery-results' tables "
            "(django_celery_results_*) into celery_compat's, keeping their timestamps. Rows already "
            "here are left alone, so it can run twice. django-celery-results need not be installed.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--database", default=None, help="database alias holding both sets of tables")
        parser.add_argument("--batch-size", type=int, default=1000, help="rows read and written per batch")
        parser.add_argument("--dry-run", action="store_true", help="count what would be copied, change nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            reports = import_celery_results(using=options["database"], batch_size=options["batch_size"],
                                            dry_run=options["dry_run"])
        except LookupError as exc:
            raise CommandError(str(exc)) from exc
        except ValueError as exc:
            raise CommandError(f"--batch-size: {exc}") from exc
        verb = "would copy" if options["dry_run"] else "copied"
        for report in reports:
            line = f"{report.table}: {verb} {report.copied} rows, {report.already_present} already present"
            if report.missing_columns:
                line += f" (not in the source, left at their defaults: {', '.join(report.missing_columns)})"
            self.stdout.write(line)
