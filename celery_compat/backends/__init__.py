"""Result backends, chosen by the ``result_backend`` setting.

=======================================================  ==========================================
``result_backend``                                       backend
=======================================================  ==========================================
``'django-db'`` (the default)                            :class:`~.database.DatabaseBackend`
``'celery_compat.backends.database:DatabaseBackend'``    the same
``'django_celery_results.backends…:DatabaseBackend'``    the same (the path django-celery-results
                                                         users may have written)
``'cache+memory://'``, ``'memory'``                      :class:`~.memory.MemoryBackend` (tests)
``None``, ``'disabled'``                                 :class:`~.disabled.DisabledBackend`
a :class:`~.base.BaseBackend` subclass                   that class
=======================================================  ==========================================
"""

from __future__ import annotations

from typing import Any

from ..exceptions import ImproperlyConfigured
from .base import BaseBackend
from .disabled import DisabledBackend

__all__ = ["by_url", "by_name", "BaseBackend", "DisabledBackend"]

_DATABASE = "celery_compat.backends.database:DatabaseBackend"
_MEMORY = "celery_compat.backends.memory:MemoryBackend"

#: Accepted spellings → the class that serves them.
ALIASES: dict[str, str] = {
    "django-db": _DATABASE,
    _DATABASE: _DATABASE,
    "celery_compat.backends.database.DatabaseBackend": _DATABASE,
    "django_celery_results.backends:DatabaseBackend": _DATABASE,
    "django_celery_results.backends.database:DatabaseBackend": _DATABASE,
    "django_celery_results.backends.database.DatabaseBackend": _DATABASE,
    "cache+memory://": _MEMORY,
    "memory": _MEMORY,
    _MEMORY: _MEMORY,
}
_DISABLED = frozenset({"disabled", "disabled://"})

E_UNKNOWN = (
    "result_backend {value!r} is not supported by celery_compat. Choose one of: 'django-db' (results in the "
    "database, the default), 'cache+memory://' (this process only, for tests) or 'disabled' (no results). "
    "Results in Redis, RPC, SQLAlchemy and other stores are not available; 'django-db' replaces them."
)


def _load(path: str) -> type[BaseBackend]:
    import importlib

    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]


def by_name(backend: Any) -> type[BaseBackend]:
    """The backend class for a ``result_backend`` value.

    Raises:
        ImproperlyConfigured: the value names no backend of ours; the message
            lists the choices.
    """
    if isinstance(backend, type) and issubclass(backend, BaseBackend):
        return backend
    if backend is None or (isinstance(backend, str) and backend.strip().lower() in _DISABLED):
        return DisabledBackend
    if isinstance(backend, str) and backend.strip() in ALIASES:
        return _load(ALIASES[backend.strip()])
    raise ImproperlyConfigured(E_UNKNOWN.format(value=backend))


def by_url(backend: Any, app: Any) -> BaseBackend:
    """Build the backend named by ``backend`` (usually ``app.conf.result_backend``) for ``app``."""
    cls = by_name(backend)
    url = backend if isinstance(backend, str) else None
    return cls(app, url=url)
