"""Shared pieces of the multi-process tests (tests/e2e, tests/worker): publishing, waiting."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Callable, Iterable, TypeVar

from django.db import transaction

T = TypeVar("T")


def publish_seqs(queue_name: str, seqs: Iterable[int]) -> int:
    """Publish ``{"seq": n}`` for each n to ``queue_name``, in one transaction.

    Goes through kombu's Producer and the transport's ``_put``, like any
    publisher; the transaction makes the batch appear to consumers at once.
    Sent to the default exchange (routing key = queue name): a named
    exchange would add a binding lookup per message, which only slows the
    set-up of these tests.
    """
    import kombu_transport_django  # noqa: F401  registers django://
    from kombu import Connection, Exchange, Producer, Queue

    queue = Queue(queue_name, Exchange(queue_name, type="direct"), routing_key=queue_name)
    count = 0
    with Connection("django://") as conn:
        channel = conn.default_channel
        with transaction.atomic():
            queue(channel).declare()
            producer = Producer(channel)
            for seq in seqs:
                producer.publish(
                    {"seq": seq},
                    exchange="",
                    routing_key=queue_name,
                    serializer="json",
                    retry=False,
                )
                count += 1
    return count


def wait_until(
    what: str,
    check: Callable[[], T],
    timeout: float,
    interval: float = 0.05,
    procs: Iterable[subprocess.Popen] = (),
    log: Path | None = None,
) -> T:
    """Poll ``check`` until it returns something truthy, at most ``timeout`` seconds.

    Fails early if one of ``procs`` exits, with what it said: its piped
    stdout/stderr, and the ``log`` file its output goes to, if any.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        for proc in procs:
            if proc.poll() is not None:
                raise AssertionError(
                    f"while waiting for {what}: child {proc.args} exited rc={proc.returncode}\n"
                    f"{describe(proc)}{_log_text(log)}"
                )
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{_log_text(log)}")
        time.sleep(interval)


def control_ready(hostname: str, using: str = "default") -> bool:
    """Whether the worker ``hostname`` gets broadcasts: its pidbox queue is bound to ``celery.pidbox``.

    The queue's row alone is not enough: kombu declares the queue, then
    binds it, and a broadcast published in between reaches no queue of
    that worker (a remote-control call then got no reply, seen once in CI).
    The pidbox is set up right after the task consumer starts.
    """
    from kombu_transport_django.models import Binding

    return Binding.objects.using(using).filter(
        exchange="celery.pidbox", queue=f"{hostname}.celery.pidbox"
    ).exists()


def _log_text(log: Path | None) -> str:
    return f"--- {log.name} ---\n{log.read_text()}" if log is not None and log.exists() else ""


def describe(proc: subprocess.Popen) -> str:
    """stdout/stderr of a child that has exited (or is killed for this), if piped."""
    if proc.poll() is None:
        proc.kill()
    if proc.stdout is None and proc.stderr is None:
        proc.wait(timeout=30)
        return ""
    out, err = proc.communicate(timeout=30)
    return f"--- stdout ---\n{out}\n--- stderr ---\n{err}\n"


def read_lines(path: Path) -> list[str]:
    """Complete lines only: a child may be writing the last one right now."""
    if not path.exists():
        return []
    text = path.read_text()
    return text[: text.rfind("\n") + 1].splitlines()


def received(path: Path) -> list[tuple[int, bool]]:
    """``(seq, redelivered)`` for each line a consume.py process wrote."""
    rows = []
    for line in read_lines(path):
        seq, redelivered = line.split()
        rows.append((int(seq), redelivered == "1"))
    return rows
