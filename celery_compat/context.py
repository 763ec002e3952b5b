"""``task.request``: what the running task knows about its own message."""

from __future__ import annotations

from typing import Any


class Context:
    """Celery's ``Context``: attributes with Celery's defaults, plus ``get``."""

    logfile = None
    loglevel = None
    hostname = None
    id = None
    args = None
    kwargs = None
    retries = 0
    eta = None
    expires = None
    is_eager = False
    headers = None
    delivery_info = None
    reply_to = None
    shadow = None
    root_id = None
    parent_id = None
    correlation_id = None
    taskset = None
    group = None
    group_index = None
    chord = None
    chain = None
    utc = None
    called_directly = True
    callbacks = None
    errbacks = None
    timelimit = None
    origin = None
    task = None
    argsrepr = None
    kwargsrepr = None
    properties = None
    replaced_task_nesting = 0
    stamped_headers = None
    stamps = None
    ignore_result = False
    periodic_task_name = None
    _children = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.update(*args, **kwargs)

    def update(self, *args: Any, **kwargs: Any) -> None:
        self.__dict__.update(*args, **kwargs)

    def clear(self) -> None:
        self.__dict__.clear()

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key, default)

    def __repr__(self) -> str:
        return f"<Context: {vars(self)!r}>"

    def as_execution_options(self) -> dict[str, Any]:
        limit_hard, limit_soft = self.timelimit or (None, None)
        return {
            "task_id": self.id,
            "root_id": self.root_id,
            "parent_id": self.parent_id,
            "group_id": self.group,
            "group_index": self.group_index,
            "shadow": self.shadow,
            "chord": self.chord,
            "chain": self.chain,
            "link": self.callbacks,
            "link_error": self.errbacks,
            "expires": self.expires,
            "soft_time_limit": limit_soft,
            "time_limit": limit_hard,
            "headers": self.headers,
            "retries": self.retries,
            "reply_to": self.reply_to,
            "replaced_task_nesting": self.replaced_task_nesting,
            "origin": self.origin,
        }

    @property
    def children(self) -> list[Any]:
        # Results published while this task runs; stored in its result meta.
        if self._children is None:
            self._children = []
        return self._children


class RequestStack:
    """Per-task stack of contexts: nested direct calls get their own."""

    def __init__(self) -> None:
        import threading

        self._local = threading.local()

    @property
    def stack(self) -> list[Context]:
        stack = getattr(self._local, "stack", None)
        if stack is None:
            stack = self._local.stack = []
        return stack

    def push(self, context: Context) -> None:
        self.stack.append(context)

    def pop(self) -> None:
        self.stack.pop()

    @property
    def top(self) -> Context | None:
        stack = self.stack
        return stack[-1] if stack else None
