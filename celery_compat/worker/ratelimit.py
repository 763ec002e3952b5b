"""Rate limits: Celery's token bucket per task type, in each worker.

A task's ``rate_limit`` (``"10/s"``, ``"100/m"``, ``"1000/h"`` or a number of
tasks per second) is enforced per worker, as in Celery: each task type has a
bucket holding at most one token, refilled at the rate. A request finding no
token waits here, in memory, its message unacked (the transport's heartbeat
keeps its lease, so it is never redelivered), until the consumer's loop sees
a token free (:meth:`RateLimiter.due`, :meth:`RateLimiter.next_in`). Other
task types are not held back; see :class:`RateLimiter` on the prefetch window.

Only the consumer thread touches a :class:`RateLimiter` (message callbacks,
the loop and remote control all run there), so it takes no lock; kombu's
``TokenBucket`` is not thread-safe either.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from kombu.utils.limits import TokenBucket

if TYPE_CHECKING:
    from .request import Request

logger = logging.getLogger("celery.worker.consumer")

#: seconds per unit of a rate string (Celery's ``RATE_MODIFIER_MAP``)
RATE_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}


def rate(value: Any) -> float:
    """Tasks per second of a ``rate_limit``: ``"100/m"`` → 1.67; empty → 0 (no limit).

    Celery's ``celery.utils.time.rate``, with an error that names the value.
    """
    if not value:
        return 0.0
    if isinstance(value, str):
        ops, _, unit = value.partition("/")
        try:
            return float(ops) / RATE_UNITS[unit or "s"] or 0.0
        except (KeyError, ValueError):
            raise ValueError(
                f"Invalid rate limit {value!r}: use tasks per second as a number, or "
                f"'<n>/s', '<n>/m' or '<n>/h' (for example '10/s' or '100/m')"
            ) from None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"Invalid rate limit {value!r}: use a number or a string such as '100/m'") from None


def bucket_for(limit: Any) -> TokenBucket | None:
    """Celery's bucket for a rate limit: capacity 1, so no burst beyond one task."""
    per_second = rate(limit)
    return TokenBucket(per_second, capacity=1) if per_second > 0 else None


class RateLimiter:
    """The buckets of one worker and the requests waiting in them.

    A held request keeps its message unacked. Celery counts it against the
    prefetch window, so a burst of rate-limited messages can fill the window
    and starve every other task of that worker. Here each held request raises
    the window by one (as a held ETA does), up to ``max_extra`` extra
    messages (the worker's prefetch count): other tasks keep flowing, and a
    flood of rate-limited messages still cannot be claimed without bound by
    one worker while others could run them.
    """

    def __init__(self, enabled: bool = True, max_extra: int = 0) -> None:
        self.enabled = enabled
        self.max_extra = max_extra
        self.buckets: dict[str, TokenBucket | None] = {}
        #: ids of held requests that raised the prefetch window
        self._raised: set[int] = set()
        #: held requests whose task lost its rate limit (remote control)
        self._released: list[Request] = []

    def reset(self, tasks: Mapping[str, Any]) -> None:
        """New buckets from the tasks' ``rate_limit``; held requests move to them.

        Raises ValueError (naming the task) for a rate limit that cannot be parsed.
        """
        held = [request for bucket in self.buckets.values() if bucket is not None
                for request in bucket.contents]
        buckets: dict[str, TokenBucket | None] = {}
        for name, task in tasks.items():
            try:
                buckets[name] = bucket_for(getattr(task, "rate_limit", None))
            except ValueError as exc:
                raise ValueError(f"Task {name!r}: {exc}") from None
        self.buckets = buckets
        for request in held:
            bucket = buckets.get(request.type)
            if bucket is not None:
                bucket.add(request)
            else:
                self._released.append(request)

    def hold(self, request: Request) -> bool:
        """Whether ``request`` must wait for a token (it is kept here if so)."""
        if not self.enabled:
            return False
        bucket = self.buckets.get(request.type)
        if bucket is None:
            return False
        if not bucket.contents and bucket.can_consume(1):
            return False
        bucket.add(request)
        return True

    def raise_prefetch(self, request: Request) -> bool:
        """Whether the held ``request`` may raise the prefetch window by one."""
        if len(self._raised) >= self.max_extra:
            return False
        self._raised.add(id(request))
        return True

    def due(self) -> list[tuple[Request, bool]]:
        """Held requests that got a token, in arrival order per task type.

        Each comes with whether it had raised the prefetch window (lower it again).
        """
        ready = [(request, self._lower(request)) for request in self._pop_released()]
        for bucket in self.buckets.values():
            while bucket is not None and bucket.contents and bucket.can_consume(1):
                request = bucket.pop()
                ready.append((request, self._lower(request)))
        return ready

    def next_in(self) -> float:
        """Seconds until a held request may get a token (infinity if none waits)."""
        if self._released:
            return 0.0
        waits = [bucket.expected_time(1) for bucket in self.buckets.values()
                 if bucket is not None and bucket.contents]
        return min(waits, default=float("inf"))

    @property
    def held(self) -> int:
        return sum(len(bucket.contents) for bucket in self.buckets.values() if bucket is not None)

    def forget(self) -> None:
        """Drop held requests (their connection is gone: their messages come back)."""
        for bucket in self.buckets.values():
            if bucket is not None:
                bucket.clear_pending()
        self._raised.clear()
        self._released = []

    def _lower(self, request: Request) -> bool:
        try:
            self._raised.remove(id(request))
        except KeyError:
            return False
        return True

    def _pop_released(self) -> Iterable[Request]:
        released, self._released = self._released, []
        return released
