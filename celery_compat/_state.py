"""The current app and the current task, per thread, as Celery keeps them.

``current_app`` is the app last made current in this thread, else the
default app; a project that never builds an app gets one configured from its
Django settings (``CELERY_*`` names), so ``shared_task`` and ``delay()`` work
with nothing but settings. ``current_task`` is the task running in this
thread, or None.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from .app import Celery
    from .task import Task

_tls = threading.local()
_default_app: Celery | None = None
_apps: list[Any] = []  # weakly held in Celery; every app finalizes shared tasks
_on_app_finalizers: list[Callable[[Celery], Any]] = []
_lock = threading.RLock()


def set_default_app(app: Celery) -> None:
    global _default_app
    _default_app = app


def _set_current_app(app: Celery) -> None:
    _tls.current_app = app


def get_current_app() -> Celery:
    app = getattr(_tls, "current_app", None)
    if app is not None:
        return app
    if _default_app is None:
        with _lock:
            if _default_app is None:
                from .app import Celery

                fallback = Celery("default", set_as_current=False)
                _configure_from_django(fallback)
                set_default_app(fallback)
    assert _default_app is not None
    return _default_app


def _configure_from_django(app: Celery) -> None:
    from django.conf import settings

    if settings.configured:
        app.config_from_object("django.conf:settings", namespace="CELERY")


def register_app(app: Celery) -> None:
    import weakref

    with _lock:
        _apps.append(weakref.ref(app))


def all_apps() -> list[Celery]:
    return [app for app in (ref() for ref in list(_apps)) if app is not None]


def connect_on_app_finalize(callback: Callable[[Celery], Any]) -> Callable[[Celery], Any]:
    """Run ``callback(app)`` for every app when it finalizes (shared tasks)."""
    with _lock:
        _on_app_finalizers.append(callback)
    return callback


def app_finalizers() -> list[Callable[[Celery], Any]]:
    return list(_on_app_finalizers)


def _task_stack() -> list[Task]:
    stack = getattr(_tls, "task_stack", None)
    if stack is None:
        stack = _tls.task_stack = []
    return stack


def push_current_task(task: Task) -> None:
    _task_stack().append(task)


def pop_current_task() -> None:
    _task_stack().pop()


def get_current_task() -> Task | None:
    stack = _task_stack()
    return stack[-1] if stack else None


def get_current_worker_task() -> Task | None:
    """The innermost task that is running in a worker (not called directly)."""
    for task in reversed(_task_stack()):
        if not task.request.called_directly:
            return task
    return None


class Proxy:
    """A lazy stand-in for the object ``factory()`` returns at each use."""

    __slots__ = ("__factory", "__dict__")

    def __init__(self, factory: Callable[[], Any]) -> None:
        object.__setattr__(self, "_Proxy__factory", factory)

    def _get_current_object(self) -> Any:
        return self.__factory()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._get_current_object(), name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._get_current_object(), name, value)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._get_current_object()(*args, **kwargs)

    def __repr__(self) -> str:
        try:
            return repr(self._get_current_object())
        except Exception:
            return f"<Proxy unbound {self.__factory!r}>"

    def __bool__(self) -> bool:
        try:
            return bool(self._get_current_object())
        except Exception:
            return False

    def __eq__(self, other: object) -> bool:
        return self._get_current_object() == other

    def __hash__(self) -> int:
        return hash(self._get_current_object())

    def __reduce__(self) -> Any:
        return self._get_current_object().__reduce__()


current_app: Any = Proxy(get_current_app)
current_task: Any = Proxy(get_current_task)
