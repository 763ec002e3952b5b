"""Tasks of the canvas tests (shared: every test app has them)."""

from __future__ import annotations

import time
from typing import Any

from celery_compat import shared_task


class MyErr(Exception):
    """What ``boom`` raises; rebuilt from its args on the client side."""


@shared_task
def add(x: Any, y: Any) -> Any:
    return x + y


@shared_task
def tsum(xs: list[Any]) -> Any:
    return sum(xs)


@shared_task
def boom(*args: Any) -> None:
    raise MyErr("boom", 42)


@shared_task
def echo(*args: Any, **kwargs: Any) -> list[Any]:
    return [list(args), kwargs]


@shared_task
def sleeper(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@shared_task(bind=True)
def fields(self: Any, *args: Any) -> dict[str, Any]:
    """The workflow fields of the request."""
    r = self.request
    return {"id": r.id, "group": r.group, "group_index": r.group_index, "root_id": r.root_id,
            "parent_id": r.parent_id, "args": list(args), "nesting": r.replaced_task_nesting}


@shared_task
def append(path: str, value: Any) -> Any:
    with open(path, "a") as fh:
        fh.write(f"{value}\n")
    return value


@shared_task
def errback_new(request: Any, exc: BaseException, traceback: Any) -> None:
    """New-style errback: records the request id and the exception in ``ERRBACKS``."""
    ERRBACKS.append((request.id, repr(exc), type(exc).__name__))


@shared_task
def errback_old(task_id: str) -> str:
    return task_id


@shared_task
def errback_to_file(task_id: str, path: str) -> str:
    """Old-style errback: appends the failed task's id to ``path``."""
    with open(path, "a") as fh:
        fh.write(f"{task_id}\n")
    return task_id


ERRBACKS: list[tuple[str, str, str]] = []


@shared_task(bind=True)
def replace_with_add(self: Any, x: int) -> Any:
    """Z1: replaced by ``add(x, 100)``."""
    return self.replace(add.s(x, 100))


@shared_task(bind=True)
def replace_with_group(self: Any) -> Any:
    """Z1: replaced by a group: the caller gets the list."""
    from celery_compat import group

    return self.replace(group(add.s(1, 1), add.s(1, 2)))


@shared_task(bind=True)
def replace_with_chain(self: Any, x: int) -> Any:
    """Replaced by ``add(x, 1) | fields()``: the caller gets the last step's value."""
    return self.replace(add.s(x, 1) | fields.s())


@shared_task(bind=True)
def replace_with_chain_to_group(self: Any) -> Any:
    """Replaced by a chain ending in a group: the caller gets the group's list."""
    from celery_compat import group

    return self.replace(add.s(1, 1) | group(add.s(1), add.s(2)))


@shared_task
def record(values: Any, path: str) -> Any:
    """A chord body that leaves a line per run in ``path``."""
    with open(path, "a") as fh:
        fh.write(f"{values!r}\n")
    return values


@shared_task
def meet(path: str, n: int, value: Any) -> Any:
    """Wait until ``n`` tasks called with the same ``path`` have arrived, then return together."""
    import os

    open(f"{path}.{value}", "w").close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if sum(1 for name in os.listdir(os.path.dirname(path)) if name.startswith(os.path.basename(path) + ".")) >= n:
            return value
        time.sleep(0.001)
    raise TimeoutError(f"only some of {n} tasks met at {path}")
