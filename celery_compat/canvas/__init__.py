"""The canvas: signatures, chains, groups, chords, chunks and maps, as Celery has them.

Every primitive is a dict (``{'task', 'args', 'kwargs', 'options',
'subtask_type', 'immutable'}``), so it travels in messages and comes back as
the same class through :func:`signature` / :meth:`Signature.from_dict`
(dispatch on ``subtask_type``).

How workflows run (protocol §3):

- a **chain** publishes its first task only; the rest travel in the
  message's ``embed.chain``, frozen (ids known in advance), reversed (the
  next step last); the worker publishes the next step after success, and
  stores the failure for every remaining id after a failure;
- a **group** publishes each child with ``group_id``/``group_index``;
- a **chord** creates a counter (``backend.apply_chord``) then publishes
  the header as a group whose children carry the body in ``embed.chord``;
  each header completion decrements the counter; the last one publishes
  the body with the header's results (see ``backends/database.py``).

A group followed by anything in a chain is upgraded to a chord, as in Celery.
"""

from .maps import chunks, xmap, xstarmap
from .signature import Signature, maybe_signature, signature, subtask
from .workflows import chain, chord, group

__all__ = [
    "Signature", "signature", "subtask", "maybe_signature", "chain", "group", "chord", "chunks",
    "xmap", "xstarmap",
]
