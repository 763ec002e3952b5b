"""§4 return values, §9 get()/propagation, §16 task id reuse, §12 update_state."""

from __future__ import annotations

import time

from compat_suite.differences import deliberate
from compat_suite.observe import exc, normal, raises, states_until_ready


def test_add_returns_value(impl):
    r = impl.t.add.delay(2, 3)
    impl.check([r.get(timeout=30), r.state, r.successful(), r.failed(), r.ready()],
               [5, "SUCCESS", True, False, True])


def test_args_go_through_json(impl):
    r = impl.t.echo.delay((1, 2), {1: "a"}, k=(3,))
    impl.check(r.get(timeout=30), [[[1, 2], {"1": "a"}], {"k": [3]}])


def test_r1_returned_signature_is_a_plain_dict(impl):
    value = impl.t.returns_sig.delay().get(timeout=30)
    impl.check([type(value).__name__, sorted(value), value["task"], list(value["args"])],
               ["dict", ["args", "immutable", "kwargs", "options", "subtask_type", "task"], "zoo.add", [1, 2]])


def test_r2_returned_exception_is_an_encode_error(impl):
    r = impl.t.returns_exc.delay()
    outcome = raises(r.get, timeout=30)
    impl.check([r.state, outcome[0], outcome[1][0]], ["FAILURE", "raised", "kombu.exceptions.EncodeError"])


def test_r3_ignore_leaves_pending(impl):
    key = f"r3-{impl.name}"
    r = impl.t.ignorer.delay(key)
    impl.wait_for("ignorer ran", lambda: key in __import__("compat_suite.zoo").zoo.NOTES)
    time.sleep(0.3)
    impl.check(r.state, "PENDING")


def test_r4_reject_without_requeue_is_a_failure_and_never_reruns(impl):
    # Celery 5.7 (the installed reference, issue #4222): FAILURE with the
    # Reject, task_failure sent; the message is dropped (5.6 left PENDING).
    key = f"r4-{impl.name}-{time.time_ns()}"
    failures = []

    def on_failure(sender=None, task_id=None, exception=None, **kw):
        failures.append((task_id, exc(exception)))

    impl.signals.task_failure.connect(on_failure, weak=False)
    try:
        r = impl.t.rejecter.delay(key)
        e = r.get(propagate=False, timeout=30)
        impl.wait_for("task_failure", lambda: failures)
    finally:
        impl.signals.task_failure.disconnect(on_failure)
    from compat_suite.zoo import NOTES

    time.sleep(0.5)
    impl.check([NOTES[key], r.state, exc(e), [f for i, f in failures if i == r.id]],
               [[0], "FAILURE", ("exceptions.Reject", ("no", False)),
                [("exceptions.Reject", ("no", False))]])


def test_p1_get_timeout(impl):
    # Celery's Redis result consumer checks the timeout between 1 s pubsub
    # waits: the task sleeps longer than that.
    r = impl.t.sleeper.delay(1.5)
    outcome = raises(r.get, timeout=0.2)
    impl.check(outcome, ("raised", ("exceptions.TimeoutError", ("The operation timed out.",))))
    impl.check(r.get(timeout=30), 1.5)


def test_p1_timeout_error_is_a_task_error_not_builtin(impl):
    e = impl.exceptions
    impl.check([issubclass(e.TimeoutError, e.TaskError), issubclass(e.TimeoutError, TimeoutError)],
               [True, False])


def test_p2_failure_propagates_and_propagate_false_returns(impl):
    r = impl.t.boom.delay()
    raised = raises(r.get, timeout=30)
    returned = r.get(propagate=False, timeout=30)
    impl.check([raised, exc(returned), r.state, r.failed(), exc(r.result), r.traceback is not None],
               [("raised", ("compat_suite.errors.MyErr", ("boom", 42))),
                ("compat_suite.errors.MyErr", ("boom", 42)), "FAILURE", True,
                ("compat_suite.errors.MyErr", ("boom", 42)), True])


def test_p2_exception_type_is_preserved(impl):
    from compat_suite.errors import MyErr

    r = impl.t.boom.delay()
    try:
        r.get(timeout=30)
    except MyErr as e:
        impl.check(e.args, ("boom", 42))
    else:  # pragma: no cover
        raise AssertionError("no MyErr")


def test_unknown_id_is_pending(impl):
    r = impl.app.AsyncResult("no-such-task-id")
    impl.check([r.state, r.ready(), r.result], ["PENDING", False, None])


def test_u1_custom_state_visible_then_overwritten(impl):
    r = impl.t.progress.delay(0.5)
    impl.wait_for("PROGRESS", lambda: r.state == "PROGRESS")
    during = [r.state, normal(r.info), r.ready()]
    final = r.get(timeout=30)
    impl.check([during, final, r.state], [["PROGRESS", {"current": 1, "total": 2}, False], "done", "SUCCESS"])


def test_u1_update_state_of_another_task(impl):
    other = impl.app.AsyncResult(f"other-{time.time_ns()}-{impl.name}")
    impl.t.write_other.delay(other.id).get(timeout=30)
    impl.check([other.state, normal(other.info), other.ready()], ["CUSTOM", {"by": "other"}, False])


def test_track_started_shows_started_with_pid_and_hostname(impl):
    r = impl.t.started.delay(0.5)
    impl.wait_for("STARTED", lambda: r.state == "STARTED")
    info = r.info
    impl.check([sorted(info), r.ready()], [["hostname", "pid"], False])
    impl.check(r.get(timeout=30), "ok")


def test_states_over_time_of_a_slow_task(impl):
    r = impl.t.sleeper.delay(0.3)
    impl.check(states_until_ready(r), ["PENDING", "SUCCESS"])


def test_d1_task_id_reuse_last_result_on_database(impl):
    task_id = f"fixed-{time.time_ns()}-{impl.name}"
    first = impl.t.add.apply_async((1, 1), task_id=task_id).get(timeout=30)
    impl.t.add.apply_async((2, 2), task_id=task_id)
    time.sleep(0.5)
    impl.wait_for("second run", lambda: True)
    fresh = impl.app.AsyncResult(task_id)
    impl.check([first, fresh.get(timeout=30)],
               deliberate("task-id-reuse-overwrites", celery=[2, 2], celery_compat=[2, 4]))


def test_d1_cached_async_result_keeps_old_value(impl):
    task_id = f"cached-{time.time_ns()}-{impl.name}"
    r = impl.t.add.apply_async((1, 1), task_id=task_id)
    r.get(timeout=30)
    impl.t.add.apply_async((2, 2), task_id=task_id)
    time.sleep(0.5)
    impl.check(r.get(timeout=30), 2)
