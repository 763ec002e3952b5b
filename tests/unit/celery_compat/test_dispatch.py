"""Signal: connect, disconnect, sender filtering, weak references, exceptions swallowed."""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

from celery_compat.exceptions import CDeprecationWarning
from celery_compat.utils import dispatch
from celery_compat.utils.dispatch import Signal


@pytest.fixture
def signal() -> Signal:
    return Signal(name="test_signal", providing_args={"value"})


class Recorder:
    """A receiver that records its calls; its bound method `receive` is a receiver too."""

    def __init__(self, response: Any = None) -> None:
        self.calls: list[dict[str, Any]] = []
        self.response = response

    def __call__(self, **kwargs: Any) -> Any:
        self.calls.append(kwargs)
        return self.response

    def receive(self, **kwargs: Any) -> Any:
        return self(**kwargs)


def test_receivers_get_signal_sender_and_named_arguments(signal: Signal) -> None:
    recorder = Recorder(response=42)
    signal.connect(recorder)
    responses = signal.send(sender="me", value=1)
    assert responses == [(recorder, 42)]
    assert recorder.calls == [{"signal": signal, "sender": "me", "value": 1}]


def test_send_without_receivers_returns_an_empty_list(signal: Signal) -> None:
    assert signal.send(sender=None) == []
    assert not signal.has_listeners()


def test_connect_works_as_a_decorator_with_and_without_arguments(signal: Signal) -> None:
    calls: list[str] = []

    @signal.connect
    def plain(**kwargs: Any) -> None:
        calls.append("plain")

    @signal.connect()
    def empty_parens(**kwargs: Any) -> None:
        calls.append("empty_parens")

    @signal.connect(sender="tasks.add", weak=False)
    def for_add(**kwargs: Any) -> None:
        calls.append("for_add")

    @signal.connect("tasks.add")  # type: ignore[arg-type]  # Celery reads it as the sender
    def positional_sender(**kwargs: Any) -> None:
        calls.append("positional_sender")

    assert callable(plain) and plain.__name__ == "plain"  # the function itself is returned
    signal.send(sender="tasks.add")
    assert calls == ["plain", "empty_parens", "for_add", "positional_sender"]
    calls.clear()
    signal.send(sender="tasks.mul")
    assert calls == ["plain", "empty_parens"]


def test_string_senders_are_compared_by_value(signal: Signal) -> None:
    recorder = Recorder()
    signal.connect(recorder, sender="tasks.add")
    built = "".join(["tasks", ".", "add"])  # equal, but another object
    signal.send(sender=built)
    assert len(recorder.calls) == 1
    assert signal.has_listeners(sender=built) and not signal.has_listeners(sender="tasks.mul")


def test_other_senders_are_compared_by_identity(signal: Signal) -> None:
    class AlwaysEqual:
        def __eq__(self, other: object) -> bool:
            return True

        __hash__ = object.__hash__

    sender, lookalike = AlwaysEqual(), AlwaysEqual()
    recorder = Recorder()
    signal.connect(recorder, sender=sender)
    signal.send(sender=lookalike)
    assert recorder.calls == []
    signal.send(sender=sender)
    assert len(recorder.calls) == 1


def test_connecting_the_same_receiver_twice_connects_it_once(signal: Signal) -> None:
    recorder = Recorder()
    signal.connect(recorder)
    signal.connect(recorder)
    signal.send(sender=None)
    assert len(recorder.calls) == 1


def test_dispatch_uid_identifies_the_connection(signal: Signal) -> None:
    first, second = Recorder(), Recorder()
    signal.connect(first, dispatch_uid="uid")
    signal.connect(second, dispatch_uid="uid")
    signal.send(sender=None)
    assert (len(first.calls), len(second.calls)) == (1, 0)
    assert signal.disconnect(dispatch_uid="uid") is True
    signal.send(sender=None)
    assert len(first.calls) == 1


