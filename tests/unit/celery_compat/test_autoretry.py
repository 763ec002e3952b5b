"""autoretry_for with retry_backoff: Celery's countdowns (compat_suite: test_t4_*)."""

from __future__ import annotations

from typing import Any

import pytest

from celery_compat import Celery


class Flaky(Exception):
    pass


@pytest.mark.parametrize(("backoff", "backoff_max", "expected"), [
    (True, 600, [1, 2, 4, 8]),
    (0.5, 600, [1, 2, 4, 8]),  # Celery's factor is int(max(1.0, retry_backoff))
    (2, 600, [2, 4, 8, 16]),
    (1, 3, [1, 2, 3, 3]),
])
def test_autoretry_backoff_countdowns_match_celery(backoff: Any, backoff_max: int, expected: list[int]) -> None:
    app = Celery("autoretry", set_as_current=False, task_always_eager=True, result_backend="cache+memory://")

    @app.task(bind=True, autoretry_for=(Flaky,), retry_backoff=backoff, retry_backoff_max=backoff_max,
              retry_jitter=False, max_retries=3)
    def flaky(self: Any) -> None:
        raise Flaky()

    countdowns: list[Any] = []
    retry = flaky.retry

    def recording_retry(*args: Any, **kwargs: Any) -> Any:
        countdowns.append(kwargs.get("countdown"))
        return retry(*args, **kwargs)

    flaky.retry = recording_retry
    result = flaky.apply()

    assert result.state == "FAILURE"
    # the last call is the one that gives up (max_retries=3)
    assert countdowns == expected
