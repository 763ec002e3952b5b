"""``app.control``: remote control over the broker's pidbox, as Celery does it.

Commands are broadcast on the ``celery.pidbox`` fanout exchange, so real
Celery workers (on ``django://`` or any broker with fanout) obey them, and
so does ``runworker``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kombu.pidbox import Mailbox

if TYPE_CHECKING:
    from .app import Celery


class Inspect:
    def __init__(self, control: Control, destination: Any = None, timeout: float = 1.0,
                 limit: int | None = None, pattern: str | None = None, matcher: str | None = None) -> None:
        self.control = control
        self.destination = destination
        self.timeout = timeout
        self.limit = limit
        self.pattern = pattern
        self.matcher = matcher

    def _request(self, command: str, **arguments: Any) -> dict[str, Any] | None:
        replies = self.control.broadcast(
            command, arguments=arguments, destination=self.destination, reply=True,
            timeout=self.timeout, limit=self.limit, pattern=self.pattern, matcher=self.matcher,
        )
        merged: dict[str, Any] = {}
        for reply in replies or ():
            merged.update(reply)
        return merged or None

    def ping(self) -> dict[str, Any] | None:
        return self._request("ping")

    def active(self, safe: Any = None) -> dict[str, Any] | None:
        return self._request("active")

    def scheduled(self, safe: Any = None) -> dict[str, Any] | None:
        return self._request("scheduled")

    def reserved(self, safe: Any = None) -> dict[str, Any] | None:
        return self._request("reserved")

    def revoked(self) -> dict[str, Any] | None:
        return self._request("revoked")

    def registered(self, *taskinfoitems: Any) -> dict[str, Any] | None:
        return self._request("registered", taskinfoitems=taskinfoitems)

    def stats(self) -> dict[str, Any] | None:
        return self._request("stats")

    def active_queues(self) -> dict[str, Any] | None:
        return self._request("active_queues")

    def query_task(self, *ids: Any) -> dict[str, Any] | None:
        return self._request("query_task", ids=list(ids))


class Control:
    def __init__(self, app: Celery) -> None:
        self.app = app
        conf = app.conf
        self.mailbox = Mailbox(
            conf.control_exchange, type="fanout", accept=["json"],
            serializer=conf.task_serializer, producer_pool=None,
            queue_ttl=conf.control_queue_ttl, reply_queue_ttl=conf.control_queue_ttl,
            queue_expires=conf.control_queue_expires, reply_queue_expires=conf.control_queue_expires,
        )

    def inspect(self, destination: Any = None, timeout: float = 1.0, **kwargs: Any) -> Inspect:
        return Inspect(self, destination=destination, timeout=timeout, **kwargs)

    def broadcast(self, command: str, arguments: dict[str, Any] | None = None, destination: Any = None,
                  connection: Any = None, reply: bool = False, timeout: float = 1.0, limit: int | None = None,
                  callback: Any = None, channel: Any = None, pattern: str | None = None,
                  matcher: str | None = None, **extra: Any) -> Any:
        with (connection or self.app.connection_for_write()) as conn:
            return self.mailbox(conn)._broadcast(
                command, arguments or {}, destination, reply, timeout, limit, callback,
                channel=channel, pattern=pattern, matcher=matcher,
            )

    def ping(self, destination: Any = None, timeout: float = 1.0, **kwargs: Any) -> Any:
        return self.broadcast("ping", reply=True, destination=destination, timeout=timeout, **kwargs)

    def revoke(self, task_id: Any, destination: Any = None, terminate: bool = False,
               signal: str = "SIGTERM", **kwargs: Any) -> Any:
        """Revoke ``task_id`` (or a list): no worker will run it."""
        from .revokes import record_revoke

        record_revoke(self.app, task_id, terminate=terminate, signal=signal)
        return self.broadcast("revoke", destination=destination,
                              arguments={"task_id": task_id, "terminate": terminate, "signal": signal}, **kwargs)

    def terminate(self, task_id: Any, destination: Any = None, signal: str = "SIGTERM", **kwargs: Any) -> Any:
        return self.revoke(task_id, destination=destination, terminate=True, signal=signal, **kwargs)

    def shutdown(self, destination: Any = None, **kwargs: Any) -> Any:
        return self.broadcast("shutdown", destination=destination, **kwargs)

    def purge(self, connection: Any = None) -> int:
        """Delete every waiting message of the app's queues; returns the count."""
        count = 0
        with (connection or self.app.connection_for_write()) as conn:
            channel = conn.default_channel
            for queue in self.app.router.queues.values():
                count += queue(channel).purge() or 0
        return count

    def rate_limit(self, task_name: str, rate_limit: Any, destination: Any = None, **kwargs: Any) -> Any:
        return self.broadcast("rate_limit", destination=destination,
                              arguments={"task_name": task_name, "rate_limit": rate_limit}, **kwargs)
