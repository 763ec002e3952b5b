"""Tasks the fuzz tests send good and malformed messages to."""

from __future__ import annotations

from celery_compat import shared_task
from tests.chaos.tasks import append


@shared_task(bind=True, name="fuzz.good")
def good(self, ledger: str) -> str:
    """The well-formed messages: each run appends its id to ``ledger``."""
    append(ledger, self.request.id)
    return self.request.id


@shared_task(name="fuzz.strict")
def strict(a: int, b: int) -> int:
    """Takes exactly two arguments: the target of wrong argument counts."""
    return a + b


@shared_task(name="fuzz.echo")
def echo(*args: object, **kwargs: object) -> list:
    """Returns what it was given: a NUL in its arguments goes into its result."""
    return [list(args), kwargs]
