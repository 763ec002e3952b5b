"""``WorkController``: one worker: its settings, pool, consumer and lifecycle.

Start-up follows Celery's order of signals: ``celeryd_init`` → task modules
imported (``import_modules``) → ``worker_init`` → ``celeryd_after_setup`` →
pool started (``worker_process_init`` in each prefork child) → connected →
``worker_ready``. Shutdown: ``worker_shutting_down`` (from the signal
handler) → running tasks finish → ``worker_process_shutdown`` in children →
connection closed → ``worker_shutdown``.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from typing import TYPE_CHECKING, Any, Iterable

from .. import signals
from ..exceptions import WorkerTerminate
from .consumer import Consumer
from .pools import BasePool, create_pool
from .registry import WorkerRegistry
from .shutdown import EX_FAILURE, ShutdownHandlers
from .state import WorkerState

if TYPE_CHECKING:
    from kombu import Queue

    from ..app import Celery

logger = logging.getLogger("celery.worker")


def nodename(name: str | None = None, hostname: str | None = None) -> str:
    """Celery's node name: ``celery@<host>`` by default; ``%h``, ``%n``, ``%d`` expanded."""
    host = hostname or socket.gethostname()
    short, _, domain = host.partition(".")
    if not name:
        return f"celery@{host}"
    expanded = (
        name.replace("%%", "\0").replace("%h", host).replace("%n", short)
        .replace("%d", domain).replace("\0", "%")
    )
    return expanded if "@" in expanded else f"celery@{expanded}"


def anon_nodename() -> str:
    """``gen<pid>@<host>``: the name of an embedded (test) worker."""
    return f"gen{os.getpid()}@{socket.gethostname()}"


def select_queues(app: Celery, names: Iterable[str] | None = None,
                  exclude: Iterable[str] | None = None) -> list[Queue]:
    """The queues to consume: ``names`` (created if missing), else every declared one."""
    declared = app.router.queues
    chosen = [declared[name] for name in names] if names else list(declared.values())
    excluded = set(exclude or ())
    return [queue for queue in chosen if queue.name not in excluded]


