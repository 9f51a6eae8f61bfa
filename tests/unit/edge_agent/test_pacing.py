"""The overload control rule (edge_agent/pacing.py), driven without a clock: stretch under a
growing lag or a bus that cannot go round, hold while the queue drains, shrink back to exactly
1, report powers of two; and an aligned group stretched skips whole slots."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from edge_agent.config import PollGroup
from edge_agent.pacing import Pace
from edge_agent.scheduler import next_due


def pace(every_s: float = 1.0, max_stretch: float = 16.0) -> Pace:
    return Pace(every_s, target_lag_s=0.5, max_stretch=max_stretch)


def cycle(p: Pace, now: float, lag: float, late: float = 0.0) -> bool:
    p.observe(late)
    return p.decide(now, lag)


def test_a_growing_lag_stretches_the_period_by_a_quarter_per_cycle_up_to_the_cap() -> None:
    p = pace(max_stretch=2.0)
    assert cycle(p, 0.0, 0.6)
    assert p.stretch == pytest.approx(1.25)
    assert p.period_s == pytest.approx(1.25)
    assert cycle(p, 1.25, 0.7)
    assert p.stretch == pytest.approx(1.5625)
    assert cycle(p, 3.0, 0.8)
    assert p.stretch == pytest.approx(1.953125)
    assert cycle(p, 6.0, 0.9)
    assert p.stretch == 2.0  # the cap
    assert not cycle(p, 9.0, 1.0)
    assert p.stretch == 2.0


def test_no_second_decision_within_one_effective_period() -> None:
    p = pace(every_s=1.0)
    assert cycle(p, 0.0, 0.6)
    assert not cycle(p, 1.0, 5.0)  # the stretched period is 1.25 s
    assert p.stretch == pytest.approx(1.25)
    assert cycle(p, 1.25, 5.0)


def test_a_lag_above_target_but_falling_holds_while_the_queue_drains() -> None:
    p = pace()
    cycle(p, 0.0, 0.9)
    assert not cycle(p, 10.0, 0.7)  # still above the target, but falling: hold
    assert p.stretch == pytest.approx(1.25)
    assert not cycle(p, 20.0, 0.3)  # inside the dead band (target/2 .. target): hold
    assert p.stretch == pytest.approx(1.25)


def test_a_low_lag_shrinks_the_stretch_back_to_exactly_one() -> None:
    p = pace()
    cycle(p, 0.0, 0.9)
    now = 10.0
    for _ in range(10):
        cycle(p, now, 0.0)
        now += 10
    assert p.stretch == 1.0
    assert p.period_s == 1.0


def test_a_late_poll_of_the_cycle_keeps_it_from_shrinking() -> None:
    p = pace()
    cycle(p, 0.0, 0.9)
    assert not cycle(p, 10.0, 0.0, late=0.4)  # later than a tenth of the period
    assert p.stretch == pytest.approx(1.25)


def test_one_late_cycle_is_a_hiccup_two_in_a_row_mean_the_bus_cannot_keep_up() -> None:
    p = pace(every_s=0.1)
    assert not cycle(p, 0.0, 0.0, late=0.3)
    assert p.stretch == 1.0
    assert cycle(p, 1.0, 0.0, late=0.3)
    assert p.stretch == pytest.approx(1.25)


def test_lateness_within_the_event_loops_jitter_is_on_time() -> None:
    p = pace(every_s=0.02)
    for now in (0.0, 1.0, 2.0):
        assert not cycle(p, now, 0.0, late=0.015)
    assert p.stretch == 1.0


def test_an_event_at_each_new_power_of_two_and_one_when_back_to_normal() -> None:
    p = pace()
    reports = []
    now = 0.0
    for lag in [0.6 + i / 10 for i in range(12)] + [0.0] * 80:
        if cycle(p, now, lag):
            reports.append((round(p.stretch, 2), p.report()))
        now += 100
    reported = [s for s, r in reports if r]
    assert 2.0 <= reported[0] < 4.0
    assert 4.0 <= reported[1] < 8.0
    assert reported[-1] == 1.0
    assert len(reported) == 4  # 2x, 4x, 8x, back to 1


def test_a_stretched_aligned_group_skips_whole_slots_of_its_grid() -> None:
    group = PollGroup(name="energy", every_s=900, align=True)
    tz = ZoneInfo("UTC")
    assert next_due(group, 1_800.0, tz) == 2_700.0
    assert next_due(group, 1_800.0, tz, stretch=1.3) == 3_600.0  # every other slot
    assert next_due(group, 1_800.0, tz, stretch=3.0) == 4_500.0
    plain = PollGroup(name="fast", every_s=1.0)
    assert next_due(plain, 10.0, tz, stretch=1.5) == 11.5
