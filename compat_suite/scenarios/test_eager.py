"""§11 task_always_eager (A1–A5), eager retries (T5), P4 in eager mode."""

from __future__ import annotations

import time
import warnings

import pytest

from compat_suite.observe import exc, raises
from compat_suite.zoo import NOTES


@pytest.fixture
def eager(impl):
    app, tasks = impl.make_app(task_always_eager=True)
    return app, tasks


def test_a1_delay_returns_eager_result_and_stores_nothing(impl, eager):
    app, t = eager
    r = t.add.delay(2, 2)
    impl.check([type(r).__name__, r.state, r.get(), impl.app.AsyncResult(r.id).state],
               ["EagerResult", "SUCCESS", 4, "PENDING"])


def test_a2_failure_without_propagation(impl, eager):
    app, t = eager
    r = t.boom.delay()
    impl.check([r.state, exc(r.result), raises(r.get), exc(r.get(propagate=False)), r.traceback is not None],
               ["FAILURE", ("compat_suite.errors.MyErr", ("boom", 42)),
                ("raised", ("compat_suite.errors.MyErr", ("boom", 42))),
                ("compat_suite.errors.MyErr", ("boom", 42)), True])


def test_a2_failure_with_eager_propagates(impl):
    app, t = impl.make_app(task_always_eager=True, task_eager_propagates=True)
    impl.check(raises(t.boom.delay), ("raised", ("compat_suite.errors.MyErr", ("boom", 42))))


def test_a3_args_go_through_the_serializer(impl, eager):
    app, t = eager
    impl.check(t.echo.delay((1, 2), {1: "a"}).get(), [[[1, 2], {"1": "a"}], {}])


def test_a3_unserialisable_args_raise_encode_error(impl, eager):
    app, t = eager
    outcome = raises(t.echo.delay, object())
    impl.check([outcome[0], outcome[1][0]], ["raised", "kombu.exceptions.EncodeError"])


def test_a4_send_task_ignores_eager_and_warns(impl):
    app, t = impl.make_app(task_always_eager=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = app.send_task("zoo.add", (1, 1), countdown=60)
    r.revoke()
    # kombu's and Django's own deprecations are not the user-visible API
    names = [w.category.__name__ for w in caught if not issubclass(w.category, DeprecationWarning)]
    impl.check([type(r).__name__, names], ["AsyncResult", ["AlwaysEagerIgnored"]])


def test_a5_request_is_eager(impl, eager):
    app, t = eager
    info = t.request_info.delay(1, k=2).get()
    impl.check([info["is_eager"], info["args"], info["kwargs"], info["retries"]], [True, [1], {"k": 2}, 0])


def test_a5_links_are_applied_eagerly(impl, eager):
    app, t = eager
    k = f"a5l-{impl.name}-{time.time_ns()}"
    t.add.apply_async((2, 3), link=t.mark.si(k, "linked"))
    impl.check(NOTES[k], ["linked"])


def test_a5_ignore_is_ignored_state(impl, eager):
    app, t = eager
    r = t.ignorer.delay(f"a5i-{impl.name}")
    impl.check(r.state, "IGNORED")


def test_a5_update_state_writes_to_the_backend_in_eager_mode(impl):
    # the eager app shares the worker app's backend configuration
    app, t = impl.make_app(task_always_eager=True)
    other = app.AsyncResult(f"eager-other-{time.time_ns()}-{impl.name}")
    t.write_other.delay(other.id)
    impl.check([impl.app.AsyncResult(other.id).state], ["CUSTOM"])


def test_t5_eager_retries_run_at_once_then_fail(impl, eager):
    app, t = eager
    k = f"t5-{impl.name}-{time.time_ns()}"
    started = time.monotonic()
    r = t.flaky_later.delay(k)
    # countdown=60 twice: honoured it would take 120 s (the bound is for hangs, not speed)
    impl.check([NOTES[k], r.state, exc(r.result), time.monotonic() - started < 60],
               [[0, 1, 2], "FAILURE", ("compat_suite.errors.MyErr", ("flaky",)), True])


def test_t5_eager_retry_then_success(impl, eager):
    app, t = eager
    k = f"t5s-{impl.name}-{time.time_ns()}"
    r = t.retry_then_ok.delay(k, 2)
    impl.check([r.get(), NOTES[k]], [2, [0, 1, 2]])


def test_eager_ignores_countdown_and_expires(impl, eager):
    app, t = eager
    r = t.add.apply_async((1, 2), countdown=60, expires=0.001)
    impl.check([r.state, r.get()], ["SUCCESS", 3])


def test_eager_revoke_only_flips_local_state(impl, eager):
    app, t = eager
    r = t.add.delay(1, 2)
    r.revoke()
    impl.check(r.state, "REVOKED")


def test_p4_get_inside_an_eager_task_raises_runtime_error(impl, eager):
    app, t = eager
    r = t.getter.delay()
    e = r.result
    impl.check([r.state, type(e).__name__, str(e).startswith("Never call result.get() within a task!")],
               ["FAILURE", "RuntimeError", True])


def test_direct_call_is_a_plain_call(impl):
    info = impl.t.request_info(1)
    impl.check([impl.t.add(1, 2), info["called_directly"], info["is_eager"]], [3, True, False])


def test_i1_eager_ignore_result(impl, eager):
    app, t = eager
    r = t.ignored.delay(f"i1e-{impl.name}")
    impl.check([r.state, r.get()], ["SUCCESS", "ignored"])
