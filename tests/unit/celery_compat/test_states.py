"""celery_compat.states against celery.states."""

from __future__ import annotations

import itertools
from types import ModuleType

import pytest

from celery_compat import states

BUILTIN = ["PENDING", "RECEIVED", "STARTED", "SUCCESS", "FAILURE", "REVOKED", "REJECTED", "RETRY", "IGNORED"]
SAMPLES = [*BUILTIN, "PROGRESS", "CUSTOM"]
SETS = ["READY_STATES", "UNREADY_STATES", "EXCEPTION_STATES", "PROPAGATE_STATES", "ALL_STATES"]


def test_constants_sets_and_exports_are_celerys(real_states: ModuleType) -> None:
    for name in BUILTIN:
        assert getattr(states, name) == getattr(real_states, name) == name
    for name in SETS:
        assert getattr(states, name) == getattr(real_states, name)
        assert isinstance(getattr(states, name), frozenset)
    assert states.__all__ == real_states.__all__
    assert states.PRECEDENCE == real_states.PRECEDENCE


def test_ignored_and_rejected_are_not_in_all_states() -> None:
    assert "IGNORED" not in states.ALL_STATES and "REJECTED" not in states.ALL_STATES


@pytest.mark.parametrize("name", [*SAMPLES, None])
def test_precedence_matches_celery(real_states: ModuleType, name: str | None) -> None:
    assert states.precedence(name) == real_states.precedence(name)


def test_custom_states_rank_between_failure_and_revoked() -> None:
    assert states.state("PROGRESS") > states.state(states.STARTED)
    assert not states.state("PROGRESS") > states.state(states.SUCCESS)
    assert states.state(states.PENDING) < states.state(states.SUCCESS)
    assert states.state("PROGRESS") > states.REVOKED


def test_every_comparison_matches_celery(real_states: ModuleType) -> None:
    for a, b in itertools.product(SAMPLES, repeat=2):
        ours, theirs = states.state(a), real_states.state(a)
        assert (ours > b, ours >= b, ours < b, ours <= b, ours == b) == (
            theirs > b,
            theirs >= b,
            theirs < b,
            theirs <= b,
            theirs == b,
        ), (a, b)


def test_state_is_still_a_plain_string() -> None:
    assert states.state("SUCCESS") == "SUCCESS"
    assert hash(states.state("SUCCESS")) == hash("SUCCESS")
    by_state: dict[str, int] = {states.state("SUCCESS"): 1}
    assert by_state["SUCCESS"] == 1
