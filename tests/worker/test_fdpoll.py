"""The prefork pool's poll set, on real pipes (multiprocessing's, as the pool uses)."""

from __future__ import annotations

import os
import time
from multiprocessing import Pipe

from celery_compat.worker.fdpoll import PollSet


def test_a_pipe_is_ready_only_once_something_was_sent():
    worker_end, child_end = Pipe()
    try:
        pipes = PollSet([child_end.fileno()])
        assert pipes.ready(0) == []
        worker_end.send(("job", 1))
        assert pipes.ready(0) == [child_end.fileno()]
        assert child_end.recv() == ("job", 1)
        assert pipes.ready(0) == []
    finally:
        worker_end.close()
        child_end.close()


def test_a_closed_other_end_is_ready_and_recv_then_raises_eof():
    worker_end, child_end = Pipe()
    pipes = PollSet([child_end.fileno()])
    worker_end.close()
    try:
        assert pipes.ready(1.0) == [child_end.fileno()]
        try:
            child_end.recv()
        except EOFError:
            pass
        else:
            raise AssertionError("recv() on a pipe closed at the other end did not raise EOFError")
    finally:
        child_end.close()


def test_ready_waits_up_to_the_timeout_and_not_longer():
    worker_end, child_end = Pipe()
    try:
        pipes = PollSet([child_end.fileno()])
        started = time.monotonic()
        assert pipes.ready(0.2) == []
        waited = time.monotonic() - started
        assert 0.2 <= waited < 2.0, waited
    finally:
        worker_end.close()
        child_end.close()


def test_a_plain_pipe_whose_writer_closed_is_ready():
    # A pipe (not a socket pair) reports only POLLHUP, no POLLIN, at EOF.
    r, w = os.pipe()
    try:
        pipes = PollSet([r])
        os.close(w)
        assert pipes.ready(1.0) == [r]
        assert os.read(r, 1) == b""
    finally:
        os.close(r)


def test_watch_follows_the_set_of_descriptors():
    first, first_peer = Pipe()
    r, w = os.pipe()
    try:
        pipes = PollSet([first_peer.fileno()])
        os.write(w, b"x")
        # Not watched yet: a readable descriptor outside the set is not reported.
        assert pipes.ready(0) == []
        pipes.watch([first_peer.fileno(), r])
        assert pipes.ready(0) == [r]
        first.send("answer")
        assert sorted(pipes.ready(0)) == sorted([first_peer.fileno(), r])
        # Dropped from the set (a child that exited): no longer reported.
        pipes.watch([r])
        assert pipes.ready(0) == [r]
    finally:
        for conn in (first, first_peer):
            conn.close()
        os.close(r)
        os.close(w)
