"""Observable public API without a worker: §6 E2 ETA forms, §9 group timeout,
§10 X4 module names, §11 A6/store_eager_result, §12 state precedence."""

from __future__ import annotations

import datetime as dt
import pytest

from compat_suite.differences import deliberate
from compat_suite.observe import exc, raises


def test_e2_request_eta_is_the_iso_string(impl):
    r = impl.t.request_info.apply_async(countdown=0.1)
    info = r.get(timeout=30)
    impl.check(info["eta"], True)
    eta = impl.t.eta_of.apply_async(countdown=0.1).get(timeout=30)
    impl.check([type(eta).__name__, dt.datetime.fromisoformat(eta).utcoffset() is not None], ["str", True])


def test_e2_past_eta_runs_at_once(impl):
    past = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=30)
    impl.check(impl.t.add.apply_async((1, 2), eta=past).get(timeout=30), 3)


def test_e2_naive_eta_is_in_the_app_timezone(impl):
    # the apps' timezone is UTC: a naive datetime in UTC 0.3 s ahead runs soon
    naive = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) + dt.timedelta(seconds=0.3)
    impl.check([str(impl.app.timezone), impl.t.add.apply_async((2, 2), eta=naive).get(timeout=30)], ["UTC", 4])


def test_p1_group_get_timeout(impl):
    # The message is the backend's: 'join operation timed out' from join()
    # (django-db, file), 'The operation timed out.' from Redis' join_native.
    g = impl.celery.group(impl.t.sleeper.s(1.5), impl.t.add.s(1, 1)).delay()
    outcome = raises(g.get, timeout=0.2)
    impl.check([outcome[0], outcome[1][0]], ["raised", "exceptions.TimeoutError"])
    assert outcome[1][1] in (("join operation timed out",), ("The operation timed out.",)), outcome
    impl.check(g.get(timeout=30), [1.5, 2])


@pytest.mark.parametrize("name", ["TimeLimitExceeded", "SoftTimeLimitExceeded", "WorkerLostError"])
def test_x4_pool_errors_are_stored_as_billiard_exceptions(impl, name):
    cls = getattr(impl.exceptions, name)
    stored = impl.app.backend.prepare_exception(cls("x"))
    back = impl.app.backend.exception_to_python(
        {"exc_type": name, "exc_message": ["x"], "exc_module": "billiard.exceptions"})
    impl.check([stored["exc_type"], stored["exc_module"], isinstance(back, cls)],
               [name, "billiard.exceptions", True])


@pytest.mark.parametrize("name", ["NotRegistered", "TaskRevokedError", "MaxRetriesExceededError", "ChordError"])
def test_x4_celery_errors_are_stored_under_celery_exceptions(impl, name):
    cls = getattr(impl.exceptions, name)
    stored = impl.app.backend.prepare_exception(cls("x"))
    back = impl.app.backend.exception_to_python(
        {"exc_type": name, "exc_message": ["x"], "exc_module": "celery.exceptions"})
    impl.check([stored["exc_type"], stored["exc_module"], isinstance(back, cls), exc(back)],
               [name, "celery.exceptions", True, (f"exceptions.{name}", ("x",))])


def test_a6_replace_in_eager_apply_works(impl):
    app, t = impl.make_app(task_always_eager=True)
    applied = t.replacer.apply((1,))
    impl.check([applied.state, applied.get()], ["SUCCESS", 101])


def test_a6_replace_in_eager_delay(impl):
    app, t = impl.make_app(task_always_eager=True)
    r = t.replacer.delay(1)
    impl.check([r.state, r.result if r.state == "SUCCESS" else type(r.result).__name__],
               deliberate("eager-delay-replace-works", celery=["FAILURE", "RuntimeError"],
                          celery_compat=["SUCCESS", 101]))


def test_a1_task_store_eager_result(impl):
    app, t = impl.make_app(task_always_eager=True, task_store_eager_result=True)
    r = t.add.delay(3, 4)
    impl.check([r.get(), impl.app.AsyncResult(r.id).get(timeout=5)], [7, 7])


def test_u1_custom_state_precedence(impl):
    s = impl.states
    impl.check([s.state("PROGRESS") > s.STARTED, s.state("PROGRESS") > s.SUCCESS,
                s.state(s.REVOKED) < s.state("PROGRESS"), s.precedence("PROGRESS") == s.precedence(None),
                sorted(s.READY_STATES), sorted(s.UNREADY_STATES), sorted(s.EXCEPTION_STATES),
                sorted(s.PROPAGATE_STATES), sorted(s.ALL_STATES)],
               [True, False, True, True, ["FAILURE", "REVOKED", "SUCCESS"],
                ["PENDING", "RECEIVED", "REJECTED", "RETRY", "STARTED"], ["FAILURE", "RETRY", "REVOKED"],
                ["FAILURE", "REVOKED"], ["FAILURE", "PENDING", "RECEIVED", "RETRY", "REVOKED", "STARTED", "SUCCESS"]])



def test_wrong_call_arguments_raise_at_the_call_as_the_function_would(impl):
    # Celery checks a call's arguments against the task function's signature
    # (``typing``, on by default) before publishing: the function's own
    # TypeError, named after it. A bound task's ``self`` is not counted.
    t = impl.t
    impl.check(
        [raises(t.add.delay, 1), raises(t.add.delay, 1, 2, 3), raises(t.add.delay, 1, 2, z=3),
         raises(t.add.delay, 1, x=2), raises(t.add.apply_async, (1,)), raises(t.flaky.delay),
         raises(t.flaky.delay, 1, 2), raises(t.boom.s(1).delay)],
        [("raised", ("TypeError", ("add() missing 1 required positional argument: 'y'",))),
         ("raised", ("TypeError", ("add() takes 2 positional arguments but 3 were given",))),
         ("raised", ("TypeError", ("add() got an unexpected keyword argument 'z'",))),
         ("raised", ("TypeError", ("add() got multiple values for argument 'x'",))),
         ("raised", ("TypeError", ("add() missing 1 required positional argument: 'y'",))),
         ("raised", ("TypeError", ("flaky() missing 1 required positional argument: 'key'",))),
         ("raised", ("TypeError", ("flaky() takes 2 positional arguments but 3 were given",))),
         ("raised", ("TypeError", ("boom() takes 0 positional arguments but 1 was given",)))],
    )
