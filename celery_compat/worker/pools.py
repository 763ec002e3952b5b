"""Execution pools: ``solo`` (in the consumer thread) and ``threads``.

A pool receives :class:`~.request.Request` objects from the consumer and
reports back through a :class:`PoolHandler` (the consumer): ``on_start``
just before a task runs (it may veto a revoked or expired request, and acks
early), ``on_done`` when it ran, and ``on_lost`` when the process running it
died (prefork only, see :mod:`.prefork`).
"""

from __future__ import annotations

import itertools
import logging
import os
import queue
import threading
from typing import TYPE_CHECKING, Any, Protocol

from .execution import Job, Outcome, execute, task_connections
from .settle import settle_blocking

if TYPE_CHECKING:
    from ..app import Celery
    from .request import Request

logger = logging.getLogger("celery.worker.pool")


class PoolHandler(Protocol):
    """What a pool calls back; implemented by the consumer."""

    def on_start(self, request: Request, pid: int, runner_starts: bool = False, queued: bool = False) -> bool:
        """Called just before ``request`` runs; False means skip it.

        ``runner_starts``: the runner will start it with ``request.start_ticket``
        (if set) and call :meth:`on_not_started` if that refuses.
        ``queued``: it may start later; the pool calls :meth:`on_begin` when
        it does, or :meth:`on_returned` / :meth:`on_cancelled` if it never does.
        """

    def on_begin(self, request: Request, pid: int) -> None:
        """A request handed over with ``on_start(queued=True)`` starts now."""

    def on_returned(self, request: Request) -> None:
        """A request handed over with ``on_start(queued=True)`` was not started: give it back."""

    def on_cancelled(self, request: Request) -> None:
        """A request handed over with ``on_start(queued=True)`` was revoked before it started."""

    def on_not_started(self, request: Request, error: str | None) -> None:
        """The runner's start ticket refused ``request`` (``error``: it raised); it did not run."""

    def on_done(self, request: Request, outcome: Outcome) -> None:
        """Called after ``request`` ran, in the thread that ran it."""

    def on_lost(self, request: Request, exc: BaseException, timed_out: bool) -> None:
        """Called when the process running ``request`` died (prefork)."""

    def abandon(self, request: Request) -> None:
        """Called when the pool failed to start or settle ``request``."""


class BasePool:
    """A pool of ``concurrency`` executors; subclasses say how tasks run."""

    name = "base"
    #: whether ``terminate_job`` can stop a running task (``revoke(terminate=True)``)
    can_terminate = False

    def __init__(self, app: Celery, handler: PoolHandler, concurrency: int, **options: Any) -> None:
        self.app = app
        self.handler = handler
        self.concurrency = max(1, int(concurrency))
        self.options = options
        self._job_numbers = itertools.count()

    def make_job(self, request: Request) -> Job:
        return Job(
            number=next(self._job_numbers),
            task_name=request.type,
            task_id=request.id,
            display_name=request.name,
            args=request.args,
            kwargs=request.kwargs,
            request_dict=request.request_dict,
            start=request.start_ticket,
        )

    def start(self) -> None:
        """Start the executors."""

    def apply_async(self, request: Request) -> None:
        """Run ``request`` now or as soon as an executor is free."""
        raise NotImplementedError

    def stop(self) -> None:
        """Warm stop: wait for running tasks; queued ones are not started."""

    def terminate(self) -> None:
        """Cold stop: running tasks are abandoned."""

    def cancel(self, task_ids: set[str]) -> None:
        """Revoked: requests of ``task_ids`` handed to an executor but not started must not start.

        Only the prefork pool hands a child its next job before the current
        one ends; in the others a request starts when it is handed over.
        """

    def terminate_job(self, request: Request, signum: int) -> None:
        raise NotImplementedError(
            f"The {self.name} pool cannot terminate a running task; use the prefork pool "
            f"(-P prefork) for revoke(terminate=True)."
        )

    @property
    def processes(self) -> list[int]:
        return [os.getpid()]

    def info(self) -> dict[str, Any]:
        """``inspect().stats()['pool']``."""
        return {
            "implementation": f"{type(self).__module__}:{type(self).__name__}",
            "max-concurrency": self.concurrency,
            "processes": self.processes,
            "max-tasks-per-child": self.options.get("max_tasks_per_child"),
            "put-guarded-by-semaphore": False,
            "timeouts": [self.options.get("soft_time_limit"), self.options.get("time_limit")],
        }


def run_here(pool: BasePool, request: Request) -> None:
    """Run ``request`` in the calling thread, with the handler's callbacks."""
    if not pool.handler.on_start(request, os.getpid()):
        return
    job = pool.make_job(request)
    with task_connections():
        outcome = execute(pool.app, job)
        # Acks (acks_late) on this thread's connection, before it is closed.
        settle_blocking(pool.handler.on_done, request, outcome)


class SoloPool(BasePool):
    """Runs each task in the consumer's own thread, one at a time."""

    name = "solo"

    def __init__(self, app: Celery, handler: PoolHandler, concurrency: int = 1, **options: Any) -> None:
        super().__init__(app, handler, 1, **options)

    def apply_async(self, request: Request) -> None:
        run_here(self, request)


class ThreadPool(BasePool):
    """``concurrency`` threads taking requests from one queue.

    Not ``concurrent.futures``: each thread must close its own Django
    connections when it ends, or they stay open until garbage collection.
    """

    name = "threads"

    def __init__(self, app: Celery, handler: PoolHandler, concurrency: int, **options: Any) -> None:
        super().__init__(app, handler, concurrency, **options)
        self._queue: queue.SimpleQueue[Request | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for index in range(self.concurrency):
            thread = threading.Thread(
                target=self._work, name=f"ThreadPoolExecutor-0_{index}", daemon=True,
            )
            thread.start()
            self._threads.append(thread)

    def _work(self) -> None:
        from django.db import connections

        try:
            while True:
                request = self._queue.get()
                if request is None:
                    return
                try:
                    run_here(self, request)
                except Exception:
                    logger.exception("Pool thread failed running %r", request)
                    self.handler.abandon(request)
        finally:
            connections.close_all()

    def apply_async(self, request: Request) -> None:
        self._queue.put(request)

    def stop(self) -> None:
        # Requests still queued are vetoed by on_start (the worker is
        # stopping), so they stay unacked and go back with the connection.
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join()
        self._threads.clear()

    def terminate(self) -> None:
        # Threads cannot be killed: they are daemons and die with the process.
        self._threads.clear()


def create_pool(name: str, app: Celery, handler: PoolHandler, concurrency: int, **options: Any) -> BasePool:
    """The pool called ``name`` (``prefork``/``processes``, ``threads``, ``solo``)."""
    if name in ("prefork", "processes"):
        from .prefork import PreforkPool

        return PreforkPool(app, handler, concurrency, **options)
    if name == "threads":
        return ThreadPool(app, handler, concurrency, **options)
    if name == "solo":
        return SoloPool(app, handler, concurrency, **options)
    raise ValueError(
        f"Unknown pool {name!r}: celery_compat's worker has prefork, threads and solo "
        f"(eventlet and gevent are not supported)."
    )
