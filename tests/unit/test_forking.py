"""The fork gate: a fork waits for our threads' database work, which waits for the fork."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from kombu_transport_django.forking import database_work, quiet_for_fork


def test_a_fork_waits_until_work_under_way_ends_and_holds_new_work_back() -> None:
    events: list[str] = []
    working, release = threading.Event(), threading.Event()

    def work() -> None:
        with database_work():
            working.set()
            release.wait(5)
            events.append("work ended")

    def later_work() -> None:
        with database_work():
            events.append("later work")

    first = threading.Thread(target=work)
    first.start()
    working.wait(5)
    threading.Timer(0.2, release.set).start()
    with quiet_for_fork():
        events.append("fork")
        second = threading.Thread(target=later_work)
        second.start()
        time.sleep(0.1)  # it would have run by now, were it not held back
        events.append("fork done")
    first.join(5)
    second.join(5)
    assert events == ["work ended", "fork", "fork done", "later work"]


def test_work_nests_and_a_fork_from_inside_work_does_not_wait_for_itself() -> None:
    with database_work(), database_work():
        with quiet_for_fork(timeout=5):
            pass
    started = time.monotonic()
    with quiet_for_fork(timeout=1.0):
        pass
    assert time.monotonic() - started < 0.5  # the nested work above was counted out once


def test_work_that_does_not_end_delays_a_fork_only_up_to_the_timeout(caplog: pytest.LogCaptureFixture) -> None:
    stuck, release = threading.Event(), threading.Event()

    def work() -> None:
        with database_work():
            stuck.set()
            release.wait(5)

    thread = threading.Thread(target=work)
    thread.start()
    stuck.wait(5)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="kombu_transport_django.forking"):
        with quiet_for_fork(timeout=0.2):
            waited = time.monotonic() - started
    release.set()
    thread.join(5)
    assert waited >= 0.2
    assert "forking while 1 thread(s) still use the database" in caplog.text
