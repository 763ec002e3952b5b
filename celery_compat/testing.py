"""Running tasks in tests: step the worker by hand, or run one in a thread.

``drain(app)`` runs a solo worker in the calling thread until the queues are
empty and no task runs (``runworker --until-empty``), so a test publishes,
drains, then asserts, without sleeps. ``start_worker(app)`` is Celery's
``celery.contrib.testing.worker.start_worker``: a worker in a background
thread for the duration of a ``with`` block.

Both consume through the ``django://`` transport, which claims and acks in
its own transactions: use them in ``TransactionTestCase`` /
``@pytest.mark.django_db(transaction=True)`` tests, where published messages
are committed and visible.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Iterable, Iterator

from .worker import WorkController, anon_nodename

if TYPE_CHECKING:
    from .app import Celery

__all__ = ["drain", "start_worker"]


def _app(app: Celery | None) -> Celery:
    if app is not None:
        return app
    from ._state import get_current_app

    return get_current_app()


def drain(app: Celery | None = None, queues: Iterable[str] | None = None, timeout: float = 10.0,
          **options: Any) -> int:
    """Run the tasks waiting in ``queues`` (default: all the app's) until none is left.

    Tasks published by the tasks themselves (retries, chains, callbacks) run
    too, including ones with a countdown: the queues count as empty only
    when no message is left at all. Runs in this thread, with the solo pool
    and without remote control; ``options`` go to
    :class:`~celery_compat.worker.WorkController`.

    Returns:
        The number of tasks run (revoked and expired ones are not counted).

    Raises:
        TimeoutError: the queues were still not empty after ``timeout`` seconds.
    """
    app = _app(app)
    options.setdefault("hostname", anon_nodename())
    options.setdefault("enable_remote_control", False)
    options.setdefault("registry", False)  # no Worker row: drain runs inside the caller's transaction
    worker = WorkController(
        app, queues=queues, pool="solo", until_empty=True, install_signal_handlers=False,
        deadline=timeout, **options,
    )
    worker.start()
    if worker.timed_out:
        names = ", ".join(queue.name for queue in worker.queues)
        raise TimeoutError(
            f"drain(): queues {names} still had messages or running tasks after {timeout}s; "
            f"raise timeout=, or check for tasks with a long countdown/retry delay."
        )
    return sum(worker.state.total.values())


@contextmanager
def start_worker(
    app: Celery,
    concurrency: int = 1,
    pool: str = "solo",
    loglevel: Any = "WARNING",
    logfile: str | None = None,
    perform_ping_check: bool = True,
    ping_task_timeout: float = 10.0,
    shutdown_timeout: float = 10.0,
    **kwargs: Any,
) -> Iterator[WorkController]:
    """Celery's embedded test worker: runs in a daemon thread inside the ``with``.

    With ``perform_ping_check`` the ``celery.ping`` task must round-trip
    (through the result backend) before the block starts. On exit the
    worker stops warm; ``RuntimeError`` if it takes longer than
    ``shutdown_timeout`` seconds.
    """
    from .result import allow_join_result

    app.finalize()
    app.set_current()
    app.set_default()
    if perform_ping_check:
        assert "celery.ping" in app.tasks
    kwargs.setdefault("hostname", anon_nodename())
    worker = WorkController(app, concurrency=concurrency, pool=pool, install_signal_handlers=False, **kwargs)
    worker.setup()
    failure: list[BaseException] = []

    def run() -> None:
        try:
            worker.start()
        except BaseException as exc:  # surfaced in the test's thread below
            failure.append(exc)
        finally:
            worker.ready.set()

    thread = threading.Thread(target=run, name=f"start_worker-{worker.hostname}", daemon=True)
    thread.start()
    worker.ready.wait(shutdown_timeout)
    if failure or not thread.is_alive():
        raise RuntimeError(f"The test worker failed to start: {failure[0] if failure else 'it exited'}")
    try:
        if perform_ping_check:
            with allow_join_result():
                assert app.tasks["celery.ping"].delay().get(timeout=ping_task_timeout) == "pong"
        yield worker
    finally:
        worker.stop()
        thread.join(shutdown_timeout)
        if thread.is_alive():
            raise RuntimeError(
                "Worker thread failed to exit within the allocated timeout. Consider raising "
                "`shutdown_timeout` if your tasks take longer to execute."
            )
