"""Publishing many task messages at once (groups, chunks, chord headers).

On the ``django://`` transport the messages published inside
:func:`publish_batch` are inserted with multi-row INSERTs when the block
ends (see ``Channel.buffered_publish``): a group of 10,000 costs ten
statements instead of 10,000 round trips and commits. Other transports
publish as usual.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Iterator

if TYPE_CHECKING:
    from .app import Celery


@contextmanager
def publish_batch(app: Celery, producer: Any = None) -> Iterator[None]:
    """Collect what this thread publishes inside the block; insert it at the end."""
    producer = producer or app.producer()
    batch = getattr(getattr(producer, "channel", None), "buffered_publish", None)
    if batch is None:
        yield
        return
    with batch():
        yield
