"""What one worker process knows: revoked ids, reserved and active requests.

Shared by the consumer thread, pool threads and the prefork supervisor, so
every mutation takes :attr:`WorkerState.lock`.
"""

from __future__ import annotations

import heapq
import itertools
import os
import threading
import time
from collections import Counter, OrderedDict
from typing import TYPE_CHECKING, Any, Iterable

if TYPE_CHECKING:
    from .request import Request

#: Celery's limits for the in-memory revoke set (same environment variables).
REVOKES_MAX = int(os.environ.get("CELERY_WORKER_REVOKES_MAX", 50000))
REVOKE_EXPIRES = float(os.environ.get("CELERY_WORKER_REVOKE_EXPIRES", 10800))


class LimitedSet:
    """A set of ids that forgets the oldest past ``maxlen`` or ``expires`` seconds."""

    def __init__(self, maxlen: int = REVOKES_MAX, expires: float = REVOKE_EXPIRES) -> None:
        self.maxlen = maxlen
        self.expires = expires
        self._data: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, item: str) -> None:
        with self._lock:
            self._data.pop(item, None)
            self._data[item] = time.monotonic()
            self._purge()

    def update(self, items: Iterable[str]) -> None:
        for item in items:
            self.add(item)

    def _purge(self) -> None:
        now = time.monotonic()
        data = self._data
        while data and (len(data) > self.maxlen or now - next(iter(data.values())) > self.expires):
            data.popitem(last=False)

    def __contains__(self, item: object) -> bool:
        with self._lock:
            added = self._data.get(item)  # type: ignore[call-overload]
            return added is not None and time.monotonic() - added <= self.expires

    def __iter__(self) -> Any:
        with self._lock:
            self._purge()
            return iter(list(self._data))

    def __len__(self) -> int:
        return len(self._data)


class WorkerState:
    """Counters and request sets that remote control reports on."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.revoked = LimitedSet()
        #: received and not yet started (prefetched, or waiting for an ETA)
        self.reserved: dict[int, Request] = {}
        #: started and not yet finished
        self.active: dict[int, Request] = {}
        #: held in memory until their ETA (only if the transport delivered early)
        self.scheduled: dict[int, Request] = {}
        #: tasks run, by name (``inspect().stats()['total']``)
        self.total: Counter[str] = Counter()
        self.started_at = time.monotonic()
        self._eta_heap: list[tuple[float, int, Request]] = []
        self._eta_seq = itertools.count()

    def schedule(self, request: Request, delay: float) -> None:
        """Hold ``request`` until ``delay`` seconds from now (see :meth:`pop_due`)."""
        with self.lock:
            self.scheduled[id(request)] = request
            heapq.heappush(self._eta_heap, (time.monotonic() + delay, next(self._eta_seq), request))

    def pop_due(self) -> list[Request]:
        """The held requests whose ETA has come, now reserved."""
        due = []
        with self.lock:
            now = time.monotonic()
            while self._eta_heap and self._eta_heap[0][0] <= now:
                _, _, request = heapq.heappop(self._eta_heap)
                self.scheduled.pop(id(request), None)
                self.reserved[id(request)] = request
                due.append(request)
        return due

    def next_due_in(self) -> float:
        """Seconds until the next held ETA (infinity if none)."""
        with self.lock:
            if not self._eta_heap:
                return float("inf")
            return max(0.0, self._eta_heap[0][0] - time.monotonic())

    def forget_waiting(self) -> None:
        """Drop requests not started yet (their connection is gone)."""
        with self.lock:
            self.reserved.clear()
            self.scheduled.clear()
            self._eta_heap.clear()

    def task_reserved(self, request: Request) -> None:
        with self.lock:
            self.reserved[id(request)] = request

    def task_accepted(self, request: Request) -> None:
        with self.lock:
            self.reserved.pop(id(request), None)
            self.active[id(request)] = request

    def task_ready(self, request: Request) -> None:
        with self.lock:
            self.reserved.pop(id(request), None)
            if self.active.pop(id(request), None) is not None:
                self.total[request.type] += 1

    def find(self, task_ids: Iterable[str]) -> list[Request]:
        """Requests of this worker (reserved or active) with one of ``task_ids``."""
        wanted = set(task_ids)
        with self.lock:
            requests = [*self.active.values(), *self.reserved.values(), *self.scheduled.values()]
        return [request for request in requests if request.id in wanted]

    def is_active(self, request: Request) -> bool:
        with self.lock:
            return id(request) in self.active

    @property
    def busy(self) -> bool:
        """Whether a task runs or waits in this worker (prefetched, not started)."""
        with self.lock:
            return bool(self.active or self.reserved or self.scheduled)
