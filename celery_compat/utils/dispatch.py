"""The observer pattern: Celery's ``Signal`` (``celery.utils.dispatch.Signal``).

Close to Django's ``Signal``, with Celery's differences:

- ``send()`` never lets a receiver's exception escape: it is logged (logger
  ``celery.utils.dispatch.signal``, with traceback) and returned as that
  receiver's response. ``send_robust`` is the same method.
- ``connect`` works as a decorator with or without arguments and can wrap a
  receiver to retry it until it succeeds (``retry=True``).
- A ``str`` (or ``bytes``) sender is matched by value, so receivers connected
  with ``sender='tasks.add'`` see ``before_task_publish`` for that task name;
  other senders are matched by identity.
- Receivers are held through weak references by default: a receiver that is
  garbage collected is disconnected.
"""

from __future__ import annotations

import inspect
import threading
import time
import warnings
import weakref
from collections.abc import Callable, Hashable, Iterable
from typing import Any

from ..exceptions import CDeprecationWarning
from .log import get_logger

__all__ = ("Signal",)

# Celery's logger name, so that LOGGING configured for "celery" covers it.
logger = get_logger("celery.utils.dispatch.signal")

Receiver = Callable[..., Any]

RECEIVER_RETRY_ERROR = "Could not process signal receiver %(receiver)s. Retrying %(when)s..."
#: Pauses between the attempts of a ``retry=True`` receiver: 2, 4, ... 30,
#: 30 ... seconds, forever (Celery's, through kombu's retry_over_time).
RETRY_INTERVAL_START_SECONDS = 2.0
RETRY_INTERVAL_STEP_SECONDS = 2.0
RETRY_INTERVAL_MAX_SECONDS = 30.0
# A seam for tests, which must not wait.
_sleep = time.sleep


def _make_id(target: Any) -> Hashable:
    """Identify a receiver or sender: by value for strings, by identity otherwise."""
    # A proxy (e.g. to a task) stands for the object behind it. Checked on
    # the type because a proxy forwards attribute lookups to its target.
    if hasattr(type(target), "_get_current_object"):
        target = target._get_current_object()
    if isinstance(target, (bytes, str)):
        return target
    if hasattr(target, "__func__"):
        # Bound methods are recreated on each attribute access, and those of
        # different instances share __func__: identify them by both halves.
        return (id(getattr(target, "__self__", None)), id(target.__func__))
    return id(target)


NONE_ID = _make_id(None)


def _accepts_kwargs(fun: Callable[..., Any]) -> bool:
    code = getattr(fun, "__code__", None)
    if code is not None:
        # Reading the flag rather than inspect.signature() avoids evaluating
        # annotations, which fails for names imported under TYPE_CHECKING.
        return bool(code.co_flags & inspect.CO_VARKEYWORDS)
    return any(p.kind is p.VAR_KEYWORD for p in inspect.signature(fun).parameters.values())


def _humanize_interval(seconds: float) -> str:
    if seconds <= 0:
        return "now"
    return f"in {seconds:.2f} second{'' if seconds == 1 else 's'}"