class WorkController:
    """A worker: consumes ``queues`` and runs their tasks in a pool.

    Arguments default to the app's settings (``worker_concurrency``,
    ``worker_pool``, ``worker_prefetch_multiplier``, ``task_time_limit``…),
    then to Celery's defaults (``disable_rate_limits``:
    ``worker_disable_rate_limits``). ``until_empty`` makes :meth:`start` return
    once the queues are empty and no task runs; ``deadline`` (seconds)
    bounds a run (``timed_out`` tells whether it was reached).
    """

    def __init__(
        self,
        app: Celery,
        hostname: str | None = None,
        queues: Iterable[str] | None = None,
        exclude_queues: Iterable[str] | None = None,
        concurrency: int | None = None,
        pool: str | None = None,
        max_tasks_per_child: int | None = None,
        max_memory_per_child: int | None = None,
        time_limit: float | None = None,
        soft_time_limit: float | None = None,
        prefetch_multiplier: int | None = None,
        until_empty: bool = False,
        install_signal_handlers: bool = True,
        enable_remote_control: bool | None = None,
        disable_rate_limits: bool | None = None,
        deadline: float | None = None,
        **options: Any,
    ) -> None:
        self.app = app
        conf = app.conf
        self.hostname = nodename(hostname)
        self.pool_name = pool or conf.worker_pool or "prefork"
        concurrency = concurrency or conf.worker_concurrency or os.cpu_count() or 1
        self.concurrency = 1 if self.pool_name == "solo" else int(concurrency)
        multiplier = conf.worker_prefetch_multiplier if prefetch_multiplier is None else prefetch_multiplier
        #: 0 means "no limit", as in Celery
        self.prefetch_count = self.concurrency * max(0, int(multiplier))
        self.queue_names = list(queues or ())
        self.exclude_queues = list(exclude_queues or ())
        self.until_empty = until_empty
        self.install_signal_handlers = install_signal_handlers
        self.enable_remote_control = (
            conf.worker_enable_remote_control if enable_remote_control is None else enable_remote_control
        )
        #: ``worker_disable_rate_limits``: ignore every task's ``rate_limit``
        self.disable_rate_limits = bool(
            conf.worker_disable_rate_limits if disable_rate_limits is None else disable_rate_limits
        )
        self.pool_options = {
            "max_tasks_per_child": max_tasks_per_child or conf.worker_max_tasks_per_child,
            "max_memory_per_child": max_memory_per_child or conf.worker_max_memory_per_child,
            "time_limit": time_limit if time_limit is not None else conf.task_time_limit,
            "soft_time_limit": soft_time_limit if soft_time_limit is not None else conf.task_soft_time_limit,
        }
        self.options = options
        self.state = WorkerState()
        #: set once a stop was asked for (signal, remote shutdown, deadline)
        self.stopping = False
        self.exitcode = 0
        self.timed_out = False
        #: set once connected and consuming (``worker_ready``)
        self.ready = threading.Event()
        self._deadline = time.monotonic() + deadline if deadline is not None else None
        self.queues: list[Queue] = []
        self.pool: BasePool | None = None
        self.consumer: Consumer | None = None

    # -- control from outside ------------------------------------------------------

    def request_stop(self, exitcode: int = 0) -> None:
        """Warm stop: finish running tasks, give prefetched messages back."""
        if not self.stopping:
            self.stopping = True
            self.exitcode = exitcode

    def check_deadline(self) -> None:
        """Stop (code 1) past the ``deadline``, or if the pool can no longer run tasks."""
        if self.stopping:
            return
        if self._deadline is not None and time.monotonic() > self._deadline:
            self.timed_out = True
            self.request_stop(EX_FAILURE)
        elif getattr(self.pool, "broken", False):
            logger.critical("The %s pool is broken: stopping the worker", self.pool_name)
            self.request_stop(EX_FAILURE)

    def sleep(self, seconds: float) -> None:
        """Sleep, waking early when a stop is requested."""
        end = time.monotonic() + seconds
        while not self.stopping and time.monotonic() < end:
            time.sleep(min(0.1, end - time.monotonic()))
            self.check_deadline()

    # -- lifecycle ---------------------------------------------------------------------

    def setup(self) -> None:
        """Import task modules, finalize the app, build pool and consumer."""
        app = self.app
        signals.celeryd_init.send(sender=self.hostname, instance=self, conf=app.conf, options=self.options)
        app.discover_tasks()
        app.finalize()
        signals.import_modules.send(sender=app)
        self.queues = select_queues(app, self.queue_names, self.exclude_queues)
        signals.worker_init.send(sender=self)
        self.pool = create_pool(self.pool_name, app, _Handler(self), self.concurrency, **self.pool_options)
        self.consumer = Consumer(self)
        signals.celeryd_after_setup.send(sender=self.hostname, instance=self, conf=app.conf)
        logger.info(
            "worker %s: pool=%s concurrency=%s prefetch=%s queues=%s tasks=%s",
            self.hostname, self.pool_name, self.concurrency, self.prefetch_count,
            ",".join(q.name for q in self.queues), len(app.tasks.regular()),
        )

    def start(self) -> int:
        """Run until stopped; returns the exit code (0 after a warm shutdown)."""
        handlers = ShutdownHandlers(self)
        if self.install_signal_handlers:
            handlers.install()
        registry: WorkerRegistry | None = None
        try:
            if self.consumer is None:
                self.setup()
            assert self.pool is not None and self.consumer is not None
            try:
                self.pool.start()
                # After the pool: prefork's fork server must be forked before any thread starts.
                registry = self._start_registry()
                self.consumer.run()
            except WorkerTerminate:
                raise
            except Exception:
                logger.critical("Unrecoverable error in the worker", exc_info=True)
                self.exitcode = EX_FAILURE
            self.stopping = True
            self._stop_warm()
        except WorkerTerminate as exc:
            self.exitcode = exc.code if isinstance(exc.code, int) else EX_FAILURE
            self._stop_cold()
        finally:
            if registry is not None:
                registry.stop()
            signals.worker_shutdown.send(sender=self)
            handlers.restore()
            # This thread's Django connections (the consumer's, the solo
            # tasks'): a worker run in a thread must not leave them open.
            _close_connections()
        return self.exitcode

    def _stop_warm(self) -> None:
        assert self.pool is not None and self.consumer is not None
        self.consumer.cancel_task_consumer()
        self.pool.stop()
        self.state.forget_waiting()  # never started: back to the queue at close
        self.consumer.close()

    def _stop_cold(self) -> None:
        if self.pool is not None:
            try:
                self.pool.terminate()
            except Exception:
                logger.exception("Error terminating the pool")
        if self.consumer is not None:
            self.consumer.close()

    def stop(self) -> None:
        """Ask a worker running in another thread to stop (warm)."""
        self.request_stop(0)

    def _start_registry(self) -> WorkerRegistry | None:
        """Start writing this worker's ``Worker`` row (for the admin), unless ``registry=False``.

        ``testing.drain`` turns it off: it runs inside a test's transaction.
        """
        if not self.options.get("registry", True):
            return None
        registry = WorkerRegistry(self)
        registry.start()
        return registry

    def __repr__(self) -> str:
        return f"<Worker: {self.hostname} ({self.pool_name})>"


def _close_connections() -> None:
    from django.db import connections

    for conn in connections.all(initialized_only=True):
        if not conn.in_atomic_block:
            conn.close()


class _Handler:
    """Forwards pool callbacks to the consumer (built after the pool)."""

    def __init__(self, worker: WorkController) -> None:
        self.worker = worker

    @property
    def consumer(self) -> Any:
        assert self.worker.consumer is not None
        return self.worker.consumer

    def on_start(self, request: Any, pid: int, runner_starts: bool = False, queued: bool = False) -> bool:
        return self.consumer.on_start(request, pid, runner_starts, queued)

    def on_begin(self, request: Any, pid: int) -> None:
        self.consumer.on_begin(request, pid)

    def on_returned(self, request: Any) -> None:
        self.consumer.on_returned(request)

    def on_cancelled(self, request: Any) -> None:
        self.consumer.on_cancelled(request)

    def on_not_started(self, request: Any, error: str | None) -> None:
        self.consumer.on_not_started(request, error)

    def on_done(self, request: Any, outcome: Any) -> None:
        self.consumer.on_done(request, outcome)

    def on_lost(self, request: Any, exc: BaseException, timed_out: bool) -> None:
        self.consumer.on_lost(request, exc, timed_out)

    def abandon(self, request: Any) -> None:
        self.consumer.abandon(request)


Worker = WorkController
