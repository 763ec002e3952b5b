"""``Task``: Celery's task class, its options, and the ways to call it."""

from __future__ import annotations

import functools
import random
import socket
import uuid
import warnings
from typing import TYPE_CHECKING, Any, Callable

from kombu.exceptions import OperationalError

from . import states
from ._state import pop_current_task, push_current_task
from .context import Context, RequestStack
from .exceptions import (
    CDeprecationWarning,
    Ignore,
    MaxRetriesExceededError,
    NotRegistered,
    Reject,
    Retry,
)
from .utils.header import make_header
from .utils.imports import imported

if TYPE_CHECKING:
    from .app import Celery
    from .result import AsyncResult, EagerResult

#: Options a task takes from the app's settings when left unset (None).
FROM_CONFIG = (
    ("serializer", "task_serializer"),
    ("rate_limit", "task_default_rate_limit"),
    ("priority", "task_default_priority"),
    ("track_started", "task_track_started"),
    ("acks_late", "task_acks_late"),
    ("acks_on_failure_or_timeout", "task_acks_on_failure_or_timeout"),
    ("acks_on_failure", "task_acks_on_failure"),
    ("acks_on_timeout", "task_acks_on_timeout"),
    ("reject_on_worker_lost", "task_reject_on_worker_lost"),
    ("retry_on_worker_lost", "task_retry_on_worker_lost"),
    ("ignore_result", "task_ignore_result"),
    ("store_eager_result", "task_store_eager_result"),
    ("store_errors_even_if_ignored", "task_store_errors_even_if_ignored"),
    ("time_limit", "task_time_limit"),
    ("soft_time_limit", "task_soft_time_limit"),
)

#: Task attributes that Celery 5.7 deprecates (a warning when a task class sets one).
ROUTING_ATTRIBUTES = ("queue", "exchange", "exchange_type", "routing_key", "delivery_mode", "priority")

#: Task attributes that become publishing options of every call.
EXEC_OPTIONS = ("queue", "routing_key", "exchange", "priority", "expires", "serializer",
                "delivery_mode", "compression", "time_limit", "soft_time_limit")


def _argument_header(cls: type) -> Callable[..., None] | None:
    """What ``check_arguments`` calls for a task of class ``cls``: its function's header, or None."""
    function = cls.__dict__.get("__wrapped__") if cls.__dict__.get("_decorated") else None
    header = None if function is None else make_header(function)
    if header is not None and not isinstance(cls.__dict__.get("run"), staticmethod):
        # bind=True: the function's first argument is the task, counted in
        # the message as in Celery's ("takes 2 positional arguments but 3 were given").
        header = functools.partial(header, None)
    return header


def uuid4() -> str:
    return str(uuid.uuid4())


