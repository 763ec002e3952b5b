"""Celery's API on Django's database: change ``celery`` to ``celery_compat``.

Importing this package only registers the ``django://`` kombu transport;
models, apps and connections are touched on first use.
"""

from ._state import current_app, current_task
from .app import Celery, shared_task
from .canvas import Signature, chain, chord, chunks, group, maybe_signature, signature, subtask, xmap, xstarmap
from .task import Task, uuid4 as uuid

__version__ = "0.1.0.dev0"

__all__ = [
    "Celery", "shared_task", "Task", "current_app", "current_task", "Signature", "signature", "subtask",
    "maybe_signature", "chain", "chord", "chunks", "group", "xmap", "xstarmap", "uuid",
]
