"""``python manage.py import_celery_beat``: copy django-celery-beat's periodic tasks into celery_compat's."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ...beat.legacy import import_celery_beat


class Command(BaseCommand):
    help = ("Copy the periodic tasks of django-celery-beat's tables (django_celery_beat_*) and their "
            "schedules into celery_compat's. Tasks are matched by name; last_run_at and total_run_count "
            "are kept. django-celery-beat need not be installed.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--database", default=None, help="database alias holding both sets of tables")
        parser.add_argument("--no-overwrite", action="store_true",
                            help="keep periodic tasks that already exist here (default: overwrite by name)")
        parser.add_argument("--dry-run", action="store_true", help="report what would be copied, change nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            report = import_celery_beat(using=options["database"], overwrite=not options["no_overwrite"],
                                        dry_run=options["dry_run"])
        except LookupError as exc:
            raise CommandError(str(exc)) from exc
        prefix = "would copy" if options["dry_run"] else "copied"
        self.stdout.write(f"{prefix} {len(report.created)} new and {len(report.updated)} existing periodic tasks")
        for name in report.created:
            self.stdout.write(f"  + {name}")
        for name in report.updated:
            self.stdout.write(f"  ~ {name}")
        for name, reason in report.skipped.items():
            self.stderr.write(f"  skipped {name!r}: {reason}")
