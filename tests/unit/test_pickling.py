"""The dataclasses sent to prefork children pickle as tuples of every field."""

from __future__ import annotations

import pickle
from dataclasses import dataclass, fields

import pytest

from celery_compat.worker.execution import Job, Outcome
from kombu_transport_django.leases import StartTicket
from kombu_transport_django.pickling import pickled_as_tuple


def _every_field_set(cls: type) -> object:
    # A value unlike any default for each field, so a field left out of the
    # pickle would come back as its default and differ.
    values = {f.name: f"value of {f.name}" for f in fields(cls)}
    return cls(**values)


@pytest.mark.parametrize("cls", [Job, Outcome, StartTicket])
def test_every_field_survives_a_round_trip(cls: type) -> None:
    original = _every_field_set(cls)
    assert pickle.loads(pickle.dumps(original, protocol=pickle.HIGHEST_PROTOCOL)) == original
    assert cls.__reduce__(original) == (cls, tuple(getattr(original, f.name) for f in fields(cls)))


def test_a_single_field_class_is_refused_at_once() -> None:
    with pytest.raises(TypeError, match="Lone has 1 field"):
        @pickled_as_tuple
        @dataclass(frozen=True, slots=True)
        class Lone:
            only: int
