"""Celery's task message protocol v2: the only module that knows the wire.

Producing always writes v2, header for header as Celery 5.6 does, so a real
Celery worker runs what we publish. Consuming also accepts protocol v1 and
"hybrid" bodies (a dict with ``args``), which older Celery clients send.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from dataclasses import dataclass
from typing import Any, Mapping, Sequence
from zoneinfo import ZoneInfo

ARGSREPR_MAXSIZE = 1024
KWARGSREPR_MAXSIZE = 1024


@dataclass(frozen=True, slots=True)
class TaskMessage:
    headers: dict[str, Any]
    properties: dict[str, Any]
    body: tuple[Any, Any, Any]


_origin: tuple[int, str] = (0, "")


def origin_nodename() -> str:
    """``gen<pid>@<host>``: Celery's name for a process that is not a worker.

    Kept per process: the host name is a system call, read once as Celery
    does (``celery.utils.nodenames.gethostname`` is memoized).
    """
    global _origin
    pid = os.getpid()
    if _origin[0] != pid:
        _origin = (pid, f"gen{pid}@{socket.gethostname()}")
    return _origin[1]


def saferepr(value: Any, maxsize: int) -> str:
    text = repr(value)
    return text if len(text) <= maxsize else text[: maxsize - 3] + "..."


def to_aware(value: dt.datetime, tz: dt.tzinfo) -> dt.datetime:
    """Naive datetimes are in the app's time zone, as Celery reads them."""
    return value.replace(tzinfo=tz) if value.tzinfo is None else value


def _absolute(value: Any, now: dt.datetime | None, tz: dt.tzinfo, name: str) -> str | None:
    if value is None:
        return None
    assert now is not None  # task_message reads the clock when a time is given
    if isinstance(value, bool):
        raise TypeError(f"{name}={value!r} is not a number of seconds or a datetime")
    if isinstance(value, (int, float)):
        return (now + dt.timedelta(seconds=value)).isoformat()
    if isinstance(value, dt.timedelta):
        return (now + value).isoformat()
    if isinstance(value, dt.datetime):
        return to_aware(value, tz).isoformat()
    if isinstance(value, str):
        return to_aware(dt.datetime.fromisoformat(value), tz).isoformat()
    raise TypeError(
        f"{name}={value!r} is not a number of seconds, a timedelta, a datetime or an ISO string"
    )


def task_message(
    name: str,
    task_id: str,
    args: Sequence[Any] | None = None,
    kwargs: Mapping[str, Any] | None = None,
    *,
    tz: dt.tzinfo = ZoneInfo("UTC"),
    countdown: float | None = None,
    eta: Any = None,
    expires: Any = None,
    group_id: str | None = None,
    group_index: int | None = None,
    retries: int = 0,
    chord: Any = None,
    callbacks: Any = None,
    errbacks: Any = None,
    chain: Any = None,
    reply_to: str | None = None,
    time_limit: float | None = None,
    soft_time_limit: float | None = None,
    root_id: str | None = None,
    parent_id: str | None = None,
    shadow: str | None = None,
    origin: str | None = None,
    ignore_result: bool = False,
    argsrepr: str | None = None,
    kwargsrepr: str | None = None,
    stamped_headers: Any = None,
    stamps: Any = None,
    replaced_task_nesting: int = 0,
    extra_headers: Mapping[str, Any] | None = None,
    now: dt.datetime | None = None,
) -> TaskMessage:
    """Build the headers, properties and body of one v2 task message."""
    args = tuple(args or ())
    kwargs = dict(kwargs or {})
    if not isinstance(kwargs, Mapping):
        raise TypeError(f"task keyword arguments must be a mapping, not {kwargs!r}")
    if countdown is not None or eta is not None or expires is not None:
        now = now or dt.datetime.now(tz)
        if countdown is not None:
            # Celery: with both, countdown wins.
            eta = now + dt.timedelta(seconds=countdown)
    headers: dict[str, Any] = {
        "lang": "py",
        "task": name,
        "id": task_id,
        "shadow": shadow,
        "eta": _absolute(eta, now, tz, "eta"),
        "expires": _absolute(expires, now, tz, "expires"),
        "group": group_id,
        "group_index": group_index,
        "retries": retries,
        "timelimit": [time_limit, soft_time_limit],
        "root_id": root_id or task_id,
        "parent_id": parent_id,
        "argsrepr": argsrepr if argsrepr is not None else saferepr(args, ARGSREPR_MAXSIZE),
        "kwargsrepr": kwargsrepr if kwargsrepr is not None else saferepr(kwargs, KWARGSREPR_MAXSIZE),
        "origin": origin or origin_nodename(),
        "ignore_result": ignore_result,
        "replaced_task_nesting": replaced_task_nesting,
        "stamped_headers": stamped_headers,
        "stamps": stamps or {},
    }
    if extra_headers:
        # apply_async(headers=...) keys go at the top level, as in Celery.
        headers.update(extra_headers)
    properties = {"correlation_id": task_id, "reply_to": reply_to or ""}
    embed = {"callbacks": callbacks, "errbacks": errbacks, "chain": chain, "chord": chord}
    return TaskMessage(headers=headers, properties=properties, body=(list(args), kwargs, embed))


@dataclass(frozen=True, slots=True)
class IncomingTask:
    """A received task message, normalised to protocol v2."""

    headers: dict[str, Any]
    args: list[Any]
    kwargs: dict[str, Any]
    embed: dict[str, Any]


class InvalidMessage(ValueError):
    """A message that is not a Celery task message of any protocol version."""


def parse(headers: Mapping[str, Any] | None, body: Any) -> IncomingTask:
    """Read a decoded message body (v2, v1 or hybrid) into one shape."""
    headers = dict(headers or {})
    if "task" in headers:
        if not isinstance(body, (list, tuple)) or len(body) != 3:
            raise InvalidMessage(
                f"protocol 2 body must be [args, kwargs, embed], got {type(body).__name__}"
            )
        args, kwargs, embed = body
        if not isinstance(args, (list, tuple)) or not isinstance(kwargs, dict):
            raise InvalidMessage("protocol 2 body: args must be a list and kwargs a dict")
        return IncomingTask(headers, list(args), dict(kwargs), dict(embed or {}))
    if isinstance(body, dict) and "task" in body and "args" in body:
        return _from_v1(headers, body)
    raise InvalidMessage("message has no 'task' header and is not a protocol 1 body")


def _from_v1(headers: dict[str, Any], body: dict[str, Any]) -> IncomingTask:
    timelimit = body.get("timelimit") or (None, None)
    converted = {
        "lang": "py",
        "task": body["task"],
        "id": body.get("id"),
        "eta": body.get("eta"),
        "expires": body.get("expires"),
        "group": body.get("taskset") or body.get("group"),
        "group_index": body.get("group_index"),
        "retries": body.get("retries", 0),
        "timelimit": list(timelimit),
        "root_id": body.get("root_id") or body.get("id"),
        "parent_id": body.get("parent_id"),
        "argsrepr": saferepr(body.get("args"), ARGSREPR_MAXSIZE),
        "kwargsrepr": saferepr(body.get("kwargs"), KWARGSREPR_MAXSIZE),
        "origin": body.get("origin"),
        **headers,
    }
    embed = {
        "callbacks": body.get("callbacks"),
        "errbacks": body.get("errbacks"),
        "chain": None,
        "chord": body.get("chord"),
    }
    return IncomingTask(converted, list(body.get("args") or ()), dict(body.get("kwargs") or {}), embed)
