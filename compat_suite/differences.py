"""The one list of deliberate differences between Celery and celery_compat.

Each entry names the scenario that observes it, why celery_compat differs,
and the scenario that proves code written for Celery still works. A scenario
expecting a deliberate difference says so with ``deliberate(name, ...)``; the
parity table shows it as "deliberate" with the reason, any other difference
fails the run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Difference:
    name: str
    reason: str
    #: the scenario proving that code written for Celery still works
    proof: str


DIFFERENCES: dict[str, Difference] = {d.name: d for d in [
    Difference(
        "task-id-reuse-overwrites",
        "Key/value result backends (Redis, the reference's backend) refuse to overwrite a "
        "SUCCESS; the django-db backend, which celery_compat implements like "
        "django-celery-results, overwrites it. Backend-dependent in Celery itself "
        "(semantics §16 D1).",
        "scenarios/test_results.py::test_d1_task_id_reuse_last_result_on_database",
    ),
    Difference(
        "reject-without-requeue-state",
        "A version delta, not a database one: Celery 5.7 (the installed reference) stores "
        "FAILURE and sends task_failure when a task raises Reject(requeue=False) (Celery "
        "issue #4222); celery_compat follows Celery 5.6, the baseline of the spec "
        "(semantics §4 R4: message dropped, no result, state stays PENDING). Code written "
        "for Celery still works: the message is dropped and the task never runs again.",
        "scenarios/test_results.py::test_r4_reject_without_requeue_drops_message",
    ),
    Difference(
        "start-worker-allows-join",
        "Celery's embedded test worker (celery.contrib.testing.worker.start_worker) turns "
        "off the 'Never call result.get() within a task' check for the whole process; a real "
        "`celery worker` keeps it. celery_compat.testing.start_worker keeps it, like a real "
        "worker. The suite checks the rule in eager mode, where both agree.",
        "scenarios/test_eager.py::test_p4_get_inside_an_eager_task_raises_runtime_error",
    ),
    Difference(
        "delay-on-commit-rollback-vs-plain-delay",
        "A task published with plain delay() inside a transaction that rolls back is gone "
        "with the transaction on django:// (the message row is rolled back); on a stock "
        "broker it was already sent and runs. Code written for Celery uses delay_on_commit() "
        "for this, which behaves the same on both.",
        "scenarios/test_misc.py::test_delay_on_commit_publishes_after_commit_only",
    ),
]}


@dataclass(frozen=True)
class Deliberate:
    """An expectation that differs per implementation, for a listed reason."""

    name: str
    values: dict[str, Any]

    def for_impl(self, impl: str) -> Any:
        return self.values[impl]


def deliberate(name: str, **values: Any) -> Deliberate:
    if name not in DIFFERENCES:
        raise KeyError(f"deliberate difference {name!r} is not listed in compat_suite/differences.py")
    return Deliberate(name, values)