def test_disconnect_reports_whether_something_was_disconnected(signal: Signal) -> None:
    recorder = Recorder()
    signal.connect(recorder, sender="a")
    assert signal.disconnect(recorder) is False  # connected for sender "a" only
    assert signal.disconnect(recorder, sender="a") is True
    assert signal.disconnect(recorder, sender="a") is False
    assert signal.send(sender="a") == []


def test_disconnect_with_weak_is_deprecated(signal: Signal) -> None:
    with pytest.warns(CDeprecationWarning, match="Passing `weak` to disconnect has no effect"):
        signal.disconnect(Recorder(), weak=True)


def test_receivers_are_weakly_referenced_by_default(signal: Signal) -> None:
    calls: list[int] = []

    def make_receiver() -> Callable[..., None]:
        def receiver(**kwargs: Any) -> None:
            calls.append(1)

        return receiver

    receiver = make_receiver()
    signal.connect(receiver)
    signal.send(sender=None)
    del receiver
    gc.collect()
    assert signal.send(sender=None) == []
    assert calls == [1]
    assert signal.receivers == []  # dead entries are dropped


def test_weak_false_keeps_the_receiver_alive(signal: Signal) -> None:
    calls: list[int] = []
    signal.connect(lambda **kwargs: calls.append(1), weak=False)
    gc.collect()
    signal.send(sender=None)
    assert calls == [1]


def test_bound_methods_live_as_long_as_their_instance(signal: Signal) -> None:
    first, second = Recorder(), Recorder()
    signal.connect(first.receive)
    signal.connect(second.receive)  # another instance: another receiver
    gc.collect()  # the bound method objects themselves are gone by now
    signal.send(sender=None)
    assert (len(first.calls), len(second.calls)) == (1, 1)
    assert signal.disconnect(first.receive) is True
    del second
    gc.collect()
    assert signal.send(sender=None) == []


def test_receiver_exceptions_are_logged_and_returned_not_raised(
    signal: Signal, caplog: pytest.LogCaptureFixture
) -> None:
    error = RuntimeError("receiver broke")

    def broken(**kwargs: Any) -> None:
        raise error

    after = Recorder(response="still ran")
    signal.connect(broken)
    signal.connect(after)
    with caplog.at_level(logging.ERROR, logger="celery.utils.dispatch.signal"):
        responses = signal.send(sender="x")
    assert responses == [(broken, error), (after, "still ran")]
    [record] = caplog.records
    assert record.name == "celery.utils.dispatch.signal"
    assert record.getMessage().startswith("Signal handler <function ")
    assert record.getMessage().endswith("raised: RuntimeError('receiver broke')")
    assert record.exc_info is not None and record.exc_info[1] is error


def test_send_robust_is_send() -> None:
    assert Signal.send_robust is Signal.send


def test_receivers_must_accept_keyword_arguments(signal: Signal) -> None:
    def no_kwargs(sender: Any) -> None:
        pass

    with pytest.raises(ValueError, match=r"Signal receiver must accept keyword arguments\. Add \*\*kwargs"):
        signal.connect(no_kwargs)


def test_receivers_must_be_callable(signal: Signal) -> None:
    with pytest.raises(TypeError, match="Signal receivers must be callable, got 42"):
        signal.connect(42, sender="x")  # type: ignore[arg-type]


