"""Sequence arithmetic: new gaps, resends, and late arrivals shrinking, splitting, closing gaps."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from backend.metering.ingest.plan import advance, fill_gaps


def test_the_first_message_ever_seen_opens_no_gap_before_it() -> None:
    assert advance(None, [41, 42]) == (42, [], [])


def test_skipped_seqs_become_gaps_and_resends_are_late_not_missing() -> None:
    assert advance(10, [11, 14, 15, 20]) == (20, [(12, 13), (16, 19)], [])
    assert advance(20, [7, 20, 21]) == (21, [], [7, 20])


def test_out_of_order_seqs_within_one_batch_are_not_gaps() -> None:
    assert advance(1, [4, 2, 3]) == (4, [], [])


def test_a_late_arrival_splits_shrinks_or_closes_a_gap() -> None:
    gaps = [(1, 3, 9), (2, 20, 20)]
    change = fill_gaps(gaps, [5, 3, 20, 30])
    assert change.deleted == [2]
    assert change.updated == [(1, 4, 4)]
    assert change.inserted == [(6, 9)]
    assert change.filled == 3


@given(
    mark=st.integers(0, 50),
    first=st.lists(st.integers(0, 120), max_size=30),
    late=st.lists(st.integers(0, 120), max_size=30),
)
def test_gaps_always_hold_exactly_the_seqs_never_seen(
    mark: int, first: list[int], late: list[int]
) -> None:
    """Whatever order seqs arrive in, the recorded gaps are the numbers between the first seq
    and the highest one that have not arrived."""
    seen = {mark}
    adv = advance(mark, first)
    seen |= set(first)
    gaps = [(i, a, b) for i, (a, b) in enumerate(adv.gaps)]
    adv2 = advance(adv.mark, late)
    change = fill_gaps(gaps, adv2.late)
    seen |= set(late)
    kept = {g[0]: (g[1], g[2]) for g in gaps if g[0] not in change.deleted}
    kept.update({gid: (a, b) for gid, a, b in change.updated})
    ranges = [*kept.values(), *change.inserted, *adv2.gaps]
    missing = {s for a, b in ranges for s in range(a, b + 1)}
    top = max(seen)
    assert missing == set(range(mark, top + 1)) - seen
    assert sum(b - a + 1 for a, b in ranges) == len(missing)  # no overlaps
