"""The last header task publishes the body: exactly once, or a visible failure, never a silent loss.

With the ``django://`` broker on the result database, the header task's
result, the counter's deletion and the body message are one transaction: a
connection lost while publishing the body undoes all three and the whole is
done again (the body runs once). A body that cannot be published at all (a
value the serializer refuses) fails with ``ChordError('Callback error: …')``
and its errbacks are called, as in Celery.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest
from django.db import connection, connections

from celery_compat import Celery, chord, states
from celery_compat.context import Context
from celery_compat.exceptions import ChordError
from celery_compat.models import ChordCounter
from celery_compat.signals import before_task_publish
from celery_compat.testing import drain
from kombu_transport_django.models import Message
from tests.canvas import tasks
from tests.canvas.tasks import add, errback_new, record, tsum

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def on_body_publish() -> Iterator[list[Any]]:
    """``on_body_publish.append(fn)``: ``fn(headers)`` runs before each publish of ``record`` (the body)."""
    actions: list[Any] = []

    def receiver(sender: Any = None, headers: Any = None, **kwargs: Any) -> None:
        if sender == record.name:
            for action in actions:
                action(headers)

    before_task_publish.connect(receiver, weak=False)
    yield actions
    before_task_publish.disconnect(receiver)


def test_body_that_cannot_be_published_fails_visibly_with_callback_error(
    app: Celery, tmp_path: Path, on_body_publish: list[Any],
) -> None:
    # A header value the message serializer refuses: kombu raises while publishing.
    on_body_publish.append(lambda headers: headers.__setitem__("poison", object()))
    tasks.ERRBACKS.clear()
    body = record.s(str(tmp_path / "body"))
    body.link_error(errback_new.s())
    r = chord([add.s(1, 1), add.s(2, 2)], body).delay()
    drain(app)
    assert r.parent.get(timeout=1) == [2, 4]
    assert r.state == states.FAILURE
    with pytest.raises(ChordError) as info:
        r.get(timeout=1, follow_parents=False)
    assert str(info.value).startswith("Callback error: TypeError(")
    assert tasks.ERRBACKS == [(r.id, repr(info.value), "ChordError")]
    assert not (tmp_path / "body").exists()
    assert not ChordCounter.objects.exists()
    assert not Message.objects.filter(task_id=r.id).exists()


def _kill(conn: Any) -> None:
    """End ``conn``'s server session from another connection: its next statement fails."""
    other = connections.create_connection(conn.alias)
    try:
        with other.cursor() as cursor:
            if conn.vendor == "postgresql":
                cursor.execute("SELECT pg_terminate_backend(%s)", [conn.connection.info.backend_pid])
            else:
                cursor.execute(f"KILL {int(conn.connection.thread_id())}")
    finally:
        other.close()


@pytest.mark.skipif("connection.vendor == 'sqlite'", reason="SQLite has no server session to kill")
def test_connection_killed_while_publishing_the_body_redoes_the_completion(
    app: Celery, tmp_path: Path, on_body_publish: list[Any],
) -> None:
    killed: list[int] = []

    def kill_once(headers: Any) -> None:
        if not killed:
            killed.append(1)
            _kill(connection)

    on_body_publish.append(kill_once)
    app.conf.task_publish_retry = False
    path = tmp_path / "body"
    r = chord([add.s(1, 1), add.s(2, 2), add.s(3, 3)], record.s(str(path))).delay()
    drain(app)
    assert killed == [1]
    assert r.get(timeout=5) == [2, 4, 6]
    assert path.read_text().splitlines() == ["[2, 4, 6]"]
    assert r.parent.get(timeout=1) == [2, 4, 6]
    assert not ChordCounter.objects.exists()
    assert not Message.objects.filter(queue="celery").exists()


def test_other_broker_publishes_after_commit_and_a_failure_is_visible(app: Celery) -> None:
    """A broker that is not django:// on this database: the body goes out after the commit."""
    other = Celery("membroker", broker="memory://", backend="django-db")
    other.conf.task_serializer = "json"
    sig = chord([add.s(1, 1)], tsum.s(), app=other)
    body_result = sig.freeze()
    other.backend.apply_chord(body_result.parent, sig.body)
    part = sig.tasks[0]
    request = Context(id=part.id, group=body_result.parent.id, chord=part.options["chord"])
    assert not other.backend._broker_on("default")
    published: list[str] = []

    def receiver(sender: Any = None, body: Any = None, headers: Any = None, **kwargs: Any) -> None:
        published.append((headers["id"], connection.in_atomic_block))
        body[2]["poison"] = object()  # the embed dict: the serializer refuses it (memory:// keeps headers as is)

    before_task_publish.connect(receiver, weak=False)
    try:
        other.backend.mark_as_done(part.id, 2, request=request)
    finally:
        before_task_publish.disconnect(receiver)
        other.close()
    assert published == [(body_result.id, False)]
    meta = app.backend.get_task_meta(body_result.id)
    assert meta["status"] == states.FAILURE
    assert str(meta["result"]).startswith("Callback error: EncodeError(")
    assert not ChordCounter.objects.exists()


def test_header_publish_failing_midway_leaves_no_counter_and_no_header_message(app: Celery) -> None:
    """django:// on the result database: the counter and the header's messages are one transaction."""
    sig = chord([add.s(1, 1), add.s(2, 2), add.s(3, 3)], tsum.s())
    body_result = sig.freeze()
    third = sig.tasks[2].id

    def poison_third(sender: Any = None, headers: Any = None, **kwargs: Any) -> None:
        if headers["id"] == third:
            headers["poison"] = object()  # the serializer refuses it: this publish fails

    before_task_publish.connect(poison_third, weak=False)
    try:
        with pytest.raises(TypeError):
            sig.apply_async()
    finally:
        before_task_publish.disconnect(poison_third)
    assert not ChordCounter.objects.exists()
    assert not Message.objects.filter(queue="celery").exists()
    assert app.AsyncResult(body_result.id).state == states.PENDING
