"""Workflows started by REAL Celery on ``django://`` finish on our worker.

Real Celery has no reader for our result tables, so outcomes are read
through ``celery_compat``'s ``AsyncResult`` and side effects (files).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from celery_compat import Celery
from celery_compat.testing import drain
from tests.canvas.tasks import add, record, tsum

pytestmark = pytest.mark.django_db(transaction=True)


def _unlock_backend() -> type:
    from celery.backends.base import BaseBackend

    class UnlockBackend(BaseBackend):
        """Real Celery's chord fallback (``celery.chord_unlock``) without storage of its own."""

        persistent = False

        def _store_result(self, *args: Any, **kwargs: Any) -> None:
            raise AssertionError("the client stores nothing")

    return UnlockBackend


def test_real_celery_chain_finishes_on_our_worker(app: Celery, real_celery: Any, tmp_path: Path) -> None:
    from celery import chain as real_chain

    path = tmp_path / "body"
    sig = real_celery.signature
    r = real_chain(sig(add.name, (1, 1)), sig(add.name, (2,)), sig(record.name, (str(path),))).apply_async()
    drain(app)
    assert path.read_text().splitlines() == ["4"]
    ours = app.AsyncResult(r.id)
    assert ours.get(timeout=1) == 4
    assert app.AsyncResult(r.parent.id).get(timeout=1) == 4
    assert app.AsyncResult(r.parent.parent.id).get(timeout=1) == 2


def test_real_celery_chord_unlock_runs_on_our_worker(app: Celery, real_celery: Any, tmp_path: Path) -> None:
    from celery import chord as real_chord

    real_celery._local.backend = _unlock_backend()(app=real_celery)
    sig = real_celery.signature
    r = real_chord([sig(add.name, (1, 1)), sig(add.name, (2, 2))], sig(tsum.name)).apply_async()
    from kombu_transport_django.models import Message

    assert any("celery.chord_unlock" in str(m.payload) for m in Message.objects.all())
    drain(app, timeout=20)
    assert app.AsyncResult(r.id).get(timeout=1) == 6