class Task:
    """A task type. Subclass it, or let ``app.task`` build one from a function."""

    __trace__: Any = None
    _app: Celery | None = None
    #: the publishing options taken from the task's attributes at its first call, then kept
    _exec_options: dict[str, Any] | None = None
    name: str | None = None
    typing: bool | None = None
    max_retries: int | None = 3
    default_retry_delay: float = 3 * 60
    rate_limit: Any = None
    ignore_result: bool | None = None
    trail = True
    send_events = True
    store_errors_even_if_ignored: bool | None = None
    store_eager_result: bool | None = None
    serializer: str | None = None
    time_limit: float | None = None
    soft_time_limit: float | None = None
    backend: Any = None
    autoregister = True
    track_started: bool | None = None
    acks_late: bool | None = None
    #: deprecated in Celery 5.7 for the two below, which fall back to it
    acks_on_failure_or_timeout: bool | None = None
    #: with acks_late: ack a failed task's message (False: reject it, not requeued)
    acks_on_failure: bool | None = None
    #: with acks_late: ack the message of a task past its hard time limit (False: requeue it)
    acks_on_timeout: bool | None = None
    reject_on_worker_lost: bool | None = None
    #: a run whose pool process died is sent again as retry() would (max_retries, default_retry_delay)
    retry_on_worker_lost: bool | None = None
    throws: tuple[type[BaseException], ...] = ()
    expires: Any = None
    priority: int | None = None
    queue: Any = None
    routing_key: str | None = None
    exchange: Any = None
    delivery_mode: Any = None
    compression: str | None = None
    resultrepr_maxsize = 1024
    request_stack: RequestStack | None = None
    abstract = True  # Celery compatibility attribute
    autoretry_for: tuple[type[BaseException], ...] = ()
    dont_autoretry_for: tuple[type[BaseException], ...] = ()
    retry_kwargs: dict[str, Any] = {}
    retry_backoff: bool | int = False
    retry_backoff_max = 600
    retry_jitter = True
    _backend: Any = None

    MaxRetriesExceededError = MaxRetriesExceededError
    OperationalError = OperationalError

    # -- binding -------------------------------------------------------------

    @classmethod
    def bind(cls, app: Celery) -> Celery:
        if cls is not Task and "_routing_attributes_checked" not in cls.__dict__:
            cls._routing_attributes_checked = True
            for attr in ROUTING_ATTRIBUTES:
                if attr in cls.__dict__:
                    # As Celery 5.7, word for word: these stop working in Celery 6.0.
                    warnings.warn(CDeprecationWarning(
                        f"\n    The {attr!r} task attribute is deprecated and scheduled for removal in\n"
                        f"    version 6.0. Use the task_routes setting instead.\n"
                    ), stacklevel=2)
        cls._app = app
        conf = app.conf
        for attr, setting in FROM_CONFIG:
            if getattr(cls, attr, None) is None:
                setattr(cls, attr, conf[setting])
        # As Celery 5.7: the split ack options fall back to the old combined one.
        for attr in ("acks_on_failure", "acks_on_timeout"):
            if getattr(cls, attr) is None:
                combined = cls.acks_on_failure_or_timeout
                setattr(cls, attr, True if combined is None else combined)
        if cls.typing is None:
            cls.typing = app.strict_typing
        if cls.request_stack is None or "request_stack" not in cls.__dict__:
            cls.request_stack = RequestStack()
        cls.on_bound(app)
        return app

    @classmethod
    def on_bound(cls, app: Celery) -> None:
        """Called when the task class is bound to an app; for subclasses."""

    @property
    def app(self) -> Celery:
        app = self._app
        if app is None:
            from ._state import get_current_app

            app = get_current_app()
            type(self).bind(app)
        return app

    # -- request context -------------------------------------------------------

    @property
    def request(self) -> Context:
        stack = self.request_stack
        top = stack.top if stack is not None else None
        return top if top is not None else Context()

    def push_request(self, *args: Any, **kwargs: Any) -> None:
        if self.request_stack is None:
            type(self).request_stack = RequestStack()
        self.request_stack.push(Context(*args, **kwargs))  # type: ignore[union-attr]

    def pop_request(self) -> None:
        self.request_stack.pop()  # type: ignore[union-attr]

    # -- calling ---------------------------------------------------------------

    def run(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("Tasks must define the run method.")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run the task body in this process, as a plain call."""
        push_current_task(self)
        self.push_request(args=args, kwargs=kwargs)
        try:
            return self.run(*args, **kwargs)
        finally:
            self.pop_request()
            pop_current_task()

    def check_arguments(self, *args: Any, **kwargs: Any) -> None:
        """Raise the ``TypeError`` the task function would raise for these arguments, as Celery's ``typing`` does.

        Only a task made from a function (``@app.task``, ``@shared_task``) is
        checked, against that function, as in Celery: a ``Task`` subclass
        with a ``run`` of its own is not.
        """
        header = self._run_header
        if header is not None:
            header(*args, **kwargs)

    @functools.cached_property
    def _run_header(self) -> Callable[..., None] | None:
        # Made at the first check, not when the task is made (at import).
        return _argument_header(type(self))

    def delay(self, *args: Any, **kwargs: Any) -> AsyncResult:
        """``apply_async(args, kwargs)``."""
        return self.apply_async(args, kwargs)

    def apply_async(
        self,
        args: Any = None,
        kwargs: Any = None,
        task_id: str | None = None,
        producer: Any = None,
        link: Any = None,
        link_error: Any = None,
        shadow: str | None = None,
        **options: Any,
    ) -> AsyncResult:
        """Publish this task, or run it at once under ``task_always_eager``."""
        if self.typing:
            # The function's own TypeError, unwrapped, as Celery 5 raises it.
            self.check_arguments(*(args or ()), **(kwargs or {}))
        app = self.app
        if app.conf.task_always_eager:
            return self._apply_eager(args, kwargs, task_id, link, link_error, options)
        shadow = shadow or self.shadow_name(args, kwargs, options)
        preopts = self._exec_options
        if preopts is None:
            # As Celery: read at the first call and kept (an attribute set on
            # the task later is not seen); ten getattr calls per publish before.
            preopts = self._exec_options = {attr: getattr(self, attr, None) for attr in EXEC_OPTIONS}
        options = dict(preopts, **options)
        ignore_result = options.pop("ignore_result", None)
        if ignore_result is None:
            ignore_result = self.ignore_result
        return app.send_task(
            self.name,
            args,
            kwargs,
            task_id=task_id,
            producer=producer,
            link=link,
            link_error=link_error,
            result_cls=self.AsyncResult,
            shadow=shadow,
            task_type=self,
            ignore_result=ignore_result,
            **options,
        )

    def shadow_name(self, args: Any, kwargs: Any, options: dict[str, Any]) -> str | None:
        """Override to give messages of this task another display name."""
        return None

    def _apply_eager(
        self, args: Any, kwargs: Any, task_id: str | None, link: Any, link_error: Any, options: dict[str, Any]
    ) -> EagerResult:
        from .result import denied_join_result

        # Arguments round-trip through the serializer, as in Celery: tuples
        # come back as lists, and what cannot be encoded fails here.
        serializer = options.get("serializer") or self.serializer
        args, kwargs = self.app.serialization_round_trip((args or (), kwargs or {}), serializer)
        with denied_join_result():
            return self.apply(args, kwargs, task_id=task_id or uuid4(), link=link, link_error=link_error, **options)

    def apply(
        self,
        args: Any = None,
        kwargs: Any = None,
        link: Any = None,
        link_error: Any = None,
        task_id: str | None = None,
        retries: int | None = None,
        throw: bool | None = None,
        logfile: Any = None,
        loglevel: Any = None,
        headers: dict[str, Any] | None = None,
        **options: Any,
    ) -> EagerResult:
        """Run the task here and now; return an ``EagerResult``."""
        from .result import EagerResult
        from .trace import trace_task

        app = self.app
        task_id = task_id or uuid4()
        throw = app.conf.task_eager_propagates if throw is None else throw
        request = {
            "id": task_id,
            "task": self.name,
            "args": list(args or ()),
            "kwargs": dict(kwargs or {}),
            "retries": retries or 0,
            "is_eager": True,
            "called_directly": False,
            "logfile": logfile,
            "loglevel": loglevel or 0,
            "hostname": socket.gethostname(),
            "callbacks": _maybe_list(link),
            "errbacks": _maybe_list(link_error),
            "headers": headers,
            "ignore_result": options.get("ignore_result"),
            "delivery_info": {"is_eager": True, "exchange": None, "routing_key": None, "priority": None},
            "root_id": options.get("root_id") or task_id,
            "parent_id": options.get("parent_id"),
            "group": options.get("group_id"),
            "group_index": options.get("group_index"),
            "chain": options.get("chain"),
            "chord": options.get("chord"),
            "eta": None,
            "expires": None,
        }
        if headers:
            request.update(headers)
        outcome = trace_task(self, task_id, request["args"], request["kwargs"], request, eager=True)
        if isinstance(outcome.retval, Retry) and outcome.retval.sig is not None:
            return outcome.retval.sig.apply(retries=(retries or 0) + 1, throw=throw)
        if throw and outcome.state == states.FAILURE and isinstance(outcome.retval, BaseException):
            raise outcome.retval
        return EagerResult(task_id, outcome.retval, outcome.state, traceback=outcome.traceback, name=self.name)

    def AsyncResult(self, task_id: str, **kwargs: Any) -> AsyncResult:
        return imported("celery_compat.result", "AsyncResult")(task_id, backend=self.backend_for_results, task_name=self.name, app=self.app, **kwargs)

    @property
    def backend_for_results(self) -> Any:
        return self._backend if self._backend is not None else self.app.backend

    # -- signatures --------------------------------------------------------------

    def signature(self, args: Any = None, *starargs: Any, **starkwargs: Any) -> Any:
        """A ``Signature`` of a call to this task."""
        from .canvas import signature

        starkwargs.setdefault("app", self.app)
        return signature(self, args, *starargs, **starkwargs)

    subtask = signature

    def s(self, *args: Any, **kwargs: Any) -> Any:
        return self.signature(args, kwargs)

    def si(self, *args: Any, **kwargs: Any) -> Any:
        return self.signature(args, kwargs, immutable=True)

    def map(self, it: Any) -> Any:
        """``xmap``: one ``celery.map`` message calling this task for each item of ``it``."""
        from .canvas import xmap

        return xmap(self.s(), it, app=self.app)

    def starmap(self, it: Any) -> Any:
        """``xstarmap``: one ``celery.starmap`` message calling this task with each item's args."""
        from .canvas import xstarmap

        return xstarmap(self.s(), it, app=self.app)

    def chunks(self, it: Any, n: int) -> Any:
        """``chunks``: ``it`` in parts of ``n`` items, one ``celery.starmap`` message per part."""
        from .canvas import chunks

        return chunks(self.s(), it, n, app=self.app)

    # -- inside a running task -------------------------------------------------

    def replace(self, sig: Any) -> Any:
        """Replace this running task by ``sig``: same task id, same callbacks, chain and chord.

        The caller's result becomes ``sig``'s result. A group (also one that
        ends a chain) is first chained with ``celery.accumulate`` (its
        result: the list). ``replaced_task_nesting`` is one more than this
        task's, on the replacement, on each task of a replacing chain and
        on the remaining steps of this task's chain, as in Celery.
        :meth:`on_replace` then publishes it: in a worker this raises
        ``Ignore`` (this execution stores nothing); in eager mode it returns
        the replacement's value.

        Raises:
            ImproperlyConfigured: ``sig`` is in a chord, or an empty chain.
        """
        from .canvas import chain, group, maybe_signature
        from .exceptions import ImproperlyConfigured

        sig = maybe_signature(sig, app=self.app)
        request = self.request
        if sig.options.get("chord") is not None:
            raise ImproperlyConfigured("A signature replacing a task must not be part of a chord")
        if isinstance(sig, chain) and not sig.tasks:
            raise ImproperlyConfigured("Cannot replace with an empty chain")
        accumulate = self.app.tasks["celery.accumulate"]
        if isinstance(sig, group):
            sig = sig | accumulate.s(index=0)
        elif isinstance(sig, chain) and isinstance(sig.tasks[-1], group):
            sig.tasks[-1] = sig.tasks[-1] | accumulate.s(index=0)
        for callback in request.callbacks or ():
            sig.link(maybe_signature(callback, app=self.app))
        for errback in request.errbacks or ():
            sig.link_error(maybe_signature(errback, app=self.app))
        nesting = (request.replaced_task_nesting or 0) + 1
        sig.set(replaced_task_nesting=nesting)
        for step in sig.tasks if isinstance(sig, chain) else ():
            step.set(replaced_task_nesting=nesting)
        rest = [maybe_signature(step, app=self.app).set(replaced_task_nesting=nesting)
                for step in reversed(request.chain or ())]
        if rest:
            # The chord/group place belongs to the last remaining step (already frozen).
            sig.freeze(request.id, root_id=request.root_id)
            sig = chain(sig, *rest, app=self.app)
        else:
            sig.freeze(request.id, group_id=request.group, chord=request.chord,
                       group_index=request.group_index, root_id=request.root_id)
        return self.on_replace(sig)

    def retry(
        self,
        args: Any = None,
        kwargs: Any = None,
        exc: BaseException | None = None,
        throw: bool = True,
        eta: Any = None,
        countdown: float | None = None,
        max_retries: int | None = None,
        **options: Any,
    ) -> Retry:
        """Publish this task again (same id, ``retries + 1``) and raise ``Retry``."""
        request = self.request
        retries = request.retries + 1
        limit = self.max_retries if max_retries is None else max_retries
        if request.called_directly:
            # Not in a worker: Celery re-raises what it was given.
            if exc is not None:
                raise exc
            raise Retry("Task can be retried", None)
        if not eta and countdown is None:
            countdown = self.default_retry_delay
        args = request.args if args is None else args
        kwargs = request.kwargs if kwargs is None else kwargs
        if limit is not None and retries > limit:
            if exc is not None:
                raise exc
            raise self.MaxRetriesExceededError(
                f"Can't retry {self.name}[{request.id}] args:{tuple(args)} kwargs:{kwargs}",
                task_args=args,
                task_kwargs=kwargs,
            )
        if request.is_eager:
            # As Celery: the retry is not run here; apply() re-applies the
            # signature carried by the Retry, so the caller's EagerResult
            # is the outcome of the last attempt. The countdown is ignored.
            sig = self.signature(args, kwargs, task_id=request.id, link=request.callbacks,
                                 link_error=request.errbacks)
            ret = Retry(exc=exc, when=eta or countdown, is_eager=True, sig=sig)
            if throw:
                raise ret
            return ret
        ret = Retry(exc=exc, when=eta or countdown, is_eager=False)
        delivery_info = request.delivery_info or {}
        send_options = dict(
            request.as_execution_options(),
            retries=retries,
            countdown=countdown,
            eta=eta,
            queue=delivery_info.get("routing_key") or None,
            priority=delivery_info.get("priority"),
        )
        send_options.update(options)
        try:
            self.apply_async(args, kwargs, **{k: v for k, v in send_options.items() if k != "task_id"},
                             task_id=request.id)
        except Exception as publish_error:
            raise Reject(publish_error, requeue=False) from publish_error
        if throw:
            raise ret
        return ret

    def update_state(self, task_id: str | None = None, state: str | None = None, meta: Any = None, **kwargs: Any) -> None:
        """Store ``state`` and ``meta`` for this task (or ``task_id``)."""
        if task_id is None:
            task_id = self.request.id
        self.backend_for_results.store_result(task_id, meta, state, request=self.request, **kwargs)

    def add_trail(self, result: Any) -> Any:
        if self.trail:
            self.request.children.append(result)
        return result

    # -- Django: publish after commit (celery.contrib.django.task.DjangoTask) --

    def delay_on_commit(self, *args: Any, **kwargs: Any) -> None:
        """``delay`` once the current transaction commits; returns None."""
        from django.db import transaction

        transaction.on_commit(functools.partial(self.delay, *args, **kwargs))

    def apply_async_on_commit(self, *args: Any, **kwargs: Any) -> None:
        """``apply_async`` once the current transaction commits; returns None."""
        from django.db import transaction

        transaction.on_commit(functools.partial(self.apply_async, *args, **kwargs))

    # -- handlers: override in subclasses ----------------------------------------

    def before_start(self, task_id: str, args: Any, kwargs: Any) -> None:
        """Run by the worker before the task starts."""

    def on_success(self, retval: Any, task_id: str, args: Any, kwargs: Any) -> None:
        """Run by the worker when the task succeeds."""

    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        """Run by the worker when the task fails."""

    def on_retry(self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        """Run by the worker when the task is to be retried."""

    def after_return(self, status: str, retval: Any, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        """Run by the worker after the task returned (not for RETRY)."""

    def on_replace(self, sig: Any) -> Any:
        """Called by :meth:`replace` with the replacement; publishes it (eagerly: runs it), as Celery's.

        An override must ``return super().on_replace(sig)``.
        """
        request = self.request
        if request.is_eager:
            return sig.apply().get(disable_sync_subtasks=False)
        # Published from inside this task, as Celery's ``sig.delay()``: its
        # parent is this task (publish.py gives parent_id = this task's id).
        sig.apply_async()
        raise Ignore("Replaced by new task")

    def __repr__(self) -> str:
        return f"<@task: {self.name} of {self.app.main if self._app else '(unbound)'}>"


def _maybe_list(value: Any) -> list[Any] | None:
    if value is None:
        return None
    return list(value) if isinstance(value, (list, tuple)) else [value]


def autoretry(task: Task, run: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap ``run`` with ``autoretry_for`` / backoff / jitter, as Celery does."""
    autoretry_for = tuple(task.autoretry_for or ())
    if not autoretry_for:
        return run
    dont = tuple(task.dont_autoretry_for or ())
    retry_kwargs = dict(task.retry_kwargs or {})

    @functools.wraps(run)
    def run_with_autoretry(*args: Any, **kwargs: Any) -> Any:
        try:
            return run(*args, **kwargs)
        except (Retry, Ignore, Reject):
            raise
        except dont:
            raise
        except autoretry_for as exc:
            options = dict(retry_kwargs)
            if task.retry_backoff:
                # Celery's factor is int(max(1.0, retry_backoff)): a fraction
                # below 1 still backs off by 1, 2, 4 … seconds
                factor = int(max(1.0, float(task.retry_backoff)))
                countdown = min(int(task.retry_backoff_max), factor * (2 ** task.request.retries))
                if task.retry_jitter:
                    countdown = random.randrange(countdown + 1)
                options["countdown"] = countdown
            raise task.retry(exc=exc, **options)

    return run_with_autoretry


__all__ = ["Task", "NotRegistered", "uuid4", "autoretry"]
