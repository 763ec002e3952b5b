"""Tasks of the admin tests."""

from __future__ import annotations

from typing import Any

from celery_compat import shared_task
from celery_compat.utils.log import get_task_logger

logger = get_task_logger(__name__)


@shared_task
def add(x: Any, y: Any) -> Any:
    return x + y


@shared_task
def fails(x: Any, label: str = "") -> None:
    logger.warning("about to fail with %s", x)
    raise ValueError(f"cannot handle {x} {label}".strip())


@shared_task
def chatty(lines: int) -> int:
    for number in range(1, lines + 1):
        logger.info("line %s of %s", number, lines)
    return lines


@shared_task(ignore_result=True)
def chatty_ignored(lines: int) -> int:
    for number in range(1, lines + 1):
        logger.info("ignored line %s", number)
    return lines


@shared_task(bind=True, max_retries=1, default_retry_delay=0)
def retries_once(self: Any) -> str:
    logger.info("attempt %s", self.request.retries)
    if self.request.retries == 0:
        raise self.retry(countdown=0)
    return "done"


@shared_task(bind=True)
def replaced_by_add(self: Any, x: int) -> Any:
    return self.replace(add.s(x, 100))


@shared_task
def tsum(values: list[Any]) -> Any:
    return sum(values)


@shared_task
def sleeper(seconds: float) -> float:
    import time

    time.sleep(seconds)
    return seconds


#: set by the test to let ``progressing`` finish (threads pool: same process)
RELEASE = __import__("threading").Event()


@shared_task(bind=True)
def progressing(self: Any, total: int) -> int:
    """Reports progress as Celery users write it, then waits for the test."""
    self.update_state(state="PROGRESS", meta={"current": total // 2, "total": total})
    RELEASE.wait(60)
    return total
