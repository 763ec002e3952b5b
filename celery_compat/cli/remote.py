"""``celery_compat inspect``: ``celery inspect`` over the pidbox, printed as Celery prints it.

The request is ``app.control.inspect()``: a broadcast on the
``celery.pidbox`` fanout exchange, so ``runworker`` workers and real Celery
workers on ``django://`` both answer. Output is Celery's::

    ->  celery@host: OK
        * {'id': '…', 'name': 'proj.tasks.add', …}

    1 node online.

or the replies as one JSON object with ``--json``.
"""

from __future__ import annotations

import json
import textwrap
from pprint import pformat
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..app import Celery

#: the inspect commands offered, with what each one shows (Celery's help texts)
COMMANDS = {
    "active": "List of tasks currently being executed.",
    "scheduled": "List of currently scheduled ETA/countdown tasks (always empty on runworker: ETA waits in the table).",
    "reserved": "List of currently reserved tasks, not including scheduled/active.",
    "revoked": "List of revoked task-ids.",
    "registered": "List of registered tasks.",
    "ping": "Ping worker(s).",
    "stats": "Request worker statistics/information.",
    "active_queues": "List the task queues a worker is currently consuming from.",
    "query_task": "Query for task information by id (arguments: task ids).",
}

#: Celery's exit code when no worker replies (``EX_UNAVAILABLE``)
EX_UNAVAILABLE = 69


def request(app: Celery, command: str, *, timeout: float = 1.0, destination: list[str] | None = None,
            arguments: list[str] | None = None) -> dict[str, Any]:
    """The replies to ``command``, ``{node: reply}`` (empty when nobody answered)."""
    if command not in COMMANDS:
        raise ValueError(
            f"Command {command} not recognized. Available inspect commands: {', '.join(sorted(COMMANDS))}"
        )
    inspect = app.control.inspect(timeout=timeout, destination=destination or None)
    if command == "query_task":
        replies = inspect.query_task(*(arguments or []))
    else:
        replies = getattr(inspect, command)()
    return replies or {}


def format_replies(replies: dict[str, Any]) -> str:
    """Celery's ``-> node: OK`` lines with each reply indented below, then the node count."""
    out = []
    for node in sorted(replies):
        status, body = _pretty(replies[node])
        out.append(f"->  {node}: {status}")
        if body:
            out.append(textwrap.indent(body, "    "))
    count = len(replies)
    out.append("")
    out.append(f"{count} {'node' if count == 1 else 'nodes'} online.")
    return "\n".join(out)


def format_json(replies: dict[str, Any]) -> str:
    return json.dumps(replies, default=str)


def _pretty(reply: Any) -> tuple[str, str]:
    # celery.bin.base.CLIContext.pretty, without colours.
    if isinstance(reply, list):
        return "OK", "\n".join(f"* {item}" for item in reply) if reply else "- empty -"
    if isinstance(reply, dict):
        if "ok" in reply:
            return "OK", textwrap.indent(_pretty(reply["ok"])[1], "    ")
        if "error" in reply:
            return "ERROR", textwrap.indent(_pretty(reply["error"])[1], "    ")
        return "OK", json.dumps(reply, sort_keys=True, indent=4, default=str)
    if isinstance(reply, str):
        return "OK", reply
    return "OK", pformat(reply)