class Signal:
    """A signal that receivers connect to and senders ``send()``.

    Arguments:
        providing_args: Names of the keyword arguments ``send()`` passes;
            documentation only, nothing checks them.
        use_caching: Accepted for Celery's signature; receivers are looked up
            on every ``send()`` (Celery's per-sender cache is an optimisation
            that cannot hold ``str`` senders).
        name: The signal's name, shown in ``repr()``.
    """

    def __init__(
        self,
        providing_args: Iterable[str] | None = None,
        use_caching: bool = False,
        name: str | None = None,
    ) -> None:
        #: ``[((receiver id, sender id), receiver or weak reference), ...]``
        self.receivers: list[tuple[tuple[Hashable, Hashable], Any]] = []
        self.providing_args = set(providing_args if providing_args is not None else [])
        self.use_caching = use_caching
        self.name = name
        # send() may run on several threads while others connect.
        self.lock = threading.Lock()
        # Set by weak reference callbacks, which may fire during garbage
        # collection while this thread holds the lock: they only raise this
        # flag, and the next locked operation drops the dead entries.
        self._dead_receivers = False

    def connect(
        self,
        receiver: Receiver | None = None,
        sender: Any = None,
        weak: bool = True,
        dispatch_uid: Hashable | None = None,
        retry: bool = False,
    ) -> Any:
        """Connect ``receiver`` to this signal; without ``receiver``, return a decorator.

        Usable as ``sig.connect(fun)``, ``@sig.connect`` and
        ``@sig.connect(sender=..., dispatch_uid=...)``. Returns the receiver
        (or, with ``retry=True``, the retrying wrapper that was connected).

        Arguments:
            receiver: A callable accepting ``**kwargs``; it is called as
                ``receiver(signal=sig, sender=sender, **named)``.
            sender: Only receive signals sent by this sender (``None``: any).
                Strings are compared by value, other objects by identity.
            weak: Hold the receiver through a weak reference, so it is
                disconnected when garbage collected. Use ``weak=False`` for
                lambdas and local functions.
            dispatch_uid: A unique id for this connection: connecting twice
                with the same id (and sender) connects once.
            retry: Call the receiver again, with growing pauses, until it
                does not raise. Implies ``weak=False``.

        Raises:
            TypeError: ``receiver`` is not callable.
            ValueError: ``receiver`` does not accept keyword arguments.
        """
        if receiver is not None and not callable(receiver) and sender is None:
            # Celery's connect(*args) reads a non-callable first positional
            # argument as the sender: @sig.connect('tasks.add').
            receiver, sender = None, receiver

        def decorate(fun: Receiver) -> Any:
            return self._connect_with_options(fun, sender, weak, dispatch_uid, retry)

        if receiver is None:
            return decorate
        return decorate(receiver)

    def _connect_with_options(
        self, fun: Any, sender: Any, weak: bool, dispatch_uid: Hashable | None, retry: bool
    ) -> Any:
        if retry:
            # The wrapper is a new function that nothing else references,
            # so it must be held strongly; and disconnect(fun) must find it,
            # hence a dispatch_uid derived from the original function.
            weak = False
            if not dispatch_uid:
                dispatch_uid = _make_id(fun)
            fun = self._retrying(fun)
            fun._dispatch_uid = dispatch_uid
        self._connect_signal(fun, sender, weak, dispatch_uid)
        return fun

    @staticmethod
    def _retrying(fun: Receiver) -> Receiver:
        def _try_receiver_over_time(*args: Any, **kwargs: Any) -> Any:
            interval = RETRY_INTERVAL_START_SECONDS
            while True:
                try:
                    return fun(*args, **kwargs)
                except Exception:
                    logger.error(RECEIVER_RETRY_ERROR, {"receiver": fun, "when": _humanize_interval(interval)})
                    _sleep(interval)
                    interval = min(interval + RETRY_INTERVAL_STEP_SECONDS, RETRY_INTERVAL_MAX_SECONDS)

        return _try_receiver_over_time

    def _connect_proxy(self, fun: Receiver, sender: Any, weak: bool, dispatch_uid: Hashable | None) -> Any:
        return self._connect_signal(fun, sender._get_current_object(), weak, dispatch_uid)

    def _connect_signal(self, receiver: Any, sender: Any, weak: bool, dispatch_uid: Hashable | None) -> Any:
        if not callable(receiver):
            raise TypeError(f"Signal receivers must be callable, got {receiver!r}.")
        if not _accepts_kwargs(receiver):
            raise ValueError(
                f"Signal receiver must accept keyword arguments. Add **kwargs to the signature of {receiver!r}."
            )

        # A lazy sender (an app's task before the app is finalized) is not
        # evaluated now: that would finalize the app from a module import.
        # Connect once it is evaluated; `__then__` runs at once if it already is.
        if hasattr(type(sender), "__then__"):
            sender.__then__(self._connect_proxy, receiver, sender, weak, dispatch_uid)
            return receiver

        lookup_key = self._lookup_key(receiver, sender, dispatch_uid)
        entry: Any = receiver
        if weak:
            # A bound method object dies as soon as the attribute lookup is
            # over; WeakMethod follows its instance instead.
            is_bound = hasattr(receiver, "__func__") and hasattr(receiver, "__self__")
            ref_type = weakref.WeakMethod if is_bound else weakref.ref
            entry = ref_type(receiver, self._remove_receiver)

        with self.lock:
            self._clear_dead_receivers()
            if not any(key == lookup_key for key, _ in self.receivers):
                self.receivers.append((lookup_key, entry))
        return entry

    @staticmethod
    def _lookup_key(receiver: Any, sender: Any, dispatch_uid: Hashable | None) -> tuple[Hashable, Hashable]:
        if dispatch_uid:
            return (dispatch_uid, _make_id(sender))
        if hasattr(receiver, "_dispatch_uid"):
            # A retry wrapper, looked up by the function it wraps.
            return (receiver._dispatch_uid, _make_id(sender))
        return (_make_id(receiver), _make_id(sender))

    def disconnect(
        self,
        receiver: Receiver | None = None,
        sender: Any = None,
        weak: bool | None = None,
        dispatch_uid: Hashable | None = None,
    ) -> bool:
        """Disconnect ``receiver`` (or the one connected as ``dispatch_uid``) for ``sender``.

        Returns whether a receiver was disconnected. ``weak`` has no effect
        and is deprecated, as in Celery.
        """
        if weak is not None:
            warnings.warn("Passing `weak` to disconnect has no effect.", CDeprecationWarning, stacklevel=2)
        lookup_key = self._lookup_key(receiver, sender, dispatch_uid)
        with self.lock:
            self._clear_dead_receivers()
            for index, (key, _) in enumerate(self.receivers):
                if key == lookup_key:
                    del self.receivers[index]
                    return True
        return False

    def has_listeners(self, sender: Any = None) -> bool:
        """Whether any live receiver would get a signal sent by ``sender``."""
        return bool(self._live_receivers(sender))

    def send(self, sender: Any, **named: Any) -> list[tuple[Receiver, Any]]:
        """Call every receiver connected for ``sender``; return ``[(receiver, response), ...]``.

        Each receiver is called as ``receiver(signal=self, sender=sender,
        **named)``. An exception raised by a receiver does not propagate:
        it is logged with its traceback and becomes that receiver's response,
        and the remaining receivers still run (unlike Django's ``send``).
        """
        responses: list[tuple[Receiver, Any]] = []
        if not self.receivers:
            return responses
        for receiver in self._live_receivers(sender):
            try:
                response = receiver(signal=self, sender=sender, **named)
            except Exception as exc:
                logger.exception("Signal handler %r raised: %r", receiver, exc)
                responses.append((receiver, exc))
            else:
                responses.append((receiver, response))
        return responses

    #: Celery's ``send`` is already robust; kept for Django's interface.
    send_robust = send

    def _live_receivers(self, sender: Any) -> list[Receiver]:
        sender_key = _make_id(sender)
        with self.lock:
            self._clear_dead_receivers()
            # Snapshot under the lock; receivers run outside it, so they may
            # connect or disconnect without deadlocking.
            entries = [entry for (_, r_sender), entry in self.receivers if r_sender in (NONE_ID, sender_key)]
        live: list[Receiver] = []
        for entry in entries:
            if isinstance(entry, weakref.ReferenceType):
                entry = entry()
                if entry is None:
                    continue
            live.append(entry)
        return live

    def _remove_receiver(self, _ref: Any = None) -> None:
        # Called from garbage collection: see _dead_receivers in __init__.
        self._dead_receivers = True

    def _clear_dead_receivers(self) -> None:
        # The caller holds self.lock.
        if self._dead_receivers:
            self._dead_receivers = False
            self.receivers[:] = [
                (key, entry)
                for key, entry in self.receivers
                if not (isinstance(entry, weakref.ReferenceType) and entry() is None)
            ]

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self.name} providing_args={self.providing_args!r}>"

    __str__ = __repr__
