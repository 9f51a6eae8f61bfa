"""The block-read planner: hand-checked plans for the shipped maps, and its laws."""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from protocols.contract.quantities import Quantity
from protocols.modbus import (
    Function,
    NoValue,
    NoValueReason,
    PlanError,
    Reading,
    ReadRequest,
    decode_blocks,
    load_map,
    plan_reads,
    plan_spans,
)

H, IN = Function.HOLDING, Function.INPUT


def test_the_sdm630_poll_is_six_requests_within_eastrons_80_register_limit() -> None:
    assert plan_reads(load_map("sdm630"), unit=7) == [
        ReadRequest(7, IN, 0x0000, 36),  # phase V, A, W, VA, var, PF
        ReadRequest(7, IN, 0x0034, 12),  # totals W .. PF, across 2-register holes
        ReadRequest(7, IN, 0x0046, 10),  # Hz, kWh and kvarh in and out
        ReadRequest(7, IN, 0x0056, 2),  # max demand
        ReadRequest(7, IN, 0x00E0, 2),  # neutral current
        ReadRequest(7, IN, 0x0156, 2),  # total kWh
    ]


def test_a_tighter_limit_and_no_gap_split_the_sdm630_further() -> None:
    plan = plan_reads(load_map("sdm630"), max_registers=16, max_gap=0)
    assert max(r.count for r in plan) <= 16
    # 36 phase registers as 16 + 16 + 4; then W, VA, var+PF, Hz..kvarh, demand, I_N, total kWh
    assert [r.count for r in plan] == [16, 16, 4, 2, 2, 4, 10, 2, 2, 2]


def test_the_sunspec_model_is_one_read_including_its_scale_factors() -> None:
    assert plan_reads(load_map("sunspec_meter")) == [ReadRequest(1, H, 40069 + 3, 52)]


def test_the_prepaid_poll_reads_energy_instantaneous_values_and_the_relay_state() -> None:
    assert plan_reads(load_map("generic_prepaid")) == [
        ReadRequest(1, H, 0x0000, 12),
        ReadRequest(1, H, 0x0010, 15),
        ReadRequest(1, H, 0x0100, 1),
    ]


def test_a_limit_above_125_is_refused() -> None:
    with pytest.raises(PlanError, match=r"outside 1\.\.125"):
        plan_reads(load_map("sdm630"), max_registers=126)


def test_a_value_wider_than_the_limit_cannot_be_planned() -> None:
    with pytest.raises(PlanError, match="exceed the limit of 3"):
        plan_spans([(H, 0, 4)], max_registers=3)


def test_overlapping_spans_are_read_once_in_one_request() -> None:
    assert plan_spans([(H, 0, 2), (H, 1, 2)], max_registers=3) == [ReadRequest(1, H, 0, 3)]


def test_a_failed_request_leaves_its_quantities_not_read_and_the_rest_decoded() -> None:
    sdm = load_map("sdm630")
    plan = plan_reads(sdm)
    replies = {plan[0]: [0x4366, 0x8000] + [0] * 34}  # only the first block answered
    results = {r.quantity: r for r in decode_blocks(sdm, replies)}
    assert results[Quantity.VOLTAGE_A] == Reading(Quantity.VOLTAGE_A, 230_500)
    energy = results[Quantity.ENERGY_IMPORT]
    assert isinstance(energy, NoValue)
    assert energy.reason is NoValueReason.NOT_READ


def test_a_short_reply_leaves_the_missing_tail_not_read() -> None:
    sdm = load_map("sdm630")
    first = plan_reads(sdm)[0]
    results = {r.quantity: r for r in decode_blocks(sdm, {first: [0x4366, 0x8000]})}
    assert results[Quantity.VOLTAGE_A] == Reading(Quantity.VOLTAGE_A, 230_500)
    assert isinstance(results[Quantity.VOLTAGE_B], NoValue)


# ---- laws ---------------------------------------------------------------------------------------

spans_strategy = st.lists(
    st.tuples(st.sampled_from([H, IN]), st.integers(0, 400), st.sampled_from([1, 2, 4])),
    min_size=1,
    max_size=40,
)


