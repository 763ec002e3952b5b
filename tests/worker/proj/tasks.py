"""The task zoo of the worker tests: shared tasks, found by autodiscovery.

Tasks that must prove they ran (or how often) append to a file given as an
argument: the tests read it, whatever process ran the task.
"""

from __future__ import annotations

import os
import time
from typing import Any

from celery_compat import Task, shared_task
from celery_compat.exceptions import Ignore, Reject, SoftTimeLimitExceeded


class MyErr(Exception):
    """The error ``fail`` raises; rebuilt from its args on the client side."""


def _append(path: str, line: str) -> None:
    with open(path, "a") as fh:
        fh.write(f"{line}\n")


@shared_task
def add(x: int, y: int) -> int:
    return x + y


@shared_task
def echo(*args: Any, **kwargs: Any) -> list[Any]:
    return [list(args), kwargs]


@shared_task
def fail() -> None:
    raise MyErr("boom", 42)


@shared_task
def mark(path: str, value: Any) -> Any:
    """Append ``value`` to ``path``: proves the task ran, and in which order."""
    _append(path, str(value))
    return value


@shared_task
def sleep_then_mark(seconds: float, path: str, value: Any) -> Any:
    _append(path, f"start {value} {os.getpid()}")
    time.sleep(seconds)
    _append(path, f"end {value}")
    return value


@shared_task
def sleep_for(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@shared_task(bind=True, max_retries=3)
def retry_twice(self: Any, path: str) -> int:
    """Fails twice with a short countdown, then succeeds with its retry count."""
    _append(path, str(self.request.retries))
    if self.request.retries < 2:
        raise self.retry(exc=MyErr("flaky"), countdown=0.2)
    return self.request.retries


@shared_task(bind=True)
def request_fields(self: Any) -> dict[str, Any]:
    """What the task sees of its request (the JSON-able part)."""
    request = self.request
    names = ("id", "task", "args", "kwargs", "retries", "eta", "expires", "group", "group_index",
             "root_id", "parent_id", "delivery_info", "reply_to", "correlation_id", "hostname",
             "origin", "ignore_result", "shadow", "timelimit", "headers", "argsrepr", "kwargsrepr",
             "is_eager", "called_directly", "callbacks", "errbacks", "chain", "chord")
    fields = {name: getattr(request, name, None) for name in names}
    fields["custom"] = getattr(request, "custom", None)
    fields["properties_keys"] = sorted((request.properties or {}).keys())
    return fields


@shared_task
def frozen_objects() -> int:
    """How many objects this process keeps out of its garbage collections."""
    import gc

    return gc.get_freeze_count()


@shared_task
def pid() -> int:
    return os.getpid()


@shared_task(bind=True)
def soft_limited(self: Any, seconds: float, keep_going: bool = False) -> str:
    """Sleeps ``seconds``; returns ``'soft'`` if its soft time limit interrupted it.

    With ``keep_going`` it sleeps again after the soft limit, into the hard one.
    """
    try:
        time.sleep(seconds)
    except SoftTimeLimitExceeded:
        if keep_going:
            time.sleep(seconds)
        return "soft"
    return "slept"


@shared_task(acks_late=True, reject_on_worker_lost=True)
def late_and_requeued(path: str, seconds: float) -> str:
    """acks_late + reject_on_worker_lost: killed mid-run, it runs again."""
    _append(path, f"start {os.getpid()}")
    time.sleep(seconds)
    _append(path, "end")
    return "done"


@shared_task
def ignored() -> None:
    raise Ignore()


@shared_task(acks_late=True)
def rejected(requeue: bool) -> None:
    raise Reject("no thanks", requeue=requeue)


@shared_task(rate_limit="5/s")
def five_per_second(path: str, value: Any) -> Any:
    """Rate-limited: appends ``<wall-clock start> <value>`` to ``path``."""
    _append(path, f"{time.time()!r} {value}")
    return value


@shared_task(rate_limit="1/m")
def once_a_minute(path: str, value: Any) -> Any:
    """Rate-limited so that a second call waits a minute: proves a request is held."""
    _append(path, f"{time.time()!r} {value}")
    return value


@shared_task
def count_results() -> int:
    """Queries the database in the task itself (test_reconnect)."""
    from celery_compat.models import TaskResult

    return TaskResult.objects.count()


# -- pool processes that die mid-run (SIGKILL of their own process) -----------


def _die() -> None:
    import signal

    os.kill(os.getpid(), signal.SIGKILL)


@shared_task
def dies(path: str) -> None:
    _append(path, "dies")
    _die()


@shared_task(bind=True, retry_on_worker_lost=True, max_retries=1, default_retry_delay=0)
def dies_once(self: Any, path: str) -> int:
    """retry_on_worker_lost: the first run's process dies, the retry returns its retry count."""
    _append(path, f"run {self.request.retries}")
    if self.request.retries == 0:
        _die()
    return self.request.retries


@shared_task(bind=True, retry_on_worker_lost=True, max_retries=0, default_retry_delay=0)
def dies_without_retries_left(self: Any, path: str) -> None:
    _append(path, f"run {self.request.retries}")
    _die()


class _DiesAfterSuccess(Task):
    def on_success(self, retval: Any, task_id: str, args: Any, kwargs: Any) -> None:
        _die()  # after the SUCCESS was stored


@shared_task(base=_DiesAfterSuccess)
def dies_after_success() -> str:
    return "kept"


@shared_task(acks_late=True)
def late_mark(path: str, value: Any) -> Any:
    """acks_late: appends ``value`` to ``path`` and returns it."""
    _append(path, str(value))
    return value


@shared_task
def running_rows_xmin() -> list[int]:
    """PostgreSQL: the ids of the transactions that last wrote the running message rows (``xmin``)."""
    from django.db import connection

    from kombu_transport_django.models import Message

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT xmin::text::bigint FROM {Message._meta.db_table} "
                       f"WHERE status = %s AND started_at IS NOT NULL", [int(Message.Status.LEASED)])
        return [xmin for (xmin,) in cursor.fetchall()]


class _ExitAfterSuccess(Task):
    def on_success(self, retval: Any, task_id: str, args: Any, kwargs: Any) -> None:
        os._exit(1)  # the child dies after storing the result, before answering for it


@shared_task(base=_ExitAfterSuccess)
def exit_after_success(seconds: float) -> float:
    """Sleeps, returns ``seconds``, and its process exits right after the result is stored."""
    time.sleep(seconds)
    return seconds
