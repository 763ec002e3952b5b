"""``xmap``/``xstarmap`` (one ``celery.map``/``celery.starmap`` message) and ``chunks``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable

from .signature import Signature, maybe_signature
from .workflows import group

if TYPE_CHECKING:
    from ..app import Celery


# -- map, starmap, chunks ---------------------------------------------------------


class _basemap(Signature):
    _task_name = ""

    def __init__(self, task: Any, it: Iterable[Any], app: Celery | None = None, **options: Any) -> None:
        Signature.__init__(self, self._task_name, (), {"task": maybe_signature(task, app=app), "it": list(it)},
                           options, immutable=True, app=app)

    def apply_async(self, args: Any = None, kwargs: Any = None, **options: Any) -> Any:
        return Signature.apply_async(self, (), None, **options)


class xmap(_basemap):
    """``celery.map``: one message calling ``task(item)`` for each item; the result is the list."""

    _task_name = "celery.map"


class xstarmap(_basemap):
    """``celery.starmap``: one message calling ``task(*item)`` for each item."""

    _task_name = "celery.starmap"


@Signature.register_type()
class chunks(Signature):
    """``it`` split in parts of ``n`` items, each part a ``celery.starmap`` message (a group of them)."""

    def __init__(self, task: Any, it: Iterable[Any], n: int, app: Celery | None = None, **options: Any) -> None:
        Signature.__init__(self, "celery.chunks", (), {"task": maybe_signature(task, app=app), "it": list(it),
                           "n": n}, options, subtask_type="chunks", immutable=True, app=app)

    @classmethod
    def from_dict(cls, d: dict[str, Any], app: Celery | None = None) -> Signature:
        kw = d.get("kwargs") or {}
        return chunks(kw["task"], kw["it"], kw["n"], app=app, **(d.get("options") or {}))

    def group(self) -> group:
        """The group of ``celery.starmap`` messages."""
        task, it, n = self.kwargs["task"], self.kwargs["it"], self.kwargs["n"]
        parts = [it[i:i + n] for i in range(0, len(it), n)]
        return group([xstarmap(task, part, app=self._app) for part in parts], app=self._app)

    def apply_async(self, args: Any = None, kwargs: Any = None, **options: Any) -> Any:
        return self.group().apply_async(**options)

    def apply(self, args: Any = None, kwargs: Any = None, **options: Any) -> Any:
        return self.group().apply(**options)

    def __call__(self, **options: Any) -> Any:
        return self.apply_async(**options)

    @classmethod
    def apply_chunks(cls, task: Any, it: Iterable[Any], n: int, app: Celery | None = None) -> Any:
        return cls(task, it, n, app=app).apply_async()
