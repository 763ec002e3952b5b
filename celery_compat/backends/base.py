"""What every result backend shares: encoding by state, the meta dict, waiting.

:class:`BaseBackend` keeps the method names of Celery's ``BaseBackend``
because user code calls them (``app.backend.get_task_meta(id)``,
``mark_as_done``…). A concrete backend implements only the storage
primitives: ``_store_result``, ``_get_task_meta_for``, ``_forget``,
``_save_group``, ``_restore_group``, ``_delete_group`` and ``cleanup``, and
may give ``_waiter`` a way to be woken early.

Results are encoded as Celery encodes them (protocol §6.1): a SUCCESS stores
the return value; FAILURE, RETRY and REVOKED store the exception as
``{"exc_type", "exc_message", "exc_module"}`` (the exception object itself
with the pickle serializer); any other state stores what it is given.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import threading
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from kombu.serialization import dumps, loads, prepare_accept_content
from kombu.utils.functional import LRUCache

from .. import _state, states
from ..exceptions import ImproperlyConfigured, TimeoutError
from ..utils.imports import imported
from ..utils.serialization import (
    exception_from_dict,
    exception_to_dict,
    get_pickleable_exception,
    get_pickled_exception,
)
from .waiting import PollingWaiter, Waiter

__all__ = ["BaseBackend"]

logger = logging.getLogger(__name__)

#: Serializers that can store exception objects as they are.
EXCEPTION_ABLE_CODECS = frozenset({"pickle"})


class _NoCache(dict):
    """The cache when ``result_cache_max`` is -1: remembers nothing."""

    def __setitem__(self, key: Any, value: Any) -> None:
        pass


class BaseBackend:
    """Encoding, decoding, the ``mark_as_*`` verbs and polling; storage is left to subclasses."""

    READY_STATES = states.READY_STATES
    UNREADY_STATES = states.UNREADY_STATES
    EXCEPTION_STATES = states.EXCEPTION_STATES
    TimeoutError = TimeoutError

    #: Results can be fetched in one go (``join_native``); none of ours can.
    supports_native_join = False
    #: Results expire by themselves; ours need ``cleanup()``.
    supports_autoexpire = False
    #: Results outlive the process.
    persistent = True
    #: ``AsyncResult.then`` callbacks fire by themselves (not for polling backends).
    is_async = False

    def __init__(self, app: Any, serializer: str | None = None, accept: Iterable[str] | None = None,
                 max_cached_results: int | None = None, url: str | None = None, **kwargs: Any) -> None:
        self.app = app
        self._chord_lock = threading.Lock()
        self._chord_counters: dict[str, list[Any]] = {}
        conf = app.conf
        self.serializer: str = serializer or conf.result_serializer
        # Also checks the serializer exists (kombu's SerializerNotInstalled).
        self.content_type, self.content_encoding, _ = dumps(None, serializer=self.serializer)
        # Precedence as in Celery: accept, result_accept_content, accept_content.
        if accept is None:
            accept = conf.result_accept_content
        if accept is None:
            accept = conf.accept_content
        self.accept: set[str] = prepare_accept_content(accept)
        limit = conf.result_cache_max if max_cached_results is None else max_cached_results
        self._cache: dict[str, Any] = _NoCache() if limit == -1 else LRUCache(limit=limit)
        self.url = url

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self.as_uri()}>"

    def as_uri(self, include_password: bool = False) -> str:
        """The setting this backend was built from."""
        return self.url or ""

    @property
    def expires(self) -> dt.timedelta | None:
        """``result_expires`` as a timedelta; None (or 0) keeps results forever."""
        value = self.app.conf.result_expires
        if isinstance(value, dt.timedelta):
            return value or None
        return dt.timedelta(seconds=value) if value else None

    # -- encoding ------------------------------------------------------------------------

    def encode(self, data: Any) -> str | bytes:
        """``data`` serialized with the result serializer."""
        return self._encode(data)[2]

    def _encode(self, data: Any) -> tuple[str, str, str | bytes]:
        return dumps(data, serializer=self.serializer)

    def decode(self, payload: str | bytes | None, content_type: str | None = None,
               content_encoding: str | None = None) -> Any:
        """Deserialize ``payload``; refuses content types outside ``result_accept_content``.

        Raises:
            kombu.exceptions.ContentDisallowed: e.g. a pickled result when
                pickle is not accepted.
        """
        if payload is None:
            return None
        if content_type is None:
            content_type, content_encoding = self.content_type, self.content_encoding
        return loads(payload, content_type=content_type, content_encoding=content_encoding or "utf-8",
                     accept=self.accept)

    def prepare_exception(self, exc: BaseException, serializer: str | None = None) -> Any:
        """The stored form of ``exc``: the object for pickle, else Celery's exception dict."""
        if (serializer or self.serializer) in EXCEPTION_ABLE_CODECS:
            return get_pickleable_exception(exc)
        return exception_to_dict(exc, encode=self.encode)

    def exception_to_python(self, exc: Any) -> BaseException | None:
        """Rebuild a stored exception (dict or pickled object); None stays None."""
        if not exc:
            return None
        if isinstance(exc, BaseException):
            return get_pickled_exception(exc) if self.serializer in EXCEPTION_ABLE_CODECS else exc
        if not isinstance(exc, dict):
            try:
                exc = dict(exc)
            except (TypeError, ValueError) as error:
                raise TypeError(
                    f"If the stored exception isn't an instance of BaseException, it must be a dictionary.\n"
                    f"Instead got: {exc}"
                ) from error
        return exception_from_dict(exc)

    def prepare_value(self, result: Any) -> Any:
        """A result handle (AsyncResult, GroupResult) is stored as its ``as_tuple()``."""
        if self.serializer not in EXCEPTION_ABLE_CODECS and isinstance(result, imported("celery_compat.result", "ResultBase")):
            return result.as_tuple()  # type: ignore[attr-defined]
        return result

    def encode_result(self, result: Any, state: str) -> Any:
        """What to store for ``result`` in ``state`` (before serialization)."""
        if state in self.EXCEPTION_STATES and isinstance(result, BaseException):
            return self.prepare_exception(result)
        return self.prepare_value(result)

    def meta_from_decoded(self, meta: dict[str, Any]) -> dict[str, Any]:
        """Turn the stored exception of an exception state back into an exception."""
        if meta["status"] in self.EXCEPTION_STATES:
            meta["result"] = self.exception_to_python(meta["result"])
        return meta

    def current_task_children(self, request: Any = None) -> list[Any] | None:
        """``as_tuple()`` of each result ``request`` (else the running task) published."""
        if request is None:
            task = _state.get_current_task()
            request = task.request if task is not None else None
        if request is None:
            return None
        return [child.as_tuple() for child in getattr(request, "children", None) or ()]

    # -- storing --------------------------------------------------------------------------

    def store_result(self, task_id: str, result: Any, state: str, traceback: str | None = None,
                     request: Any = None, **kwargs: Any) -> Any:
        """Store ``result`` in ``state`` for ``task_id``; a later write always wins."""
        encoded = self.encode_result(result, state)
        self._store_result(task_id, encoded, state, traceback, request=request, **kwargs)
        return encoded

    def mark_as_started(self, task_id: str, **meta: Any) -> Any:
        """Store STARTED with ``meta`` (``pid``, ``hostname``) as the result."""
        return self.store_result(task_id, meta, states.STARTED)

    def mark_as_done(self, task_id: str, result: Any, request: Any = None, store_result: bool = True,
                     state: str = states.SUCCESS) -> None:
        """Store the return value, unless the request asked to ignore it."""
        def store() -> None:
            if store_result and not getattr(request, "ignore_result", False):
                self.store_result(task_id, result, state, request=request)

        self._store_chord_part(store, request, state, result)

    def mark_as_failure(self, task_id: str, exc: BaseException, traceback: str | None = None,
                        request: Any = None, store_result: bool = True, call_errbacks: bool = True,
                        state: str = states.FAILURE) -> None:
        """Store ``exc`` as the result of a failed task.

        Unlike Celery's, this does not fail the rest of the chain nor call
        errbacks: the worker (``celery_compat.trace``) does both.
        """
        def store() -> None:
            if store_result:
                self.store_result(task_id, exc, state, traceback=traceback, request=request)

        self._store_chord_part(store, request, state, exc)

    def mark_as_retry(self, task_id: str, exc: BaseException, traceback: str | None = None,
                      request: Any = None, store_result: bool = True, state: str = states.RETRY) -> Any:
        """Store RETRY with the exception that caused it."""
        return self.store_result(task_id, exc, state, traceback=traceback, request=request)

    def mark_as_revoked(self, task_id: str, reason: str = "", request: Any = None, store_result: bool = True,
                        state: str = states.REVOKED) -> None:
        """Store REVOKED with ``TaskRevokedError(reason)``."""
        from ..exceptions import TaskRevokedError

        exc = TaskRevokedError(reason)

        def store() -> None:
            if store_result:
                self.store_result(task_id, exc, state, traceback=None, request=request)

        self._store_chord_part(store, request, state, exc)

    def store_task_log(self, task_id: str, lines: list[str], limit: int) -> None:
        """Keep ``lines`` the task logged with its stored result (last ``limit`` lines).

        Only the database backend keeps them (``TaskResult.log``); others drop them.
        """

    # -- reading --------------------------------------------------------------------------

    def get_task_meta(self, task_id: str, cache: bool = True) -> dict[str, Any]:
        """The meta dict of ``task_id``: ``status``, decoded ``result``, ``traceback``, ``children``…

        An unknown id reads as ``{"status": "PENDING", "result": None, …}``.
        SUCCESS metas are cached when ``result_cache_max`` allows.
        """
        if cache and task_id in self._cache:
            return self._cache[task_id]
        meta = self._get_task_meta_for(task_id)
        if cache and meta.get("status") == states.SUCCESS:
            self._cache[task_id] = meta
        return meta

    def is_cached(self, task_id: str) -> bool:
        """True if the meta of ``task_id`` is in this backend's cache."""
        return task_id in self._cache

    def reload_task_result(self, task_id: str) -> None:
        """Read ``task_id`` again, even if cached."""
        self._cache[task_id] = self.get_task_meta(task_id, cache=False)

    def task_result_exists(self, task_id: str) -> bool:
        """True if something is stored for ``task_id`` (Celery 5.7's ``AsyncResult.exists()``)."""
        return self._get_task_meta_for(task_id)["status"] != states.PENDING

    def get_state(self, task_id: str) -> str:
        """The state of ``task_id``."""
        return self.get_task_meta(task_id)["status"]

    get_status = get_state

    def get_result(self, task_id: str) -> Any:
        """The decoded result of ``task_id``."""
        return self.get_task_meta(task_id).get("result")

    def get_traceback(self, task_id: str) -> str | None:
        """The stored traceback of ``task_id``."""
        return self.get_task_meta(task_id).get("traceback")

    def get_children(self, task_id: str) -> list[Any] | None:
        """The stored ``as_tuple()`` of each result ``task_id`` published."""
        return self.get_task_meta(task_id).get("children")

    def forget(self, task_id: str) -> None:
        """Delete what is stored for ``task_id``."""
        self._cache.pop(task_id, None)
        self._forget(task_id)

    # -- waiting --------------------------------------------------------------------------

    def _waiter(self) -> Waiter:
        return PollingWaiter()

    def wait_for(self, task_id: str, timeout: float | None = None, interval: float = 0.5, no_ack: bool = True,
                 on_interval: Callable[[], Any] | None = None) -> dict[str, Any]:
        """Read ``task_id`` until it is ready; return its meta.

        As in Celery, the time waited is the sum of the sleeps (the reads
        themselves are not counted) and no sleep goes past the deadline;
        ``timeout=0`` reads once. Sleeps start short and double up to
        ``interval``; a backend may wake earlier (PostgreSQL LISTEN).

        Raises:
            celery_compat.exceptions.TimeoutError: ``The operation timed out.``
        """
        waiter = self._waiter()
        try:
            elapsed = 0.0
            while True:
                meta = self.get_task_meta(task_id)
                if meta["status"] in self.READY_STATES:
                    return meta
                if on_interval is not None:
                    on_interval()
                if timeout is not None and elapsed >= timeout:
                    raise TimeoutError("The operation timed out.")
                nap = interval if timeout is None else min(interval, timeout - elapsed)
                elapsed += waiter.wait(task_id, nap)
        finally:
            waiter.close()

    def wait_for_pending(self, result: Any, timeout: float | None = None, interval: float = 0.5,
                         no_ack: bool = True, on_message: Any = None, on_interval: Any = None,
                         callback: Any = None, propagate: bool = True) -> Any:
        """Wait for ``result`` (an AsyncResult) and return its value, raising if ``propagate``."""
        if on_message is not None:
            raise ImproperlyConfigured("Backend does not support on_message callback")
        meta = self.wait_for(result.id, timeout=timeout, interval=interval, on_interval=on_interval, no_ack=no_ack)
        result._maybe_set_cache(meta)
        return result.maybe_throw(propagate=propagate, callback=callback)

    def add_pending_result(self, result: Any, weak: bool = False) -> Any:
        return result

    def remove_pending_result(self, result: Any) -> Any:
        return result

    # -- groups ---------------------------------------------------------------------------

    def get_group_meta(self, group_id: str, cache: bool = True) -> dict[str, Any] | None:
        """``{"group_id", "result": GroupResult, "date_done"}``, or None if never saved."""
        if cache and group_id in self._cache:
            return self._cache[group_id]
        meta = self._restore_group(group_id)
        if cache and meta is not None:
            self._cache[group_id] = meta
        return meta

    def restore_group(self, group_id: str, cache: bool = True) -> Any:
        """The saved :class:`~celery_compat.result.GroupResult`, or None."""
        meta = self.get_group_meta(group_id, cache=cache)
        return meta["result"] if meta else None

    def save_group(self, group_id: str, result: Any) -> Any:
        """Save ``result`` (a GroupResult) so that ``restore_group(group_id)`` finds it."""
        return self._save_group(group_id, result)

    def delete_group(self, group_id: str) -> None:
        """Delete the saved group ``group_id`` (its tasks' results stay)."""
        self._cache.pop(group_id, None)
        self._delete_group(group_id)

    # -- chords ---------------------------------------------------------------------------
    #
    # A chord's header tasks carry the body in their request (``chord``) and
    # the header's group id (``group``). ``apply_chord`` starts a counter of
    # the header tasks; each header completion (success, failure, revoke)
    # decrements it; the completion that brings it to 0 publishes the body
    # with the header's values, or fails the body with a ``ChordError``.
    # This base keeps counters in the process (right for the memory
    # backend); the database backend keeps them in ``ChordCounter`` rows.

    def ensure_chords_allowed(self) -> None:
        pass

    def apply_chord(self, header_result_args: Any, body: Any, **kwargs: Any) -> None:
        """Start the counter of the chord whose header is ``header_result_args`` (a GroupResult or its args)."""
        header = self._header_result(header_result_args)
        with self._chord_lock:
            self._chord_counters[header.id] = [len(header.results), header]

    def chord_publish_transaction(self) -> AbstractContextManager[Any]:
        """Around creating a chord's counter and publishing its header: nothing to join here."""
        return nullcontext()

    def _header_result(self, header_result_args: Any) -> Any:
        from ..result import GroupResult

        if isinstance(header_result_args, GroupResult):
            return header_result_args
        return GroupResult(*header_result_args, app=self.app)

    def _chord_part_done(self, request: Any) -> Any:
        """Count one header task of ``request.group`` done; the header ``GroupResult`` if it was the last."""
        with self._chord_lock:
            entry = self._chord_counters.get(request.group)
            if entry is None:
                return None
            entry[0] -= 1
            if entry[0] > 0:
                return None
            del self._chord_counters[request.group]
            return entry[1]

    def _store_chord_part(self, store: Callable[[], None], request: Any, state: str, result: Any) -> None:
        """``store()`` the result; if the task is a chord header part, count it (together, where possible)."""
        store()
        if request is not None and getattr(request, "chord", None):
            self.on_chord_part_return(request, state, result)

    def on_chord_part_return(self, request: Any, state: str, result: Any, **kwargs: Any) -> None:
        """A header task of ``request.group`` finished: publish the body if it was the last one."""
        header = self._chord_part_done(request)
        if header is not None:
            self.trigger_chord_body(request.chord, header)

    def trigger_chord_body(self, callback: Any, header: Any) -> None:
        """Publish the body with the header's values, or store its failure if a header task failed.

        A body that cannot be published fails with ``ChordError('Callback
        error: …')`` (its errbacks called), as in Celery, so the failure is
        seen rather than the chord waiting forever; except for the errors
        :meth:`_retry_chord_completion` names, which are raised so that the
        whole completion is done again.
        """
        from ..canvas import maybe_signature
        from ..exceptions import ChordError
        from ..result import allow_join_result

        body = maybe_signature(callback, app=self.app)
        try:
            with allow_join_result():
                values = header.join(timeout=self.app.conf.result_chord_join_timeout, propagate=True)
        except Exception as exc:
            self.chord_error_from_stack(body, ChordError(repr(exc)))
            return
        try:
            self._publish_chord_body(body, values)
        except Exception as exc:
            if self._retry_chord_completion(exc):
                raise
            logger.exception("Chord %r raised: %r", header.id, exc)
            error = ChordError(f"Callback error: {exc!r}")
            error.__cause__ = exc
            self.chord_error_from_stack(body, error)

    def _publish_chord_body(self, body: Any, values: list[Any]) -> None:
        body.delay(values)

    def _retry_chord_completion(self, exc: BaseException) -> bool:
        """Whether a failed body publish must undo and redo the completion instead of failing the body."""
        return False

    def chord_error_from_stack(self, callback: Any, exc: BaseException | None = None) -> None:
        """Store ``exc`` as the failure of the chord body (each task of a group body), call its errbacks."""
        from ..canvas import group, maybe_signature
        from ..context import Context
        from ..trace import _is_new_style

        app = self.app
        body = maybe_signature(callback, app=app)
        targets = body.tasks if isinstance(body, group) else [body]
        for target in targets:
            later = [(s.get("options") or {}).get("task_id") for s in target.options.get("chain") or ()]
            for task_id in [target.id, *later]:
                if task_id:
                    self.store_result(task_id, exc, states.FAILURE)
            request = Context(id=target.id, task=target.task, args=list(target.args), kwargs=target.kwargs,
                              group=target.options.get("group_id"), root_id=target.options.get("root_id"),
                              parent_id=target.options.get("parent_id"), called_directly=False)
            old_style = []
            for errback in target.options.get("link_error") or ():
                sig = maybe_signature(errback, app=app)
                task = app.tasks.get(sig.task)
                if task is not None and _is_new_style(task, sig):
                    try:
                        self._run_chord_errback(sig, request, exc, None)
                    except Exception:
                        logger.exception("Chord errback %s raised", sig.task)
                else:
                    old_style.append(sig)
            if old_style:
                # As Celery: applied with the body's id, as one group, the body as their parent.
                errbacks = group(old_style, app=app)
                try:
                    self._run_chord_errback(functools.partial(
                        errbacks.apply_async, (target.id,), parent_id=target.id,
                        root_id=target.options.get("root_id") or target.id))
                except Exception:
                    logger.exception("Chord errbacks %r raised", errbacks)

    def _run_chord_errback(self, fn: Callable[..., Any], *args: Any) -> None:
        fn(*args)

    def set_chord_size(self, group_id: str, chord_size: int) -> None:
        pass

    # -- maintenance ----------------------------------------------------------------------

    def cleanup(self) -> None:
        """Delete expired results (``result_expires``); run daily by ``celery.backend_cleanup``."""

    def process_cleanup(self) -> None:
        """Called by the worker after each task."""

    def on_task_call(self, producer: Any, task_id: str) -> dict[str, Any]:
        return {}

    # -- storage primitives ---------------------------------------------------------------

    def _store_result(self, task_id: str, result: Any, state: str, traceback: str | None = None,
                      request: Any = None, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not implement _store_result")

    def _get_task_meta_for(self, task_id: str) -> dict[str, Any]:
        raise NotImplementedError(f"{type(self).__name__} does not implement _get_task_meta_for")

    def _forget(self, task_id: str) -> None:
        raise NotImplementedError("backend does not implement forget.")

    def _save_group(self, group_id: str, result: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not implement save_group")

    def _restore_group(self, group_id: str) -> dict[str, Any] | None:
        raise NotImplementedError(f"{type(self).__name__} does not implement restore_group")

    def _delete_group(self, group_id: str) -> None:
        raise NotImplementedError(f"{type(self).__name__} does not implement delete_group")
