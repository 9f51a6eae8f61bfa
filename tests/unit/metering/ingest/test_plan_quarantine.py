"""The ingestion plan holds implausible readings (pure: no database)."""

from __future__ import annotations

import msgspec

from backend.metering.ingest.inbox import Item, classify
from backend.metering.ingest.plan import MeterRef, Screen, build_plan
from backend.metering.intervals import Point
from backend.metering.quarantine.rules import Chains, Limits, Rating, max_jump_wh
from protocols.contract import Quality, Quantity, ReadingBatch, Value

T0 = 1_763_800_000_000
HOUR = 3_600_000
E = Quantity.ENERGY_IMPORT
LIMITS = Limits(skew_ms=15 * 60_000, margin=1.5)


def _item(values: list[Value]) -> Item:
    payload = msgspec.json.encode(ReadingBatch(agent="a1", seq=1, values=values))
    return classify(Item("meterline/v1/agents/a1/readings", payload))


def test_a_rise_up_to_the_rating_passes_and_one_watt_hour_more_is_held() -> None:
    allowed = max_jump_wh(Rating(), HOUR, LIMITS.margin)
    for rise, quality in ((allowed, Quality.GOOD.value), (allowed + 1, "held")):
        chains = Chains()
        chains.accept(1, E, Point(T0, 1_000_000))
        item = _item([Value(meter="m1", ts=T0 + HOUR, quantity=E, value=1_000_000 + rise)])
        item.received_ms = T0 + HOUR
        plan = build_plan(
            [item], {"m1": MeterRef(1, "a1")}, {}, 0.0, Screen(LIMITS, chains, {1: Rating()})
        )
        assert [r[4] for r in plan.rows] == [quality]
        assert len(plan.holds) == (quality == "held")


def test_within_a_batch_a_held_reading_is_no_baseline_and_estimates_are_not_judged() -> None:
    values = [
        Value(meter="m1", ts=T0, quantity=E, value=1_000_000),
        Value(meter="m1", ts=T0 + HOUR, quantity=E, value=9_000_000),  # 8 MWh in an hour
        Value(meter="m1", ts=T0 + 2 * HOUR, quantity=E, value=1_010_000),
        Value(meter="m1", ts=T0 + 3 * HOUR, quantity=E, value=-5, quality=Quality.ESTIMATED),
    ]
    item = _item(values)
    item.received_ms = T0 + 3 * HOUR
    chains = Chains()
    plan = build_plan([item], {"m1": MeterRef(1, "a1")}, {}, 0.0, Screen(LIMITS, chains, {}))
    assert [r[4] for r in plan.rows] == ["good", "held", "good", "estimated"]
    assert [h.reason for h in plan.holds] == ["quarantine.jump"]
    assert plan.accepted == {(1, E.value): Point(T0 + 2 * HOUR, 1_010_000)}
    assert chains.get(1, E) is None  # remembered only once the batch has committed
