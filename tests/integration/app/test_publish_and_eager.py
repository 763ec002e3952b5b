"""celery_compat's client side on a real database: publish, revoke, eager mode."""

from __future__ import annotations

import json
import warnings
from typing import Any

import pytest
from django.db import InterfaceError, connection, transaction
from django.db import OperationalError as DBOperationalError
from kombu.exceptions import EncodeError
from kombu.exceptions import OperationalError as KombuOperationalError

from celery_compat import Celery, states
from celery_compat.bulk import publish_batch
from celery_compat.exceptions import AlwaysEagerIgnored, TaskRevokedError
from celery_compat.models import Revoke
from kombu_transport_django.models import Message
from tests.helpers.sessions import terminate_all_sessions_from_a_thread

pytestmark = pytest.mark.django_db(transaction=True)


class MyErr(Exception):
    pass


@pytest.fixture
def app() -> Any:
    app = Celery("proj", set_as_current=False)

    @app.task
    def add(x: int, y: int) -> int:
        return x + y

    @app.task
    def boom() -> None:
        raise MyErr("boom", 42)

    @app.task(bind=True, max_retries=2)
    def flaky(self: Any) -> int:
        if self.request.retries < 2:
            raise self.retry(exc=MyErr("flaky"), countdown=10)
        return self.request.retries

    yield app
    app.close()


def only_message() -> tuple[dict[str, Any], Message]:
    row = Message.objects.get()
    return json.loads(row.payload), row


def test_delay_publishes_a_celery_v2_message_row(app: Any) -> None:
    result = app.tasks["tests.integration.app.test_publish_and_eager.add"].apply_async(
        (2, 3), countdown=60, priority=7, headers={"x-custom": "v"}
    )

    payload, row = only_message()
    headers = payload["headers"]
    assert (row.queue, row.task_id, row.task_name, row.priority) == (
        "celery", result.id, "tests.integration.app.test_publish_and_eager.add", 7
    )
    assert headers["id"] == headers["root_id"] == result.id
    assert headers["argsrepr"] == "(2, 3)" and headers["x-custom"] == "v"
    assert row.available_at.isoformat()[:19] == headers["eta"][:19] or row.available_at > row.created_at
    assert result.state == states.PENDING


def test_publish_batch_inserts_the_delays_of_the_block_at_its_end_in_order(app: Any) -> None:
    add = app.tasks["tests.integration.app.test_publish_and_eager.add"]
    with publish_batch(app):
        early = add.delay(0, 0)
        assert not Message.objects.exists()  # outside a transaction: at the block's end
    assert list(Message.objects.values_list("task_id", flat=True)) == [early.id]
    Message.objects.all().delete()
    with transaction.atomic():
        with publish_batch(app):
            results = [add.delay(n, n) for n in range(5)]
            # Inside a transaction its messages wait for its next statement
            # (kombu_transport_django.deferred): this query sees them, in order.
            assert list(Message.objects.order_by("id").values_list("task_id", flat=True)) == [r.id for r in results]
        assert list(Message.objects.order_by("id").values_list("task_id", flat=True)) == [r.id for r in results]
    with pytest.raises(MyErr), transaction.atomic():
        with publish_batch(app):
            add.delay(1, 1)
        raise MyErr("rolled back")  # the batch joined the transaction: rolled back with it
    assert list(Message.objects.order_by("id").values_list("task_id", flat=True)) == [r.id for r in results]
    Message.objects.all().delete()

    with pytest.raises(MyErr):
        with publish_batch(app):
            kept = add.delay(2, 2)
            raise MyErr("in the block")
    # What was published before the error is sent, as without the block.
    assert list(Message.objects.values_list("task_id", flat=True)) == [kept.id]


def test_unencodable_arguments_raise_encode_error_and_enqueue_nothing(app: Any) -> None:
    with pytest.raises(EncodeError):
        app.tasks["tests.integration.app.test_publish_and_eager.add"].delay(object(), 1)

    assert Message.objects.count() == 0


def test_wrong_argument_count_fails_at_the_call_site(app: Any) -> None:
    with pytest.raises(TypeError):
        app.tasks["tests.integration.app.test_publish_and_eager.add"].delay(1)
    assert Message.objects.count() == 0


def test_the_argument_check_keeps_the_task_function_when_run_is_replaced(app: Any) -> None:
    # As in Celery (checked against celery 5.7): the check is made from the
    # function the task was made from, so a replaced run (a test patching the
    # body) is not what it checks against.
    add = app.tasks["tests.integration.app.test_publish_and_eager.add"]
    add.delay(1, 2)
    add.run = lambda x: x
    add.delay(1, 2)
    with pytest.raises(TypeError, match=r"^add\(\) missing 1 required positional argument: 'y'$"):
        add.delay(1)
    assert Message.objects.count() == 2


def test_a_queue_is_declared_once_per_connection_and_a_new_one_still_is(app: Any) -> None:
    from kombu import Queue

    from celery_compat.publish import _not_yet_declared

    add = app.tasks["tests.integration.app.test_publish_and_eager.add"]
    producer = app.producer()
    add.apply_async((1, 1), queue="first")
    first, second = Queue("first"), Queue("second")
    passing = Queue("passing", auto_delete=True)  # kombu never caches these
    add.apply_async((1, 1), queue=Queue("transient", durable=False))
    transient = Queue("transient", durable=False)  # declared, but a broker restart may lose it
    assert _not_yet_declared(producer, [first, second, passing, transient]) == [second, passing, transient]
    add.apply_async((1, 1), queue="second")
    assert _not_yet_declared(producer, [first, second]) == []
    assert sorted(Message.objects.values_list("queue", flat=True)) == ["first", "second", "transient"]


