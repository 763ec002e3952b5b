"""``python manage.py runworker``: ``celery -A proj worker``, with Celery's options.

The app is the project's: in Celery's layout ``proj/__init__.py`` imports
``proj/celery.py``, so after Django's setup it is the current app. ``-A``
names another (``module`` or ``module:attribute``).
"""

from __future__ import annotations

import importlib
import logging
import sys
from typing import Any, Callable

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ... import signals
from ...app import Celery
from ...exceptions import ImproperlyConfigured
from ...utils.log import TaskFormatter
from ...worker import WorkController

POOLS = ("prefork", "processes", "threads", "solo")


def _comma_list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def find_app(path: str) -> Celery:
    """The Celery app at ``module[:attribute]``, found the way ``celery -A`` does."""
    module_name, _, attribute = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise CommandError(f"-A {path}: cannot import module {module_name!r}: {exc}") from exc
    if attribute:
        app = getattr(module, attribute, None)
        if not isinstance(app, Celery):
            raise CommandError(f"-A {path}: {module_name}.{attribute} is not a celery_compat Celery app")
        return app
    for name in ("app", "celery"):
        candidate = getattr(module, name, None)
        if isinstance(candidate, Celery):
            return candidate
    try:
        submodule = importlib.import_module(f"{module_name}.celery")
    except ImportError:
        submodule = None
    for source in (submodule, module):
        if source is None:
            continue
        for value in vars(source).values():
            if isinstance(value, Celery):
                return value
    raise CommandError(
        f"-A {path}: no Celery app found in {module_name!r} (looked for 'app', 'celery', "
        f"'{module_name}.celery' and any Celery instance); name it as -A module:attribute"
    )


def log_level(value: str) -> int:
    if value.isdigit():
        return int(value)
    level = logging.getLevelName(value.upper())
    if not isinstance(level, int):
        raise CommandError(f"--loglevel {value!r}: use DEBUG, INFO, WARNING, ERROR, CRITICAL or FATAL")
    return level


def setup_logging(app: Celery, loglevel: int, logfile: str | None) -> None:
    """Celery's worker logging: root logger and ``celery.task``, unless a receiver takes over."""
    conf = app.conf
    if signals.setup_logging.receivers:
        signals.setup_logging.send(
            sender=None, loglevel=loglevel, logfile=logfile, format=conf.worker_log_format, colorize=False,
        )
        return
    root = logging.getLogger()
    task_logger = logging.getLogger("celery.task")
    for logger in (root, task_logger):
        for handler in list(logger.handlers):
            # Ours from an earlier run in this process (call_command in tests),
            # or anyone's on the root logger when hijacking it as Celery does.
            if getattr(handler, "_runworker", False) or (logger is root and conf.worker_hijack_root_logger):
                logger.removeHandler(handler)
    for logger, fmt in ((root, logging.Formatter(conf.worker_log_format)),
                        (task_logger, TaskFormatter(conf.worker_task_log_format))):
        handler: logging.Handler = logging.FileHandler(logfile) if logfile else logging.StreamHandler(sys.stderr)
        handler.setFormatter(fmt)
        handler._runworker = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
        logger.setLevel(loglevel)
    task_logger.propagate = False
    common = {"loglevel": loglevel, "logfile": logfile, "format": conf.worker_log_format, "colorize": False}
    signals.after_setup_logger.send(sender=None, logger=root, **common)
    signals.after_setup_task_logger.send(
        sender=None, logger=task_logger, **dict(common, format=conf.worker_task_log_format)
    )


