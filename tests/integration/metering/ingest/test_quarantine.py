"""Plausibility before money, at ingestion: a value outside the contract's bounds is a dead
letter naming the field; a negative energy register, a timestamp far ahead of the server and
a jump the meter's rated current could not pass are stored held (quality ``held``, a hold row
with its reason), never ``good``."""

from __future__ import annotations

import json
import time

import pytest

from protocols.contract import Quality, Quantity, Value
from tests.integration.metering.ingest.conftest import StartIngestor
from tests.support.ingest_agent import T0, Agent, query, scalar, settled
from tests.support.services import Mosquitto

pytestmark = pytest.mark.mosquitto
E = Quantity.ENERGY_IMPORT
MIN15 = 900_000
YEAR_MS = 365 * 86_400_000


async def test_an_agents_value_of_two_to_the_sixty_third_minus_one_is_dead_lettered(
    database_url: str, mosquitto: Mosquitto, ingestor: StartIngestor
) -> None:
    ing = await ingestor(database_url)
    agent = Agent(mosquitto)
    try:
        await agent.readings(
            (1, [Value(meter="m1", ts=T0, quantity=E, value=2**63 - 1)]),
            (2, [Value(meter="m1", ts=T0, quantity=E, value=1_000_000)]),
        )
        await settled(ing, 2)
    finally:
        agent.close()
    [(reason,)] = await query(database_url, "SELECT reason FROM dead_letters")
    assert reason == (
        "json payload invalid: Expected `int` <= 999999999999999 - at `$.values[0].value`"
    )
    assert await query(database_url, "SELECT value, quality FROM readings") == [(1_000_000, "good")]


async def test_a_negative_register_and_a_timestamp_a_year_ahead_are_held_not_good(
    database_url: str, mosquitto: Mosquitto, ingestor: StartIngestor
) -> None:
    ing = await ingestor(database_url)
    agent = Agent(mosquitto)
    ahead = int(time.time() * 1000) + YEAR_MS
    batch = [
        Value(meter="m1", ts=T0, quantity=E, value=-7_000),
        Value(meter="m2", ts=ahead, quantity=E, value=5_000_000),
        Value(meter="m3", ts=T0, quantity=E, value=5_000_000),
        Value(meter="m3", ts=ahead, quantity=Quantity.VOLTAGE_A, value=230_000),
    ]
    try:
        await agent.readings((1, batch))
        await agent.readings((1, batch))  # a resend: nothing is held twice
        await settled(ing, 2)
    finally:
        agent.close()
    stored = await query(
        database_url,
        "SELECT m.meter_id, r.quantity, r.quality FROM readings r"
        " JOIN meters m ON m.id = r.meter_pk ORDER BY m.meter_id, r.quantity",
    )
    assert stored == [
        ("m1", "energy_import", "held"),
        ("m2", "energy_import", "held"),
        ("m3", "energy_import", "good"),
        ("m3", "voltage_a", "held"),
    ]
    holds = await query(
        database_url,
        "SELECT m.meter_id, h.quantity, h.reason, h.status, h.quality, h.source"
        " FROM reading_holds h JOIN meters m ON m.id = h.meter_pk ORDER BY m.meter_id, h.quantity",
    )
    assert holds == [
        ("m1", "energy_import", "quarantine.negative", "held", "good", "ami"),
        ("m2", "energy_import", "quarantine.future", "held", "good", "ami"),
        ("m3", "voltage_a", "quarantine.future", "held", "good", "ami"),
    ]


async def test_a_jump_beyond_the_meters_rated_current_is_held_and_the_chain_goes_on(
    database_url: str, mosquitto: Mosquitto, ingestor: StartIngestor
) -> None:
    ing = await ingestor(database_url)
    agent = Agent(mosquitto)
    # the default rating: 60 A × 220 V × 1 phase × 1.5 = 19.8 kW, so 4,950 Wh in 15 minutes
    start = 1_000_000
    try:
        await agent.readings((1, [Value(meter="m1", ts=T0, quantity=E, value=start)]))
        await settled(ing, 1)
        await agent.readings(
            (2, [Value(meter="m1", ts=T0 + MIN15, quantity=E, value=start + 10_000)]),
            (3, [Value(meter="m1", ts=T0 + 2 * MIN15, quantity=E, value=start + 4_000)]),
            (4, [Value(meter="m1", ts=T0 + 3 * MIN15, quantity=E, value=start + 8_900,
                       quality=Quality.BACKFILLED)]),
        )  # fmt: skip
        await settled(ing, 4)
    finally:
        agent.close()
    assert await query(database_url, "SELECT value, quality FROM readings ORDER BY ts") == [
        (start, "good"),
        (start + 10_000, "held"),  # 40 kW for a quarter of an hour: not this meter
        (start + 4_000, "good"),  # measured from the last accepted reading, not the held one
        (start + 8_900, "backfilled"),
    ]
    [(reason, params)] = await query(database_url, "SELECT reason, params FROM reading_holds")
    assert reason == "quarantine.jump"
    found = json.loads(params) if isinstance(params, str) else params  # SQLite: JSON text
    assert (found["allowed_wh"], found["jump_wh"], found["previous_wh"]) == (4950, 10_000, start)
    assert await scalar(database_url, "SELECT count(*) FROM dead_letters") == 0