def test_revoke_persists_and_marks_revoked_at_once(app: Any) -> None:
    result = app.tasks["tests.integration.app.test_publish_and_eager.add"].apply_async((1, 1), countdown=60)

    result.revoke()

    assert Revoke.objects.filter(task_id=result.id).exists()
    assert result.state == states.REVOKED
    with pytest.raises(TaskRevokedError, match="revoked"):
        result.get(timeout=1)


def test_send_task_ignores_always_eager_with_a_warning(app: Any) -> None:
    app.conf.task_always_eager = True

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = app.send_task("anything.at.all", (1,))

    assert any(issubclass(w.category, AlwaysEagerIgnored) for w in caught)
    assert Message.objects.get().task_id == result.id


def test_eager_delay_returns_the_value_and_stores_nothing(app: Any) -> None:
    app.conf.task_always_eager = True

    result = app.tasks["tests.integration.app.test_publish_and_eager.add"].delay(2, 2)

    assert (result.state, result.get()) == (states.SUCCESS, 4)
    assert app.AsyncResult(result.id).state == states.PENDING
    assert Message.objects.count() == 0


def test_eager_failure_without_propagation_is_kept_in_the_result(app: Any) -> None:
    app.conf.task_always_eager = True

    result = app.tasks["tests.integration.app.test_publish_and_eager.boom"].delay()

    assert result.state == states.FAILURE
    assert isinstance(result.result, MyErr) and result.result.args == ("boom", 42)
    with pytest.raises(MyErr):
        result.get()
    assert isinstance(result.get(propagate=False), MyErr)


def test_eager_failure_with_propagation_raises_from_delay(app: Any) -> None:
    app.conf.update(task_always_eager=True, task_eager_propagates=True)

    with pytest.raises(MyErr):
        app.tasks["tests.integration.app.test_publish_and_eager.boom"].delay()


def test_eager_retries_run_at_once_and_count(app: Any) -> None:
    app.conf.task_always_eager = True

    result = app.tasks["tests.integration.app.test_publish_and_eager.flaky"].delay()

    assert result.get() == 2


def test_eager_arguments_round_trip_through_json(app: Any) -> None:
    app.conf.task_always_eager = True

    @app.task
    def echo(*args: Any, **kwargs: Any) -> Any:
        return [args, kwargs]

    value = echo.delay((1, 2), {1: "a"}).get()
    assert value == [([1, 2], {"1": "a"}), {}]


def test_eager_retries_exhausted_fail_with_the_original_exception(app: Any) -> None:
    app.conf.task_always_eager = True
    runs: list[int] = []

    @app.task(bind=True, max_retries=2)
    def always_flaky(self: Any) -> None:
        runs.append(self.request.retries)
        raise self.retry(exc=MyErr("flaky"), countdown=10)

    result = always_flaky.delay()

    assert runs == [0, 1, 2]
    assert result.state == states.FAILURE
    assert isinstance(result.result, MyErr) and result.result.args == ("flaky",)


@pytest.mark.skipif(connection.vendor == "sqlite", reason="needs a server whose sessions can be killed")
def test_publish_retries_across_a_killed_session_else_raises_kombus_operational_error(app: Any) -> None:
    """The broker (the database) drops the publisher's session, as a restart does.

    retry=True (the default, task_publish_retry): kombu's ensure() reconnects
    and the message is published; retry=False: the error reaches the caller
    as kombu.exceptions.OperationalError, as from Celery on any broker.
    """
    add = app.tasks["tests.integration.app.test_publish_and_eager.add"]
    add.delay(1, 1)  # the publishing session exists
    assert terminate_all_sessions_from_a_thread() >= 1

    result = add.apply_async((2, 2), retry=True, retry_policy={"max_retries": 3, "interval_start": 0,
                                                               "interval_step": 0.1})
    assert Message.objects.filter(task_id=result.id).exists()

    assert terminate_all_sessions_from_a_thread() >= 1
    with pytest.raises(KombuOperationalError) as raised:
        add.apply_async((3, 3), retry=False)
    assert isinstance(raised.value.__cause__, (DBOperationalError, InterfaceError)), raised.value
    assert add.OperationalError is KombuOperationalError
    # Nothing half-published; the next call reconnects.
    assert add.delay(4, 4).id and Message.objects.count() == 3


@pytest.mark.skipif(connection.vendor == "sqlite", reason="needs a server whose sessions can be killed")
def test_publish_to_a_new_queue_retries_across_a_killed_session(app: Any) -> None:
    """The first publish after the session died declares a queue: the declare's reconnect must not strand it."""
    add = app.tasks["tests.integration.app.test_publish_and_eager.add"]
    add.delay(1, 1)
    assert terminate_all_sessions_from_a_thread() >= 1
    result = add.apply_async((2, 2), queue="fresh", retry=True,
                             retry_policy={"max_retries": 3, "interval_start": 0, "interval_step": 0.1})
    assert Message.objects.get(task_id=result.id).queue == "fresh"
    assert terminate_all_sessions_from_a_thread() >= 1
    with pytest.raises(KombuOperationalError):
        add.apply_async((3, 3), queue="fresher", retry=False)
    result = add.apply_async((4, 4), queue="fresher")
    assert Message.objects.get(task_id=result.id).queue == "fresher"
