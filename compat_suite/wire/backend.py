"""Real Celery's result backend over celery_compat's result tables.

What django-celery-results' ``django-db`` backend is to real Celery, for
celery_compat's models: a real Celery client or worker stores and reads the
same rows as celery_compat, so a result written by one implementation is read
by the other. Test-only (real Celery is imported here); the wire scenarios
set :attr:`CompatTablesBackend.compat_app` to the celery_compat app whose
backend does the storing.

Chords: a chord published by celery_compat has a ``ChordCounter`` row; when
a real Celery worker finishes one of its header tasks this backend counts it
down with celery_compat's code (the body is published when it reaches 0). A
chord published by real Celery has no counter: Celery's own fallback,
``celery.chord_unlock``, waits for the header.
"""

from __future__ import annotations

from typing import Any

from celery.backends.base import BaseBackend
from celery.result import result_from_tuple


class CompatTablesBackend(BaseBackend):
    """Stores and reads through ``compat_app.backend`` (celery_compat's ``django-db``)."""

    #: the celery_compat app whose result tables are shared
    compat_app: Any = None
    persistent = True
    supports_native_join = False

    def __init__(self, app: Any, url: str | None = None, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        if self.compat_app is None:
            raise RuntimeError("CompatTablesBackend.compat_app is not set: the wire fixture sets it")

    @property
    def ours(self) -> Any:
        return self.compat_app.backend

    def _store_result(self, task_id: str, result: Any, state: str, traceback: str | None = None,
                      request: Any = None, **kwargs: Any) -> Any:
        # ``result`` already went through Celery's encode_result (exceptions
        # as Celery's exception dicts): the same stored form as ours.
        self.ours._store_result(task_id, result, state, traceback, request=request)
        return result

    def _get_task_meta_for(self, task_id: str) -> dict[str, Any]:
        return self.meta_from_decoded(self.ours._get_task_meta_for(task_id))

    def _forget(self, task_id: str) -> None:
        self.ours._forget(task_id)

    def _save_group(self, group_id: str, result: Any) -> Any:
        self.ours._save_group(group_id, result)
        return result

    def _restore_group(self, group_id: str) -> dict[str, Any] | None:
        meta = self.ours._restore_group(group_id)
        if meta is None:
            return None
        ours = meta["result"]
        return {**meta, "result": result_from_tuple(ours.as_tuple(), app=self.app) if ours is not None else None}

    def _delete_group(self, group_id: str) -> None:
        self.ours._delete_group(group_id)

    def on_chord_part_return(self, request: Any, state: str, result: Any, **kwargs: Any) -> None:
        header = self.ours._chord_part_done(request)
        if header is not None:
            self.ours.trigger_chord_body(request.chord, header)
