"""``python manage.py celery_compat <subcommand>``: look at and tidy the queues.

    status [--watch]                       queues, workers, throughput (from the tables)
    inspect active|scheduled|reserved|…    ask the workers over the pidbox, as `celery inspect`
    purge [-f] [-Q q1,q2] [-X q3]          delete waiting messages, as `celery purge`
    prune [--results AGE] [--dead AGE] [--workers AGE]
                                           delete old results, dead messages and gone workers, in batches
"""

from __future__ import annotations

import sys
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ...cli import prune as prune_mod
from ...cli import remote, status
from ...cli.durations import humanize, parse_age


def _comma_list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def _age(value: str) -> Any:
    import argparse

    try:
        return parse_age(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


class Command(BaseCommand):
    help = "Status, inspect, purge and prune for celery_compat and the django:// transport."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("-A", "--app", help="the Celery app, module[:attribute] (default: the project's)")
        sub = parser.add_subparsers(dest="subcommand", required=True, metavar="{status,inspect,purge,prune}")

        p = sub.add_parser("status", help="queues, workers, rates and the oldest waiting message")
        p.add_argument("-w", "--watch", action="store_true", help="refresh until Ctrl+C")
        p.add_argument("-i", "--interval", type=float, default=2.0, help="seconds between refreshes (--watch)")
        p.add_argument("--iterations", type=int, default=None, help="stop --watch after this many refreshes")
        p.add_argument("--all-queues", action="store_true", help="include remote-control (pidbox) queues")
        p.add_argument("-j", "--json", action="store_true", help="print one JSON object")
        p.add_argument("--plain", action="store_true", help="plain text even when rich is installed")

        p = sub.add_parser("inspect", help="ask the workers (celery inspect)")
        p.add_argument("method", choices=sorted(remote.COMMANDS), metavar="COMMAND",
                       help="; ".join(f"{name}: {text}" for name, text in remote.COMMANDS.items()))
        p.add_argument("arguments", nargs="*", help="arguments of the command (query_task: task ids)")
        p.add_argument("-t", "--timeout", type=float, default=1.0, help="seconds to wait for replies")
        p.add_argument("-d", "--destination", type=_comma_list, help="comma-separated node names")
        p.add_argument("-j", "--json", action="store_true", help="print the replies as JSON")

        p = sub.add_parser("purge", help="erase the waiting messages of the task queues (celery purge)")
        p.add_argument("-f", "--force", action="store_true", help="don't prompt for verification")
        p.add_argument("-Q", "--queues", type=_comma_list, help="comma-separated queues to purge")
        p.add_argument("-X", "--exclude-queues", type=_comma_list, help="comma-separated queues not to purge")

        p = sub.add_parser("prune", help="delete old results, dead messages and gone workers, in batches")
        p.add_argument("--results", type=_age, metavar="AGE",
                       help="results finished more than AGE ago (e.g. 7d, 12h; default: result_expires)")
        p.add_argument("--dead", type=_age, metavar="AGE", default=parse_age("7d"),
                       help="dead messages created more than AGE ago (default: 7d)")
        p.add_argument("--workers", type=_age, metavar="AGE", default=parse_age("7d"),
                       help="worker registry rows not heard from for AGE (default: 7d)")
        p.add_argument("--no-results", action="store_true", help="leave results alone")
        p.add_argument("--no-dead", action="store_true", help="leave dead messages alone")
        p.add_argument("--no-workers", action="store_true", help="leave the worker registry alone")
        p.add_argument("--batch-size", type=int, default=prune_mod.DEFAULT_BATCH_SIZE, help="rows per DELETE batch")
        p.add_argument("-n", "--dry-run", action="store_true", help="count only, delete nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        app = self._app(options.get("app"))
        getattr(self, f"_{options['subcommand']}")(app, options)

    def _app(self, path: str | None) -> Any:
        if path:
            from .runworker import find_app

            return find_app(path)
        from ..._state import get_current_app

        return get_current_app()

    # -- status ------------------------------------------------------------------------

    def _status(self, app: Any, options: dict[str, Any]) -> None:
        def snapshot() -> status.Status:
            return status.collect(app, control_queues=options["all_queues"])

        if options["json"]:
            import json

            self.stdout.write(json.dumps(snapshot().as_dict(), default=str))
            return
        if not options["watch"]:
            self.stdout.write(status.render_text(snapshot()))
            return
        if options["interval"] <= 0:
            raise CommandError(f"--interval {options['interval']!r}: use a number of seconds greater than 0")
        rich = None if options["plain"] else _rich_console(self.stdout)
        try:
            if rich is not None:
                self._watch_rich(rich, snapshot, options)
            else:
                self._watch_plain(snapshot, options)
        except KeyboardInterrupt:
            pass

    def _watch_plain(self, snapshot: Any, options: dict[str, Any]) -> None:
        clear = self.stdout.isatty()
        count = 0
        while True:
            text = status.render_text(snapshot())
            self.stdout.write(("\x1b[2J\x1b[H" if clear else "") + text + ("" if clear else "\n"))
            self.stdout.flush()
            count += 1
            if options["iterations"] is not None and count >= options["iterations"]:
                return
            time.sleep(options["interval"])

    def _watch_rich(self, console: Any, snapshot: Any, options: dict[str, Any]) -> None:
        from rich.live import Live

        count = 0
        with Live(status.render_rich(snapshot()), console=console, auto_refresh=False) as live:
            while True:
                count += 1
                if options["iterations"] is not None and count >= options["iterations"]:
                    return
                time.sleep(options["interval"])
                live.update(status.render_rich(snapshot()), refresh=True)

    # -- inspect -------------------------------------------------------------------------

    def _inspect(self, app: Any, options: dict[str, Any]) -> None:
        try:
            replies = remote.request(app, options["method"], timeout=options["timeout"],
                                     destination=options["destination"], arguments=options["arguments"])
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        except Exception as exc:
            raise CommandError(f"Unable to run the `inspect {options['method']}` command. Reason: {exc}",
                               returncode=remote.EX_UNAVAILABLE) from exc
        if not replies:
            raise CommandError("No nodes replied within time constraint", returncode=remote.EX_UNAVAILABLE)
        self.stdout.write(remote.format_json(replies) if options["json"] else remote.format_replies(replies))

    # -- purge ---------------------------------------------------------------------------

    def _purge(self, app: Any, options: dict[str, Any]) -> None:
        names = set(options["queues"] or app.router.queues.keys()) - set(options["exclude_queues"] or ())
        if not names:
            self.stdout.write("No queues to purge.")
            return
        headline = f"{len(names)} {'queue' if len(names) == 1 else 'queues'}"
        if not options["force"]:
            self.stdout.write(
                f"WARNING: This will remove all tasks from {headline}: {', '.join(sorted(names))}.\n"
                "         There is no undo for this operation!\n\n"
                "(to skip this prompt use the -f option)"
            )
            if not self._confirm("Are you sure you want to delete all tasks?"):
                raise CommandError("Aborted!")
        with app.connection_for_write() as conn:
            channel = conn.default_channel
            messages = sum(channel.queue_purge(name) or 0 for name in sorted(names))
        if messages:
            self.stdout.write(f"Purged {messages} {'message' if messages == 1 else 'messages'} "
                              f"from {len(names)} known task {headline.split(' ', 1)[1]}.")
        else:
            self.stdout.write(f"No messages purged from {headline}.")

    def _confirm(self, question: str) -> bool:
        """Celery's click.confirm: yes only on y/yes; no answer (EOF) is no."""
        self.stdout.write(f"{question} [y/N]: ", ending="")
        self.stdout.flush()
        try:
            answer = sys.stdin.readline()
        except (EOFError, OSError):
            return False
        return answer.strip().lower() in ("y", "yes")

    # -- prune ---------------------------------------------------------------------------

    def _prune(self, app: Any, options: dict[str, Any]) -> None:
        import datetime as dt

        results_age = None
        if not options["no_results"]:
            results_age = options["results"]
            if results_age is None:
                expires = app.conf.result_expires
                if not expires:
                    raise CommandError("result_expires is not set: give the age with --results AGE (e.g. 7d)")
                results_age = expires if isinstance(expires, dt.timedelta) else dt.timedelta(seconds=expires)
        dead_age = None if options["no_dead"] else options["dead"]
        workers_age = None if options["no_workers"] else options["workers"]
        database = status._transport_options(app).database
        try:
            pruned = prune_mod.prune(results_older_than=results_age, dead_older_than=dead_age,
                                     workers_older_than=workers_age,
                                     batch_size=options["batch_size"], dry_run=options["dry_run"],
                                     broker_database=database)
        except ValueError as exc:
            raise CommandError(f"--batch-size: {exc}") from None
        verb = "Would delete" if options["dry_run"] else "Deleted"
        if results_age is not None:
            self.stdout.write(
                f"{verb} {pruned.task_results} task results, {pruned.group_results} group results and "
                f"{pruned.chord_counters} chord counters older than {humanize(results_age)}."
            )
        if dead_age is not None:
            self.stdout.write(f"{verb} {pruned.dead_messages} dead messages older than {humanize(dead_age)}.")
        if workers_age is not None:
            self.stdout.write(f"{verb} {pruned.workers} workers not heard from for {humanize(workers_age)}.")


def _rich_console(stdout: Any) -> Any:
    """A rich console on a terminal; None (plain text) without rich or without a terminal."""
    try:
        from rich.console import Console
    except ImportError:
        return None
    if not stdout.isatty():
        return None
    return Console(file=stdout._out if hasattr(stdout, "_out") else sys.stdout)
