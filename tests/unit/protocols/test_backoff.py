"""Reconnect back-off (protocols.backoff): the delay drawn, and when the count starts again."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.backoff import STABLE_S, backoff_delay, next_attempt


def test_the_cap_doubles_from_the_floor_to_the_ceiling() -> None:
    caps = [backoff_delay(attempt, 0.2, 30.0, 1.0) for attempt in range(10)]
    assert caps == pytest.approx([0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 30.0, 30.0])
    assert backoff_delay(10**6, 0.2, 30.0, 1.0) == 30.0


@given(st.integers(0, 100), st.floats(-1.0, 2.0, allow_nan=False))
def test_a_delay_stays_between_the_floor_and_the_cap(attempt: int, jitter: float) -> None:
    delay = backoff_delay(attempt, 1.0, 60.0, jitter)
    assert 1.0 <= delay <= min(60.0, 2.0**attempt)


def test_a_session_that_held_starts_the_count_again() -> None:
    # a broker restarted once a minute (a rolling restart): every reconnect takes the floor
    assert next_attempt(7, STABLE_S) == 0
    assert next_attempt(7, 55.0) == 0


def test_a_refused_connect_or_a_flap_counts_one_more() -> None:
    assert next_attempt(0, None) == 1  # never connected
    assert next_attempt(3, None) == 4
    assert next_attempt(3, STABLE_S - 0.01) == 4  # accepted, then dropped at once


def test_a_broker_that_drops_every_client_at_once_is_backed_off_from() -> None:
    attempt = 0
    for _ in range(8):
        attempt = next_attempt(attempt, 0.5)
    assert backoff_delay(attempt, 0.2, 30.0, 1.0) == 30.0