def test_retry_calls_the_receiver_until_it_succeeds(
    signal: Signal, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    pauses: list[float] = []
    monkeypatch.setattr(dispatch, "_sleep", pauses.append)
    attempts: list[int] = []

    def flaky(**kwargs: Any) -> str:
        attempts.append(1)
        if len(attempts) < 4:
            raise ConnectionError("not yet")
        return "done"

    connected = signal.connect(flaky, retry=True)
    assert connected is not flaky  # the retrying wrapper, held strongly
    with caplog.at_level(logging.ERROR, logger="celery.utils.dispatch.signal"):
        [(_, response)] = signal.send(sender=None)
    assert response == "done" and len(attempts) == 4
    assert pauses == [2.0, 4.0, 6.0]
    assert caplog.messages[0] == f"Could not process signal receiver {flaky}. Retrying in 2.00 seconds..."
    assert signal.disconnect(flaky) is True  # found through the original function


def test_retry_pauses_grow_to_thirty_seconds(signal: Signal, monkeypatch: pytest.MonkeyPatch) -> None:
    pauses: list[float] = []
    monkeypatch.setattr(dispatch, "_sleep", pauses.append)

    def fails_twenty_times(**kwargs: Any) -> None:
        if len(pauses) < 20:
            raise ConnectionError("down")

    signal.connect(fails_twenty_times, retry=True)
    signal.send(sender=None)
    assert pauses[:3] == [2.0, 4.0, 6.0] and pauses[14:] == [30.0] * 6


class FakeProxy:
    """Stands for a Celery ``Proxy``: the sender is the object behind it."""

    def __init__(self, target: object) -> None:
        self._target = target

    def _get_current_object(self) -> object:
        return self._target


class FakePromise(FakeProxy):
    """Stands for a ``PromiseProxy``: connecting waits until it is evaluated."""

    def __init__(self, target: object) -> None:
        super().__init__(target)
        self.pending: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []

    def __then__(self, fun: Callable[..., Any], *args: Any) -> None:
        self.pending.append((fun, args))

    def evaluate(self) -> None:
        for fun, args in self.pending:
            fun(*args)


def test_a_proxy_sender_stands_for_its_target(signal: Signal) -> None:
    task = object()
    recorder = Recorder()
    signal.connect(recorder, sender=FakeProxy(task))
    signal.send(sender=task)
    assert len(recorder.calls) == 1


def test_a_lazy_sender_is_connected_once_evaluated(signal: Signal) -> None:
    task = object()
    promise = FakePromise(task)
    recorder = Recorder()
    signal.connect(recorder, sender=promise)
    assert signal.receivers == []
    promise.evaluate()
    signal.send(sender=task)
    assert len(recorder.calls) == 1


def test_a_receiver_may_connect_another_while_the_signal_is_sent(signal: Signal) -> None:
    late = Recorder()

    def connects(**kwargs: Any) -> None:
        signal.connect(late)

    signal.connect(connects)
    signal.send(sender=None)  # would deadlock if receivers ran under the lock
    signal.send(sender=None)
    assert len(late.calls) == 1


def test_repr_is_celerys(real_signals: ModuleType) -> None:
    ours = Signal(name="x", providing_args=["a"])
    theirs = type(real_signals.task_prerun)(name="x", providing_args=["a"])
    assert repr(ours) == str(ours) == repr(theirs) == "<Signal: x providing_args={'a'}>"


def dispatch_scenario(signal: Any) -> tuple[Any, ...]:
    """Connect, send and disconnect on ``signal``; return what was dispatched."""
    keep = [Recorder(response=n) for n in range(4)]
    signal.connect(keep[0])
    signal.connect(keep[0])
    signal.connect(keep[1], sender="tasks.add")
    signal.connect(keep[2], dispatch_uid="u", sender="tasks.add")
    signal.connect(keep[3], dispatch_uid="u", sender="tasks.add")
    senders = ("tasks.add", "".join(["tasks.", "add"]), "tasks.mul", None)
    sent = [[response for _, response in signal.send(sender=sender)] for sender in senders]
    disconnected = signal.disconnect(dispatch_uid="u", sender="tasks.add")
    after = [response for _, response in signal.send(sender="tasks.add")]
    return sent, disconnected, after


def test_same_scenario_same_dispatch_as_celery(real_signals: ModuleType) -> None:
    ours = dispatch_scenario(Signal(name="parity"))
    theirs = dispatch_scenario(type(real_signals.task_prerun)(name="parity"))
    assert ours == theirs == ([[0, 1, 2], [0, 1, 2], [0], [0]], True, [0, 1])
