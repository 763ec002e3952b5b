"""Publishing many task messages at once (groups, chunks, chord headers).

On the ``django://`` transport the messages published inside
:func:`publish_batch` are inserted with multi-row INSERTs when the block
ends (see ``Channel.buffered_publish``): a group of 10,000 costs ten
statements instead of 10,000 round trips and commits. Inside a transaction
on PostgreSQL each full batch goes out as it fills, while the next is built
(psycopg's pipeline mode). Other transports publish as usual.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any, Iterator

if TYPE_CHECKING:
    from .app import Celery


def publish_batch(app: Celery, producer: Any = None) -> AbstractContextManager[None]:
    """Collect what this thread publishes inside the block; insert it at the end."""
    return _batch(app, producer, together=False)


def publish_together(app: Celery, producer: Any = None) -> AbstractContextManager[None]:
    """:func:`publish_batch` for a group's messages: on PostgreSQL in one transaction, sent as they fill.

    Outside a transaction the block gets one of its own (the rows commit
    together at its end), so that each full batch can go to the server
    while the next is built. Not for the user's own blocks: their code
    inside would run in that transaction too.
    """
    return _batch(app, producer, together=True)


@contextmanager
def _batch(app: Celery, producer: Any, together: bool) -> Iterator[None]:
    producer = producer or app.producer()
    batch = getattr(getattr(producer, "channel", None), "buffered_publish", None)
    if batch is None:
        yield
        return
    with batch(together=together):
        yield
