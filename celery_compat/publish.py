"""Publishing a task message: routing, protocol v2, signals, the result handle."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from kombu import Queue

from . import _state, signals
from .protocol import task_message
from .utils.imports import imported

if TYPE_CHECKING:
    from .app import Celery

_UTC = ZoneInfo("UTC")

#: kombu ``Producer.publish`` arguments that may come in as task options
PUBLISH_KWARGS = ("delivery_mode", "mandatory", "immediate", "content_type",
                  "content_encoding", "expiration", "timeout", "confirm_timeout")


def _signature_dicts(value: Any) -> list[dict[str, Any]] | None:
    if value is None:
        return None
    items = value if isinstance(value, (list, tuple)) else [value]
    return [dict(item) for item in items]


def publish_task(app: Celery, name: str, args: Any, kwargs: Any, *, task_id: str,
                 producer: Any = None, result_cls: Any = None, link: Any = None,
                 link_error: Any = None, add_to_parent: bool = True, route_name: str | None = None,
                 task_type: Any = None, ignore_result: bool | None = None, headers: dict[str, Any] | None = None,
                 retry: bool | None = None, retry_policy: dict[str, Any] | None = None,
                 serializer: str | None = None, compression: str | None = None,
                 countdown: Any = None, eta: Any = None, expires: Any = None, root_id: str | None = None,
                 parent_id: str | None = None, **options: Any) -> Any:
    conf = app.conf
    parent = _state.get_current_worker_task()
    if parent is not None:
        # A task published from a running task is its child in the workflow.
        request = parent.request
        root_id = root_id or request.root_id or request.id
        parent_id = parent_id or request.id
        if conf.task_inherit_parent_priority and options.get("priority") is None:
            options["priority"] = (request.delivery_info or {}).get("priority")
    routed = app.router.route(options, route_name or name, args, kwargs, task_type)
    queue: Queue = routed.pop("queue")
    exchange = routed.pop("exchange", None)
    routing_key = routed.pop("routing_key", None)
    priority = routed.pop("priority", None)
    if priority is None:
        priority = conf.task_default_priority
    time_limit = routed.pop("time_limit", None)
    soft_time_limit = routed.pop("soft_time_limit", None)
    if time_limit is not None and soft_time_limit is not None and soft_time_limit > time_limit:
        raise ValueError(f"soft_time_limit={soft_time_limit!r} must not exceed time_limit={time_limit!r}")
    message = task_message(
        name, task_id, args, kwargs, countdown=countdown, eta=eta, expires=expires,
        # The time zone only places a naive eta/expires (and computing it is not free).
        tz=app.timezone if countdown is not None or eta is not None or expires is not None else _UTC,
        group_id=routed.pop("group_id", None), group_index=routed.pop("group_index", None),
        retries=routed.pop("retries", 0) or 0, chord=routed.pop("chord", None),
        callbacks=_signature_dicts(link), errbacks=_signature_dicts(link_error),
        chain=routed.pop("chain", None), reply_to=routed.pop("reply_to", None) or app.thread_oid,
        time_limit=time_limit, soft_time_limit=soft_time_limit, root_id=root_id, parent_id=parent_id,
        shadow=routed.pop("shadow", None), origin=routed.pop("origin", None),
        ignore_result=bool(ignore_result), argsrepr=routed.pop("argsrepr", None),
        kwargsrepr=routed.pop("kwargsrepr", None), stamped_headers=routed.pop("stamped_headers", None),
        stamps=routed.pop("stamps", None), replaced_task_nesting=routed.pop("replaced_task_nesting", 0) or 0,
        extra_headers=headers,
    )
    if message.headers.get("expires") and "expiration" not in routed:
        routed["expiration"] = _seconds_until(app, message.headers["expires"])
    exchange_type = queue.exchange.type if queue.exchange is not None else "direct"
    if (not exchange or not routing_key) and exchange_type == "direct":
        # Celery's rule: a direct queue is published to the anonymous exchange.
        exchange, routing_key = "", queue.name
    elif exchange is None:
        exchange = queue.exchange.name
        routing_key = routing_key or queue.routing_key
    retry = conf.task_publish_retry if retry is None else retry
    policy = dict(conf.task_publish_retry_policy, **(retry_policy or {}))
    declare = [queue]
    if signals.before_task_publish.receivers:  # its keyword arguments cost more than the empty send
        signals.before_task_publish.send(
            sender=name, body=message.body, exchange=exchange, routing_key=routing_key,
            declare=declare, headers=message.headers, properties=message.properties, retry_policy=policy,
        )
    publish_kwargs = {k: routed[k] for k in PUBLISH_KWARGS if routed.get(k) is not None}
    if priority is not None:
        publish_kwargs["priority"] = priority
    producer = producer or app.producer()
    _refuse_unstorable_names(producer, queue, exchange, routing_key)
    declare = _not_yet_declared(producer, declare)
    if retry and getattr(getattr(producer, "channel", None), "buffering", False):
        # Inside a group's or publish_batch()'s buffered block on django://
        # the message is only appended to a list, inserted at the block's
        # end: kombu's retry wrapper (built per call) has nothing to retry.
        retry = False
    # As Celery's send_task: a broker that cannot be reached (retries used
    # up, or retry=False) raises kombu.exceptions.OperationalError, what
    # Celery users catch (Task.OperationalError), not the driver's error.
    with producer.connection._reraise_as_library_errors():
        producer.publish(
            message.body, exchange=exchange, routing_key=routing_key,
            serializer=serializer or conf.task_serializer,
            compression=compression or conf.task_compression,
            headers=message.headers, declare=declare, retry=retry, retry_policy=policy,
            **message.properties, **publish_kwargs,
        )
    if signals.after_task_publish.receivers:
        signals.after_task_publish.send(
            sender=name, body=message.body, exchange=exchange, routing_key=routing_key, headers=message.headers,
        )
    result = (result_cls or app.AsyncResult)(task_id)
    result.ignored = bool(ignore_result)
    if add_to_parent and parent is not None:
        parent.add_trail(result)
    return result


def _not_yet_declared(producer: Any, entities: list[Any]) -> list[Any]:
    """``entities`` less the durable ones this connection declared already.

    kombu skips them too, but only after binding a copy of each and, with
    publish retries on, building a retrying wrapper: 9% of a ``delay()``.
    Same test as kombu's ``maybe_declare`` (the entity's hash, for what can
    be cached), limited to durable entities: this list is not looked at
    again when kombu's publish retry reconnects, and only a durable queue
    is sure to outlive a broker restart (on ``django://`` every queue does).
    """
    declared = getattr(getattr(producer, "connection", None), "declared_entities", None)
    if not declared:
        return entities
    return [entity for entity in entities
            if not (getattr(entity, "can_cache_declaration", False) and getattr(entity, "durable", False)
                    and hash(entity) in declared)]


def _refuse_unstorable_names(producer: Any, queue: Queue, exchange: Any, routing_key: Any) -> None:
    """On django://, a NUL in a queue/exchange/routing key name fails here, naming it (not as a DataError)."""
    if not isinstance(getattr(producer.connection, "transport", None),
                      imported("kombu_transport_django.transport", "Transport")):
        return  # other brokers store such names (Celery publishes them)
    refuse_nul = imported("kombu_transport_django.storable", "refuse_nul")
    refuse_nul("queue name", queue.name)
    refuse_nul("exchange name", getattr(exchange, "name", exchange))
    refuse_nul("routing key", routing_key)


def _seconds_until(app: Celery, expires_iso: str) -> float:
    """kombu turns ``expiration`` seconds into the AMQP property (ms)."""
    import datetime as dt

    return max(0.0, (dt.datetime.fromisoformat(expires_iso) - app.now()).total_seconds())
