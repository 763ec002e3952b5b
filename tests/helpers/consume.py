"""A kombu consumer process on ``django://`` for the end-to-end tests.

    python -m tests.helpers.consume --queue Q --out FILE [options]

Consumes ``Q`` with a kombu ``Consumer`` (``prefetch_count`` from
``--prefetch``) and appends one line per message received to ``--out``::

    <seq> <redelivered 0|1>

where ``seq`` is the ``"seq"`` of the JSON body. Every message is acked
right after it is recorded, unless ``--hold N`` is given: then, once N
messages are held unacked, the process writes ``holding`` to ``--status``
and keeps them (it stays alive, so its heartbeat renews their leases) for
``--hold-seconds`` (default: until killed), then writes ``acking``, acks
them, writes ``acked`` and exits.

``--status`` also gets ``ready`` once the consumer is set up; with
``--start-file`` the process then waits for that file to exist before it
consumes anything, so several consumers can be started together. It exits
once no message arrived for ``--idle`` seconds, or at ``--deadline``.
At exit it writes a JSON summary (count, first/last receive wall time) to
``--summary``.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import time
from pathlib import Path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")


def _status(path: str | None, text: str) -> None:
    if path:
        with open(path, "a") as fh:
            fh.write(text + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--queue", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--status")
    parser.add_argument("--summary")
    parser.add_argument("--start-file")
    parser.add_argument("--prefetch", type=int, default=10)
    parser.add_argument("--idle", type=float, default=2.0)
    parser.add_argument("--deadline", type=float, default=120.0)
    parser.add_argument("--hold", type=int, default=0)
    parser.add_argument("--hold-seconds", type=float, default=None)
    parser.add_argument("--lease-seconds", type=float, default=None)
    parser.add_argument("--heartbeat-interval", type=float, default=None)
    args = parser.parse_args(argv)

    import django

    django.setup()

    import kombu_transport_django  # noqa: F401  registers django://
    from kombu import Connection, Consumer, Exchange, Queue

    started = time.monotonic()
    deadline = started + args.deadline
    transport_options: dict[str, float] = {}
    if args.lease_seconds is not None:
        transport_options["lease_seconds"] = args.lease_seconds
    if args.heartbeat_interval is not None:
        transport_options["heartbeat_interval"] = args.heartbeat_interval

    out = open(args.out, "a", buffering=1)
    received: list = []
    first_at: float | None = None
    last_at: float | None = None

    def on_message(body: dict, message) -> None:
        nonlocal first_at, last_at
        now = time.time()
        first_at = first_at if first_at is not None else now
        last_at = now
        out.write(f"{body['seq']} {int(bool(message.delivery_info.get('redelivered')))}\n")
        if args.hold:
            received.append(message)
        else:
            message.ack()

    queue = Queue(args.queue, Exchange(args.queue, type="direct"), routing_key=args.queue)
    with Connection("django://", transport_options=transport_options) as conn:
        with Consumer(
            conn, [queue], callbacks=[on_message], accept=["json"], prefetch_count=args.prefetch
        ):
            _status(args.status, "ready")
            if args.start_file:
                while not Path(args.start_file).exists():
                    if time.monotonic() > deadline:
                        print("start file never appeared", file=sys.stderr)
                        return 3
                    time.sleep(0.01)
            last_activity = time.monotonic()
            while time.monotonic() < deadline:
                if args.hold and len(received) >= args.hold:
                    break
                try:
                    conn.drain_events(timeout=0.25)
                    last_activity = time.monotonic()
                except socket.timeout:
                    if time.monotonic() - last_activity >= args.idle:
                        break
            if args.hold:
                if len(received) < args.hold:
                    print(f"got {len(received)} of {args.hold} messages to hold", file=sys.stderr)
                    return 2
                _status(args.status, "holding")
                hold_until = deadline if args.hold_seconds is None else time.monotonic() + args.hold_seconds
                while time.monotonic() < hold_until:
                    time.sleep(0.05)
                _status(args.status, "acking")
                for message in received:
                    message.ack()
                _status(args.status, "acked")
    out.close()
    count = len(received) if args.hold else sum(1 for _ in open(args.out))
    if args.summary:
        Path(args.summary).write_text(
            json.dumps({"count": count, "first_at": first_at, "last_at": last_at, "pid": os.getpid()})
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
