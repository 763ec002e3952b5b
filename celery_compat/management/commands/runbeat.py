"""``python manage.py runbeat``: ``celery -A proj beat``, the scheduler alone.

Any number of ``runbeat`` processes and ``runworker -B`` workers may run at
once: each due run is claimed in the database and sent exactly once.
SIGTERM or SIGINT stops it after the current tick.
"""

from __future__ import annotations

import signal
import socket
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ...beat.service import Beat
from ...exceptions import ImproperlyConfigured
from .runworker import find_app, log_level, setup_logging


class Command(BaseCommand):
    help = ("Run the periodic task scheduler (Celery's `celery beat`). Safe to run beside workers started "
            "with -B and other runbeat processes: each due run is sent once.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("-A", "--app", help="the Celery app, module[:attribute] (default: the project's)")
        parser.add_argument("-l", "--loglevel", default="INFO", help="DEBUG|INFO|WARNING|ERROR|CRITICAL")
        parser.add_argument("-f", "--logfile", help="log to this file instead of stderr")
        parser.add_argument("-n", "--hostname", help="name written on the runs it claims (default beat@<host>)")
        parser.add_argument("--max-interval", type=float,
                            help="longest sleep between two ticks, seconds (default: beat_max_loop_interval or 5)")
        parser.add_argument("-S", "--scheduler",
                            help="accepted for Celery compatibility: only celery_compat's database scheduler runs")
        parser.add_argument("-s", "--schedule", help="accepted for Celery compatibility: no schedule file is used")
        parser.add_argument("--pidfile", help="accepted for Celery compatibility; not written")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["app"]:
            app = find_app(options["app"])
            app.set_current()
            app.set_default()
        else:
            from ..._state import get_current_app

            app = get_current_app()
        if options["scheduler"]:
            app.conf.beat_scheduler = options["scheduler"]
        setup_logging(app, log_level(str(options["loglevel"])), options["logfile"])
        app.discover_tasks()
        app.finalize()
        try:
            beat = Beat(app, hostname=options["hostname"] or f"beat@{socket.gethostname()}",
                        max_interval=options["max_interval"])
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from exc
        previous = {sig: signal.signal(sig, lambda signum, frame: beat.stop()) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            beat.run()
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from exc
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
