"""§10 exception serialization (JSON), §13 unregistered tasks."""

from __future__ import annotations

import time

from compat_suite.observe import exc, raises


def failure_of(impl, task):
    r = task.delay()
    return r.get(propagate=False, timeout=30)


def test_x1_stored_form_of_an_exception(impl):
    from compat_suite.errors import KwErr

    import json

    # what the JSON serializer stores (Celery keeps a tuple before encoding)
    stored = json.loads(json.dumps(impl.app.backend.prepare_exception(KwErr("m", code=3))))
    impl.check(stored, {"exc_type": "KwErr", "exc_message": ["m"], "exc_module": "compat_suite.errors"})


def test_x1_qualname_is_the_exc_type(impl):
    e = failure_of(impl, impl.t.inner_err)
    impl.check([type(e).__qualname__, type(e).__module__, e.args], ["Outer.Inner", "compat_suite.errors", ("in",)])


def test_x2_round_trip_keeps_type_and_args(impl):
    from compat_suite.errors import MyErr

    e = failure_of(impl, impl.t.boom)
    impl.check([isinstance(e, MyErr), e.args], [True, ("boom", 42)])


def test_x2_keyword_attributes_are_lost(impl):
    from compat_suite.errors import KwErr

    e = failure_of(impl, impl.t.kw_err)
    impl.check([isinstance(e, KwErr), e.args, getattr(e, "code", "missing")], [True, ("m",), None])


def decode(impl, exc_type, exc_module, *args):
    return impl.app.backend.exception_to_python(
        {"exc_type": exc_type, "exc_message": list(args), "exc_module": exc_module})


def test_x2_incompatible_constructor_gives_plain_exception(impl):
    e = decode(impl, "Weird", "compat_suite.errors", "code=3")
    impl.check([type(e).__name__, type(e).__module__, str(e)],
               ["Exception", "builtins", "<class 'compat_suite.errors.Weird'>(['code=3'])"])


def test_x2_builtin_exception_round_trip(impl):
    e = failure_of(impl, impl.t.value_err)
    impl.check([type(e) is ValueError, e.args], [True, ("bad", 1)])


def test_x3_unimported_module_gives_a_synthetic_class(impl):
    e = decode(impl, "Ghost", "compat_suite.never_imported", "spooky")
    impl.check([type(e).__name__, type(e).__module__, isinstance(e, Exception), e.args],
               ["Ghost", "celery.exceptions", True, ("spooky",)])


def test_x3_non_exception_target_is_a_security_error(impl):
    outcome = raises(decode, impl, "system", "os")
    impl.check(outcome, ("raised", ("exceptions.SecurityError", ("Expected an exception class, got os.system with payload []",))))


def test_n1_unregistered_task_fails_with_not_registered(impl):
    seen = []

    def on_unknown(sender=None, name=None, **kw):
        seen.append(name)

    impl.signals.task_unknown.connect(on_unknown, weak=False)
    try:
        r = impl.app.send_task("nope.nope", (1,))
        e = r.get(propagate=False, timeout=30)
        impl.wait_for("task_unknown", lambda: seen)
    finally:
        impl.signals.task_unknown.disconnect(on_unknown)
    impl.check([r.state, exc(e), isinstance(e, KeyError), seen], [
        "FAILURE", ("exceptions.NotRegistered", ("nope.nope",)), True, ["nope.nope"]])


def test_n1_client_side_lookup_raises_not_registered(impl):
    outcome = raises(lambda: impl.app.tasks["nope.client"])
    impl.check(outcome, ("raised", ("exceptions.NotRegistered", ("nope.client",))))


def test_revoked_result_propagates_task_revoked_error(impl):
    r = impl.t.add.apply_async((1, 1), countdown=1)
    r.revoke()
    try:
        r.get(timeout=30)
    except impl.exceptions.TaskRevokedError as e:
        impl.check(exc(e), ("exceptions.TaskRevokedError", ("revoked",)))
    time.sleep(0)
