"""``result_backend = None`` or ``'disabled'``: no results at all, as in Celery."""

from __future__ import annotations

from typing import Any

from .base import BaseBackend

__all__ = ["DisabledBackend"]

E_NO_BACKEND = """
No result backend is configured.
Please see the documentation for more information.
"""

E_CHORD_NO_BACKEND = """
Starting chords requires a result backend to be configured.

Note that a group chained with a task is also upgraded to be a chord,
as this pattern requires synchronization.

Result backends that supports chords: Redis, Database, Memcached, and more.
"""


class DisabledBackend(BaseBackend):
    """``result_backend`` unset or ``'disabled'``: nothing is stored, reading raises.

    ``get_task_meta`` raises too (Celery fails there with an AttributeError).
    """

    def store_result(self, *args: Any, **kwargs: Any) -> None:
        pass

    def ensure_chords_allowed(self) -> None:
        raise NotImplementedError(E_CHORD_NO_BACKEND.strip())

    def apply_chord(self, header_result_args: Any, body: Any, **kwargs: Any) -> None:
        self.ensure_chords_allowed()

    def _is_disabled(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(E_NO_BACKEND.strip())

    def as_uri(self, include_password: bool = False) -> str:
        return "disabled://"

    get_state = get_status = get_result = get_traceback = _is_disabled  # type: ignore[assignment]
    get_task_meta = wait_for = get_many = _is_disabled  # type: ignore[assignment]
    get_task_meta_for = _get_task_meta_for = _is_disabled  # type: ignore[assignment]