class Command(BaseCommand):
    help = (
        "Start a worker running the project's celery_compat tasks (Celery's `celery worker`). "
        "SIGTERM: warm shutdown (running tasks finish); a second signal: cold shutdown."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("-A", "--app", help="the Celery app, module[:attribute] (default: the project's)")
        parser.add_argument("-Q", "--queues", type=_comma_list,
                            help="comma-separated queues to consume (default: task_queues or task_default_queue)")
        parser.add_argument("-X", "--exclude-queues", type=_comma_list, help="queues not to consume")
        parser.add_argument("-c", "--concurrency", type=int, help="child processes/threads (default: CPU count)")
        parser.add_argument("-P", "--pool", choices=POOLS, help="execution pool (default: prefork)")
        parser.add_argument("-l", "--loglevel", default="WARNING", help="DEBUG|INFO|WARNING|ERROR|CRITICAL")
        parser.add_argument("-f", "--logfile", help="log to this file instead of stderr")
        parser.add_argument("-n", "--hostname", help="node name (default celery@%%h; %%h %%n %%d expanded)")
        parser.add_argument("--max-tasks-per-child", type=int, help="replace a child after this many tasks")
        parser.add_argument("--max-memory-per-child", type=int,
                            help="replace a child after a task leaves it above this resident memory (KiB)")
        parser.add_argument("--time-limit", type=float, help="hard time limit per task, seconds (prefork)")
        parser.add_argument("--soft-time-limit", type=float, help="soft time limit per task, seconds (prefork)")
        parser.add_argument("--prefetch-multiplier", type=int,
                            help="messages prefetched per process/thread (default: worker_prefetch_multiplier)")
        parser.add_argument("--until-empty", action="store_true",
                            help="exit (code 0) once the queues are empty and no task runs")
        parser.add_argument("--purge", "--discard", action="store_true", dest="purge",
                            help="delete the waiting messages of the queues before starting")
        parser.add_argument("-B", "--beat", action="store_true", help="also run the periodic task scheduler")
        for flag in ("--without-heartbeat", "--without-gossip", "--without-mingle"):
            # Celery options with nothing to turn off here; accepted so scripts keep working.
            parser.add_argument(flag, action="store_true", help="accepted for Celery compatibility; no effect")
        parser.add_argument("-E", "--task-events", action="store_true",
                            help="accepted for Celery compatibility; the django:// transport has no events")
        parser.add_argument("-O", dest="optimization", choices=("default", "fair"),
                            help="accepted for Celery compatibility: prefork always hands a task to an "
                                 "idle child, which is Celery's 'fair'")
        parser.add_argument("--reload", action="store_true",
                            help="development: restart the worker when a Python module changes "
                                 "(Django's autoreloader; stop it with Ctrl+C)")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["reload"] and options["purge"]:
            raise CommandError("--purge with --reload would purge at every restart: "
                               "purge once with `manage.py celery_compat purge`")
        if options["app"]:
            app = find_app(options["app"])
            app.set_current()
            app.set_default()
        else:
            from ..._state import get_current_app

            app = get_current_app()
        loglevel = log_level(str(options["loglevel"]))
        setup_logging(app, loglevel, options["logfile"])
        worker = WorkController(
            app,
            hostname=options["hostname"],
            queues=options["queues"],
            exclude_queues=options["exclude_queues"],
            concurrency=options["concurrency"],
            pool=options["pool"],
            max_tasks_per_child=options["max_tasks_per_child"],
            max_memory_per_child=options["max_memory_per_child"],
            time_limit=options["time_limit"],
            soft_time_limit=options["soft_time_limit"],
            prefetch_multiplier=options["prefetch_multiplier"],
            until_empty=options["until_empty"],
            loglevel=loglevel,
            logfile=options["logfile"],
            install_signal_handlers=not options["reload"],
        )
        if options["reload"]:
            from ...worker.autoreload import run_with_reload

            # Beat, like the worker, lives in the reloader's child and restarts with it.
            sys.exit(run_with_reload(worker, prepare=lambda: start_beat(worker) if options["beat"] else None))
        try:
            worker.setup()
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from exc
        if options["purge"]:
            with app.connection_for_write() as conn:
                count = sum(queue(conn.default_channel).purge() or 0 for queue in worker.queues)
            if count:  # Celery's worker says nothing when there was nothing to purge
                self.stdout.write(f"purge: Erased {count} message{'' if count == 1 else 's'} from the queue.\n")
        stop_beat = start_beat(worker) if options["beat"] else None
        exitcode = worker.start()
        if stop_beat is not None:
            stop_beat()
        if exitcode:
            sys.exit(exitcode)


def start_beat(worker: WorkController) -> Callable[[], None]:
    """Embed beat in ``worker`` (a thread that ticks once the worker consumes); returns its stopper."""
    from ...beat.service import embed

    try:
        beat = embed(worker)
    except ImproperlyConfigured as exc:
        raise CommandError(f"-B: {exc}") from exc

    def stop() -> None:
        beat.stop()
        beat.join(30)

    return stop
