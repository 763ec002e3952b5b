"""Waiting for pipes to become readable, without a new selector per wait.

``multiprocessing.connection.wait`` (and ``Connection.poll``, which calls
it) builds a selector, registers every object and closes it again at each
call: about 5 µs for one pipe, more for several. A prefork child polls its
pipe about three times per task and the worker's supervisor waits on all
children's pipes once or more per task, so that was paid several times per
task in a drain (docs/benchmarks.md). A :class:`PollSet` keeps one
``select.poll`` object and changes its registrations only when the set of
descriptors does.
"""

from __future__ import annotations

import select
from typing import Iterable

#: what a pipe reports when it can be read, or will never be (the other end
#: closed: the next ``recv()`` raises ``EOFError``, as after ``wait()``)
READABLE = select.POLLIN | select.POLLPRI | select.POLLHUP | select.POLLERR | select.POLLNVAL


class PollSet:
    """A fixed poll registration over file descriptors, for one thread."""

    __slots__ = ("_poll", "_fds")

    def __init__(self, fds: Iterable[int] = ()) -> None:
        self._poll = select.poll()
        self._fds: frozenset[int] = frozenset()
        self.watch(fds)

    def watch(self, fds: Iterable[int]) -> None:
        """Watch exactly ``fds`` from now on (registrations change only for the difference)."""
        wanted = frozenset(fds)
        if wanted == self._fds:
            return
        for fd in self._fds - wanted:
            self._poll.unregister(fd)
        for fd in wanted - self._fds:
            self._poll.register(fd, select.POLLIN | select.POLLPRI)
        self._fds = wanted

    def ready(self, timeout: float | None) -> list[int]:
        """The descriptors readable (or closed at the other end) within ``timeout`` seconds (None: no limit)."""
        events = self._poll.poll(None if timeout is None else max(0.0, timeout) * 1000.0)
        return [fd for fd, mask in events if mask & READABLE]
