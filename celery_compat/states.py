"""Task states: Celery's constants, state sets and precedence.

Mirrors ``celery.states``. The constants are plain strings, so they compare
equal to the states stored by real Celery and by django-celery-results.
Wrap a string in :class:`state` to compare states by precedence instead of
alphabetically.
"""

from __future__ import annotations

__all__ = (
    "PENDING",
    "RECEIVED",
    "STARTED",
    "SUCCESS",
    "FAILURE",
    "REVOKED",
    "RETRY",
    "IGNORED",
    "READY_STATES",
    "UNREADY_STATES",
    "EXCEPTION_STATES",
    "PROPAGATE_STATES",
    "precedence",
    "state",
)

#: Task state is unknown (assumed pending since you know the id).
PENDING = "PENDING"
#: Task was received by a worker (only used in events).
RECEIVED = "RECEIVED"
#: Task was started by a worker (``task_track_started``).
STARTED = "STARTED"
#: Task succeeded.
SUCCESS = "SUCCESS"
#: Task failed.
FAILURE = "FAILURE"
#: Task was revoked.
REVOKED = "REVOKED"
#: Task was rejected (only used in events).
REJECTED = "REJECTED"
#: Task is waiting for retry.
RETRY = "RETRY"
#: Task raised ``Ignore`` (only seen on eager results).
IGNORED = "IGNORED"

#: States meaning the task has been executed and its result is final.
READY_STATES = frozenset({SUCCESS, FAILURE, REVOKED})
#: States meaning the task has not finished yet.
UNREADY_STATES = frozenset({PENDING, RECEIVED, STARTED, REJECTED, RETRY})
#: States whose stored result is an exception.
EXCEPTION_STATES = frozenset({RETRY, FAILURE, REVOKED})
#: Exception states that ``AsyncResult.get()`` re-raises.
PROPAGATE_STATES = frozenset({FAILURE, REVOKED})
#: Every built-in state. Celery leaves IGNORED and REJECTED out, and so do we.
ALL_STATES = frozenset({PENDING, RECEIVED, STARTED, SUCCESS, FAILURE, RETRY, REVOKED})

#: State precedence, highest first. ``None`` stands for any custom state
#: (e.g. ``'PROGRESS'``), which therefore ranks below SUCCESS and FAILURE but
#: above every other built-in state.
PRECEDENCE: list[str | None] = [
    SUCCESS,
    FAILURE,
    None,
    REVOKED,
    STARTED,
    RECEIVED,
    REJECTED,
    RETRY,
    PENDING,
]
#: ``PRECEDENCE`` as a lookup table: state -> index.
PRECEDENCE_LOOKUP: dict[str | None, int] = {name: index for index, name in enumerate(PRECEDENCE)}
#: The index shared by every custom state.
NONE_PRECEDENCE = PRECEDENCE_LOOKUP[None]


def precedence(state: str | None) -> int:
    """Return the precedence index of ``state``; a lower index ranks higher.

    Unknown (custom) states all share the index of ``None`` in
    :data:`PRECEDENCE`.
    """
    return PRECEDENCE_LOOKUP.get(state, NONE_PRECEDENCE)


class state(str):
    """A task state that orders by precedence rather than alphabetically.

    ``state(PENDING) < state(SUCCESS)`` is true, and a custom state sits
    between FAILURE and the other built-in states:
    ``state('PROGRESS') > state(STARTED)`` is true while
    ``state('PROGRESS') > state(SUCCESS)`` is false. Equality and hashing
    stay those of ``str``.
    """

    # "Greater" means "higher precedence", i.e. a *lower* index, hence the
    # inverted comparisons below.
    def __gt__(self, other: str) -> bool:
        return precedence(self) < precedence(other)

    def __ge__(self, other: str) -> bool:
        return precedence(self) <= precedence(other)

    def __lt__(self, other: str) -> bool:
        return precedence(self) > precedence(other)

    def __le__(self, other: str) -> bool:
        return precedence(self) >= precedence(other)
