"""Where a task message goes: queues, ``task_routes`` and Celery's precedence.

``apply_async(queue=)`` beats the task's ``queue`` attribute, which beats
``task_routes``, which beats ``task_default_queue``: options that are set
(not None) always win over what a route proposes.
"""

from __future__ import annotations

import fnmatch
import re
from typing import TYPE_CHECKING, Any, Callable, Mapping

from kombu import Exchange, Queue

from .exceptions import QueueNotFound

if TYPE_CHECKING:
    from .app import Celery


def lpmerge(left: Mapping[str, Any], right: Mapping[str, Any]) -> dict[str, Any]:
    """``left`` updated with the values of ``right`` that are not None."""
    merged = dict(left)
    merged.update({k: v for k, v in right.items() if v is not None})
    return merged


class Queues(dict):
    """Declared queues by name; unknown names become direct queues on demand."""

    def __init__(self, app: Celery) -> None:
        super().__init__()
        self.app = app
        conf = app.conf
        for queue in conf.task_queues or ():
            self[queue.name] = queue
        if not self:
            self.add(conf.task_default_queue)

    def add(self, name: str) -> Queue:
        conf = self.app.conf
        exchange = Exchange(
            conf.task_default_exchange or name, conf.task_default_exchange_type or "direct"
        )
        queue = Queue(name, exchange, routing_key=conf.task_default_routing_key or name)
        if conf.task_queue_max_priority is not None:
            queue.queue_arguments = {"x-max-priority": conf.task_queue_max_priority}
        self[name] = queue
        return queue

    def __missing__(self, name: str) -> Queue:
        if self.app.conf.task_create_missing_queues:
            return self.add(name)
        raise QueueNotFound(f"Queue {name!r} missing from task_queues")


def _glob_router(pattern: str | re.Pattern[str], route: Any) -> Callable[..., Any]:
    regex = pattern if isinstance(pattern, re.Pattern) else re.compile(fnmatch.translate(pattern))

    def router(name: str, *args: Any, **kwargs: Any) -> Any:
        if regex.match(name):
            return dict(route) if isinstance(route, Mapping) else route
        return None

    return router


def prepare_routes(routes: Any) -> list[Callable[..., Any]]:
    """``task_routes`` (dict, list of dicts/callables/paths, or one) as callables."""
    if routes is None:
        return []
    if not isinstance(routes, (list, tuple)):
        routes = [routes]
    prepared: list[Callable[..., Any]] = []
    for item in routes:
        if isinstance(item, Mapping):
            prepared.extend(_glob_router(pattern, route) for pattern, route in item.items())
        elif isinstance(item, str):
            prepared.append(_import_router(item))
        elif callable(item):
            prepared.append(item)
        else:
            raise TypeError(
                f"task_routes entry {item!r} is not a dict, a router callable or its dotted path"
            )
    return prepared


def _import_router(path: str) -> Callable[..., Any]:
    from django.utils.module_loading import import_string

    router = import_string(path.replace(":", "."))
    return router() if isinstance(router, type) else router


class Router:
    def __init__(self, app: Celery) -> None:
        self.app = app
        self.queues = Queues(app)
        self.routes = prepare_routes(app.conf.task_routes)

    def expand_destination(self, route: Any) -> dict[str, Any]:
        if isinstance(route, str):
            queue, route = route, {}
        else:
            route = dict(route)
            queue = route.pop("queue", None)
        if queue:
            route["queue"] = queue if isinstance(queue, Queue) else self.queues[queue]
        return route

    def route(
        self,
        options: Mapping[str, Any],
        name: str,
        args: Any = (),
        kwargs: Any = None,
        task_type: Any = None,
    ) -> dict[str, Any]:
        options = self.expand_destination(options)
        for router in self.routes:
            try:
                route = router(name, args, kwargs or {}, options, task=task_type)
            except TypeError:
                route = router(name, args, kwargs or {}, options)
            if route:
                return lpmerge(self.expand_destination(route), options)
        if "queue" not in options:
            options = lpmerge(self.expand_destination(self.app.conf.task_default_queue), options)
        return options
