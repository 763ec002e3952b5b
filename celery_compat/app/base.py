"""``Celery``: the app: configuration, task registry, publishing, results."""

from __future__ import annotations

import datetime as dt
import importlib
import logging
import os
import threading
import warnings
from functools import cached_property
from typing import Any, Callable
from zoneinfo import ZoneInfo

from kombu import Connection, Producer
from kombu.serialization import dumps, loads

from .. import _state, signals
from ..config import Settings, read_object
from ..exceptions import AlwaysEagerIgnored, ImproperlyConfigured
from ..registry import TaskRegistry
from ..task import Task, autoretry, uuid4
from ..utils.dispatch import Signal
from ..utils.imports import imported

logger = logging.getLogger("celery.app")


class Celery:
    """A Celery application, configured from Django settings or objects."""

    Task = Task

    def __init__(
        self,
        main: str | None = None,
        loader: Any = None,
        backend: str | None = None,
        amqp: Any = None,
        events: Any = None,
        log: Any = None,
        control: Any = None,
        set_as_current: bool = True,
        tasks: Any = None,
        broker: str | None = None,
        include: Any = None,
        changes: dict[str, Any] | None = None,
        config_source: Any = None,
        fixups: Any = None,
        task_cls: Any = None,
        autofinalize: bool = True,
        namespace: str | None = None,
        strict_typing: bool = True,
        **kwargs: Any,
    ) -> None:
        import kombu_transport_django

        kombu_transport_django.register()
        self.main = main
        self.namespace = namespace
        self.strict_typing = strict_typing
        self.autofinalize = autofinalize
        self.finalized = False
        self._tasks = TaskRegistry()
        self._pending_tasks: list[Callable[[], Any]] = []
        self._pending_periodic: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
        self._autodiscover: list[tuple[Any, str]] = []
        self._config_source = config_source
        self._conf: Settings | None = None
        self._preconf: dict[str, Any] = dict(changes or {})
        if broker:
            self._preconf["broker_url"] = broker
        if backend:
            self._preconf["result_backend"] = backend
        if include:
            self._preconf["include"] = tuple(include)
        self._preconf.update(kwargs)
        if task_cls is not None:
            self.Task = self._subclass_task(task_cls)
        self._backend: Any = None
        self._local = threading.local()
        self.on_configure = Signal(name="app.on_configure")
        self.on_after_configure = Signal(name="app.on_after_configure", providing_args={"source"})
        self.on_after_finalize = Signal(name="app.on_after_finalize")
        self.on_after_fork = Signal(name="app.on_after_fork")
        _state.register_app(self)
        if set_as_current:
            self.set_current()

    def _subclass_task(self, task_cls: Any) -> type[Task]:
        if isinstance(task_cls, str):
            module, _, attr = task_cls.replace(":", ".").rpartition(".")
            task_cls = getattr(importlib.import_module(module), attr)
        return task_cls

    def __repr__(self) -> str:
        return f"<Celery {self.main or '__main__'} at {id(self):#x}>"

    # -- current app -----------------------------------------------------------

    def set_current(self) -> None:
        _state._set_current_app(self)

    def set_default(self) -> None:
        _state.set_default_app(self)

    # -- configuration -----------------------------------------------------------

    @property
    def conf(self) -> Settings:
        if self._conf is None:
            self._conf = self._load_config()
        return self._conf

    @conf.setter
    def conf(self, value: Settings) -> None:
        self._conf = value

    def _load_config(self) -> Settings:
        self.on_configure.send(sender=self)
        settings = Settings()
        if self._config_source is not None:
            source, namespace = self._config_source
            settings.update(read_object(_resolve_source(source), namespace))
        settings.update(self._preconf)
        for name in ("broker_url", "result_backend"):
            env = os.environ.get(f"CELERY_{name.upper()}")
            if env:
                settings[name] = env
        self._conf = settings
        self.on_after_configure.send(sender=self, source=settings)
        for args, kwargs in self._pending_periodic:
            self._add_periodic_task(*args, **kwargs)
        self._pending_periodic.clear()
        return settings

    def config_from_object(self, obj: Any, silent: bool = False, force: bool = False, namespace: str | None = None) -> None:
        """Read settings from ``obj`` (a module, its dotted path, or an object)."""
        self._config_source = (obj, namespace if namespace is not None else self.namespace)
        if force or self._conf is not None:
            self._conf = None
            try:
                self.conf  # noqa: B018
            except ImportError:
                if not silent:
                    raise

    def config_from_envvar(self, variable_name: str, silent: bool = False, force: bool = False) -> None:
        module = os.environ.get(variable_name)
        if not module:
            if silent:
                return
            raise ImproperlyConfigured(f"The environment variable {variable_name!r} is not set.")
        self.config_from_object(module, silent=silent, force=force)

    @property
    def timezone(self) -> dt.tzinfo:
        """``timezone`` setting, else Django's ``TIME_ZONE``, else UTC."""
        name = self.conf.timezone
        if not name:
            from django.conf import settings

            name = getattr(settings, "TIME_ZONE", None) if settings.configured else None
        return ZoneInfo(name) if name else ZoneInfo("UTC")

    def now(self) -> dt.datetime:
        return dt.datetime.now(self.timezone)

    # -- tasks -----------------------------------------------------------------------

    def task(self, *args: Any, **opts: Any) -> Any:
        """Decorator turning a function into a task of this app."""
        if args and callable(args[0]) and len(args) == 1 and not opts:
            return self._task_from_fun(args[0])

        def decorate(fun: Callable[..., Any]) -> Any:
            return self._task_from_fun(fun, **opts)

        return decorate

    def _task_from_fun(self, fun: Callable[..., Any], name: str | None = None, base: Any = None,
                       bind: bool = False, shared: bool = True, **options: Any) -> Task:
        options.pop("lazy", None)
        options.pop("filter", None)
        name = name or self.gen_task_name(fun.__name__, fun.__module__)
        if name in self._tasks:
            return self._tasks[name]
        base = base or self.Task
        run = fun if bind else staticmethod(fun)
        task_cls = type(fun.__name__, (base,), {
            "_app": self, "name": name, "run": run, "_decorated": True,
            "__doc__": fun.__doc__, "__module__": fun.__module__,
            "__qualname__": fun.__qualname__, "__wrapped__": fun, **options,
        })
        task_cls.bind(self)
        task = task_cls()
        if task.autoretry_for:
            task.run = autoretry(task, task.run)
        self._tasks[name] = task
        return task

    def register_task(self, task: Any, **options: Any) -> Task:
        """Register a class-based task (class or instance)."""
        if isinstance(task, type):
            task = task()
        if not task.name:
            cls = type(task)
            task.name = self.gen_task_name(cls.__name__, cls.__module__)
        type(task).bind(self)
        if task.autoretry_for and not getattr(task.run, "__wrapped__", None):
            task.run = autoretry(task, task.run)
        self._tasks[task.name] = task
        return task

    def gen_task_name(self, name: str, module: str) -> str:
        if module == "__main__" and self.main:
            module = self.main
        return f"{module}.{name}"

    @property
    def tasks(self) -> TaskRegistry:
        self.finalize(auto=True)
        return self._tasks

    def finalize(self, auto: bool = False) -> None:
        """Create the shared tasks on this app and import ``include``."""
        if self.finalized:
            return
        self.finalized = True
        for callback in _state.app_finalizers():
            callback(self)
        from .. import builtins

        builtins.register(self)
        for module in tuple(self.conf.imports or ()) + tuple(self.conf.include or ()):
            importlib.import_module(module)
        self.on_after_finalize.send(sender=self)

    def autodiscover_tasks(self, packages: Any = None, related_name: str = "tasks", force: bool = False) -> None:
        """Import ``<package>.tasks`` of every Django app (or of ``packages``)."""
        self._autodiscover.append((packages, related_name))
        if force:
            self.discover_tasks()

    def discover_tasks(self) -> list[str]:
        imported = []
        for packages, related_name in self._autodiscover:
            if callable(packages):
                packages = packages()
            if packages is None:
                from django.apps import apps

                packages = [config.name for config in apps.get_app_configs()]
            for package in packages:
                name = f"{package}.{related_name}" if related_name else package
                try:
                    importlib.import_module(name)
                except ModuleNotFoundError as exc:
                    if exc.name != name:
                        raise  # the tasks module exists and itself failed
                    continue
                imported.append(name)
        return imported

    # -- publishing ---------------------------------------------------------------

    def connection_for_write(self, url: str | None = None, **kwargs: Any) -> Connection:
        conf = self.conf
        return Connection(
            url or conf.broker_write_url or conf.broker_url,
            transport=conf.broker_transport,
            transport_options=conf.broker_transport_options,
            connect_timeout=conf.broker_connection_timeout,
            **kwargs,
        )

    connection_for_read = connection_for_write

    def producer(self) -> Producer:
        """This thread's producer: one broker connection per thread and process."""
        local = self._local
        if getattr(local, "pid", None) != os.getpid() or getattr(local, "producer", None) is None:
            local.pid = os.getpid()
            local.connection = self.connection_for_write()
            local.producer = Producer(local.connection)
        return local.producer

    @property
    def thread_oid(self) -> str:
        """This thread's unique id for the app: a message's default ``reply_to``, as in Celery."""
        from kombu.common import oid_from

        local = self._local
        oid = getattr(local, "oid", None)
        if oid is None:
            oid = local.oid = oid_from(self, threads=True)
        return oid

    @property
    def router(self) -> Any:
        router = getattr(self, "_router", None)
        if router is None:
            from ..routes import Router

            router = self._router = Router(self)
        return router

    def send_task(
        self, name: str, args: Any = None, kwargs: Any = None, countdown: float | None = None,
        eta: Any = None, task_id: str | None = None, producer: Any = None, connection: Any = None,
        router: Any = None, result_cls: Any = None, expires: Any = None, publisher: Any = None,
        link: Any = None, link_error: Any = None, add_to_parent: bool = True, group_id: str | None = None,
        group_index: int | None = None, retries: int = 0, chord: Any = None, reply_to: str | None = None,
        time_limit: float | None = None, soft_time_limit: float | None = None, root_id: str | None = None,
        parent_id: str | None = None, route_name: str | None = None, shadow: str | None = None,
        chain: Any = None, task_type: Any = None, replaced_task_nesting: int = 0, **options: Any,
    ) -> Any:
        """Publish a task message by name; returns its ``AsyncResult``."""
        publish_task = imported("celery_compat.publish", "publish_task")
        if self.conf.task_always_eager:
            warnings.warn(AlwaysEagerIgnored("task_always_eager has no effect on send_task"), stacklevel=2)
        return publish_task(
            self, name, args, kwargs, countdown=countdown, eta=eta, task_id=task_id or uuid4(),
            producer=producer or publisher, result_cls=result_cls, expires=expires, link=link,
            link_error=link_error, add_to_parent=add_to_parent, group_id=group_id, group_index=group_index,
            retries=retries, chord=chord, reply_to=reply_to, time_limit=time_limit,
            soft_time_limit=soft_time_limit, root_id=root_id, parent_id=parent_id,
            route_name=route_name, shadow=shadow, chain=chain, task_type=task_type,
            replaced_task_nesting=replaced_task_nesting, **options,
        )

    def serialization_round_trip(self, value: Any, serializer: str | None = None) -> Any:
        """``value`` as a worker would see it after the task serializer."""
        content_type, encoding, data = dumps(value, serializer=serializer or self.conf.task_serializer)
        return loads(data, content_type, encoding, accept={content_type})

    # -- results ----------------------------------------------------------------------

    @property
    def backend(self) -> Any:
        if self._backend is None:
            from ..backends import by_url

            self._backend = by_url(self.conf.result_backend, self)
        return self._backend

    def AsyncResult(self, id: str, **kwargs: Any) -> Any:
        return imported("celery_compat.result", "AsyncResult")(id, app=self, **kwargs)

    @cached_property
    def GroupResult(self) -> type:
        """``GroupResult`` bound to this app: a class, as in Celery, so
        ``app.GroupResult.restore(id)`` works as well as ``app.GroupResult(id, results)``."""
        from ..result import GroupResult

        bound_app = self

        class BoundGroupResult(GroupResult):
            def __init__(self, id: str | None = None, results: Any = None, **kwargs: Any) -> None:
                kwargs.setdefault("app", bound_app)
                super().__init__(id, results, **kwargs)

            @classmethod
            def restore(cls, id: str, backend: Any = None, app: Any = None) -> Any:
                return GroupResult.restore(id, backend=backend, app=app or bound_app)

        BoundGroupResult.__name__ = BoundGroupResult.__qualname__ = "GroupResult"
        BoundGroupResult.__module__ = GroupResult.__module__
        return BoundGroupResult

    def signature(self, *args: Any, **kwargs: Any) -> Any:
        from ..canvas import signature

        kwargs.setdefault("app", self)
        return signature(*args, **kwargs)

    @property
    def control(self) -> Any:
        control = getattr(self, "_control", None)
        if control is None:
            from ..control import Control

            control = self._control = Control(self)
        return control

    @property
    def current_task(self) -> Task | None:
        return _state.get_current_task()

    @property
    def current_worker_task(self) -> Task | None:
        return _state.get_current_worker_task()

    # -- periodic tasks (stored for the beat) -------------------------------------

    def add_periodic_task(self, schedule: Any, sig: Any, args: Any = (), kwargs: Any = (),
                          name: str | None = None, **opts: Any) -> str:
        key = name or repr(sig)
        if self._conf is None:
            self._pending_periodic.append(((schedule, sig), dict(args=args, kwargs=kwargs, name=name, **opts)))
            return key
        return self._add_periodic_task(schedule, sig, args=args, kwargs=kwargs, name=name, **opts)

    def _add_periodic_task(self, schedule: Any, sig: Any, args: Any = (), kwargs: Any = (),
                           name: str | None = None, **opts: Any) -> str:
        key = name or repr(sig)
        entry = {
            "schedule": schedule,
            "task": sig["task"] if isinstance(sig, dict) else sig.name,
            "args": tuple(sig.get("args") or ()) if isinstance(sig, dict) else tuple(args),
            "kwargs": dict(sig.get("kwargs") or {}) if isinstance(sig, dict) else dict(kwargs or {}),
            "options": dict(sig.get("options") or {}, **opts) if isinstance(sig, dict) else opts,
        }
        schedule_table = dict(self.conf.beat_schedule or {})
        if key in schedule_table and name is None:
            logger.warning("Periodic task key=%r defined more than once; the last one wins", key)
        schedule_table[key] = entry
        self.conf.beat_schedule = schedule_table
        return key

    def close(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.release()
            self._local.producer = None


def _resolve_source(source: Any) -> Any:
    if not isinstance(source, str):
        return source
    module, sep, attr = source.partition(":")
    obj = importlib.import_module(module)
    return getattr(obj, attr) if sep else obj


def shared_task(*args: Any, **kwargs: Any) -> Any:
    """A task created on every app; resolves through ``current_app``."""

    def create(fun: Callable[..., Any]) -> Any:
        name = kwargs.get("name") or f"{fun.__module__}.{fun.__name__}"
        opts = dict(kwargs, name=name)

        def register(app: Celery) -> Task:
            return app._task_from_fun(fun, **opts)

        _state.connect_on_app_finalize(register)
        for app in _state.all_apps():
            if app.finalized:
                register(app)
        return _state.Proxy(lambda: _shared_lookup(name, register))

    if len(args) == 1 and callable(args[0]) and not kwargs:
        return create(args[0])
    return create


def _shared_lookup(name: str, register: Callable[[Celery], Task]) -> Task:
    app = _state.get_current_app()
    tasks = app.tasks
    if name not in tasks:
        return register(app)
    return tasks[name]


_ = signals  # imported for its side effect of defining Celery's signals