def _covered(plan: list[ReadRequest], function: Function) -> list[int]:
    return [a for r in plan if r.function is function for a in range(r.start, r.stop)]


def _atoms(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Overlapping spans joined: what must be read in one piece."""
    atoms: list[tuple[int, int]] = []
    for start, stop in sorted(spans):
        if atoms and start < atoms[-1][1]:
            atoms[-1] = (atoms[-1][0], max(atoms[-1][1], stop))
        else:
            atoms.append((start, stop))
    return atoms


def _plannable(spans: list[tuple[Function, int, int]], limit: int) -> bool:
    return all(
        stop - start <= limit
        for function in (H, IN)
        for start, stop in _atoms([(s, s + c) for f, s, c in spans if f is function])
    )


def _fewest(spans: list[tuple[int, int]], limit: int, gap: int) -> int:
    """Independent optimum by dynamic programming over the disjoint, sorted atoms."""
    atoms = _atoms(spans)
    best = [0] + [10**9] * len(atoms)
    for j in range(1, len(atoms) + 1):
        for i in range(j, 0, -1):  # atoms i-1 .. j-1 in one request
            group = atoms[i - 1 : j]
            fits = group[-1][1] - group[0][0] <= limit and all(
                b[0] - a[1] <= gap for a, b in itertools.pairwise(group)
            )
            if fits:
                best[j] = min(best[j], best[i - 1] + 1)
    return best[-1]


@given(spans_strategy, st.integers(4, 125), st.integers(0, 20))
def test_a_plan_exists_exactly_when_no_overlapping_run_exceeds_the_limit(
    spans: list[tuple[Function, int, int]], limit: int, gap: int
) -> None:
    try:
        plan_spans(spans, max_registers=limit, max_gap=gap)
        planned = True
    except PlanError:
        planned = False
    assert planned is _plannable(spans, limit)


@given(spans_strategy, st.integers(4, 125), st.integers(0, 20))
def test_plans_obey_the_limit_cover_every_register_once_and_respect_the_gap(
    spans: list[tuple[Function, int, int]], limit: int, gap: int
) -> None:
    assume(_plannable(spans, limit))
    plan = plan_spans(spans, max_registers=limit, max_gap=gap)
    assert all(1 <= r.count <= limit for r in plan)
    for function in (H, IN):
        covered = _covered(plan, function)
        needed = {a for f, s, c in spans if f is function for a in range(s, s + c)}
        assert len(covered) == len(set(covered))  # no register read twice
        assert needed <= set(covered)  # none missed
        for request in (r for r in plan if r.function is function):
            inside = sorted(a for a in needed if request.start <= a < request.stop)
            assert (inside[0], inside[-1]) == (request.start, request.stop - 1)
            assert all(b - a - 1 <= gap for a, b in itertools.pairwise(inside))
    # a multi-register value is never split across two requests
    assert all(
        any(r.function is f and r.start <= s and s + c <= r.stop for r in plan) for f, s, c in spans
    )


@given(spans_strategy, st.integers(4, 125), st.integers(0, 20))
def test_plans_use_the_fewest_requests(
    spans: list[tuple[Function, int, int]], limit: int, gap: int
) -> None:
    assume(_plannable(spans, limit))
    plan = plan_spans(spans, max_registers=limit, max_gap=gap)
    expected = sum(
        _fewest([(s, s + c) for f, s, c in spans if f is function], limit, gap)
        for function in {f for f, _, _ in spans}
    )
    assert len(plan) == expected


@given(spans_strategy, st.integers(4, 125), st.integers(0, 20), st.randoms())
def test_plans_are_deterministic_whatever_the_input_order(
    spans: list[tuple[Function, int, int]], limit: int, gap: int, rnd: random.Random
) -> None:
    assume(_plannable(spans, limit))
    shuffled = list(spans)
    rnd.shuffle(shuffled)
    first = plan_spans(spans, max_registers=limit, max_gap=gap)
    assert plan_spans(shuffled + spans, max_registers=limit, max_gap=gap) == first
    assert first == sorted(first, key=lambda r: (list(Function).index(r.function), r.start))
