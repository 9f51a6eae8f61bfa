"""Consumption materialised from readings: late, rolled-over, replaced, duplicated, anomalous."""

from __future__ import annotations

import contextvars
import random
from datetime import date

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from backend.accounts.service import meters_of_customer
from backend.db import session_factory
from backend.metering import service
from backend.metering.consumption import (
    on_readings_committed,
    read_points,
    rebuild,
    recalled,
    round_points,
)
from backend.metering.models import ConsumptionAnomaly, ConsumptionDaily, Meter, MeterStatus
from tests.support.prepaid_data import make_account
from tests.support.readings import commit_readings, ms
from tests.support.statements import counted
from tests.support.world import build_world

D1, D2, D3 = date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3)


async def days(engine: AsyncEngine, meter_pk: int) -> dict[date, int]:
    async with session_factory(engine)() as s:
        rows = await s.execute(
            select(ConsumptionDaily.day, ConsumptionDaily.wh)
            .where(ConsumptionDaily.meter_pk == meter_pk)
            .order_by(ConsumptionDaily.day)
        )
        return dict(rows.all())  # type: ignore[arg-type]


async def anomalies(engine: AsyncEngine, meter_pk: int) -> list[tuple[int, int]]:
    async with session_factory(engine)() as s:
        rows = await s.execute(
            select(ConsumptionAnomaly.ts, ConsumptionAnomaly.value)
            .where(ConsumptionAnomaly.meter_pk == meter_pk)
            .order_by(ConsumptionAnomaly.ts)
        )
        return [tuple(r) for r in rows.all()]  # type: ignore[misc]


async def through(engine: AsyncEngine, meter_pk: int) -> int | None:
    """How far the meter's chain is materialised (its newest day's end)."""
    async with session_factory(engine)() as s:
        return await s.scalar(
            select(func.max(ConsumptionDaily.through_ts)).where(
                ConsumptionDaily.meter_pk == meter_pk
            )
        )


async def deletes_of(engine: AsyncEngine, meter_pk: int, lo: int, hi: int) -> list[str]:
    """The DELETE statements of announcing the meter's readings from ``lo`` to ``hi`` (an
    append deletes nothing; a recompute drops the days it rewrites)."""
    with counted(engine) as statements:
        await on_readings_committed(engine, [(meter_pk, "energy_import", lo, hi)])
    return [s for s in statements if s.lstrip().upper().startswith("DELETE")]


async def test_daily_consumption_follows_shanghai_days(engine: AsyncEngine) -> None:
    w = await build_world(engine)
    # 2026-03-01 16:00 UTC is midnight in Shanghai: it closes 1 March
    await commit_readings(engine, w.alice_meter, [
        (ms(2026, 2, 28, 16, 0), 10_000),  # 1 March 00:00 local: closes 28 February
        (ms(2026, 3, 1, 4, 0), 12_000),  # 1 March 12:00
        (ms(2026, 3, 1, 16, 0), 15_000),  # 2 March 00:00: still 1 March's energy
        (ms(2026, 3, 1, 16, 0, 1), 15_010),  # one second later: 2 March
    ])  # fmt: skip
    assert await days(engine, w.alice_meter) == {date(2026, 2, 28): 0, D1: 5_000, D2: 10}


async def test_a_late_reading_recomputes_the_days_it_touches(engine: AsyncEngine) -> None:
    w = await build_world(engine)
    await commit_readings(engine, w.alice_meter, [(ms(2026, 3, 1, 4), 1_000)])
    await commit_readings(engine, w.alice_meter, [(ms(2026, 3, 3, 4), 3_000)])
    # the gap's energy lands on the day the gap closes...
    assert await days(engine, w.alice_meter) == {D1: 0, D3: 2_000}
    # ...until the reading of 2 March arrives late and splits it
    await commit_readings(engine, w.alice_meter, [(ms(2026, 3, 2, 4), 1_600)])
    assert await days(engine, w.alice_meter) == {D1: 0, D2: 600, D3: 1_400}


async def test_a_late_reading_that_changes_the_baseline_carries_into_later_days(
    engine: AsyncEngine,
) -> None:
    w = await build_world(engine)
    await commit_readings(engine, w.alice_meter, [
        (ms(2026, 3, 1, 4), 1_000), (ms(2026, 3, 2, 4), 2_000), (ms(2026, 3, 3, 4), 3_000),
    ])  # fmt: skip
    assert await days(engine, w.alice_meter) == {D1: 0, D2: 1_000, D3: 1_000}
    # a late, impossible reading on 1 March: the later ones now fall below it
    await commit_readings(engine, w.alice_meter, [(ms(2026, 3, 1, 5), 9_000)])
    assert await days(engine, w.alice_meter) == {D1: 8_000, D2: 0, D3: 0}
    assert await anomalies(engine, w.alice_meter) == [
        (ms(2026, 3, 2, 4), 2_000),
        (ms(2026, 3, 3, 4), 3_000),
    ]


async def test_register_rollover_is_counted_across_the_wrap(engine: AsyncEngine) -> None:
    w = await build_world(engine)
    await commit_readings(engine, w.alice_meter, [
        (ms(2026, 3, 1, 1), 999_999_000),  # 999999.00 kWh
        (ms(2026, 3, 1, 2), 999_999_990),  # 999999.99 kWh, the top of a DL/T 645 register
        (ms(2026, 3, 1, 3), 490),  # wrapped: 0.49 kWh
    ])  # fmt: skip
    assert await days(engine, w.alice_meter) == {D1: 990 + 500}
    assert await anomalies(engine, w.alice_meter) == []


async def test_a_negative_delta_is_an_anomaly_and_never_charged(engine: AsyncEngine) -> None:
    w = await build_world(engine)
    await commit_readings(engine, w.alice_meter, [
        (ms(2026, 3, 1, 1), 50_000), (ms(2026, 3, 1, 2), 20_000), (ms(2026, 3, 1, 3), 50_700),
    ])  # fmt: skip
    assert await days(engine, w.alice_meter) == {D1: 700}
    assert await anomalies(engine, w.alice_meter) == [(ms(2026, 3, 1, 2), 20_000)]


async def test_replaying_a_batch_changes_nothing(engine: AsyncEngine) -> None:
    w = await build_world(engine)
    points = [(ms(2026, 3, 1, h), 1_000 + 100 * h) for h in range(0, 24, 3)]
    await commit_readings(engine, w.alice_meter, points)
    first = await days(engine, w.alice_meter)
    affected = [(w.alice_meter, "energy_import", points[0][0], points[-1][0])]
    await on_readings_committed(engine, affected)
    await on_readings_committed(engine, affected)
    assert await days(engine, w.alice_meter) == first == {D1: 1_500, D2: 600}


async def test_tariff_registers_have_their_own_chains(engine: AsyncEngine) -> None:
    w = await build_world(engine)
    await commit_readings(engine, w.alice_meter, [(ms(2026, 3, 1, 1), 10), (ms(2026, 3, 1, 5), 70)],
                          quantity="energy_import_t4")  # fmt: skip
    await commit_readings(engine, w.alice_meter, [(ms(2026, 3, 1, 1), 1), (ms(2026, 3, 1, 5), 9)],
                          quantity="voltage_a")  # fmt: skip
    async with session_factory(engine)() as s:
        rows = (await s.execute(select(ConsumptionDaily.quantity, ConsumptionDaily.wh))).all()
    assert [tuple(r) for r in rows] == [("energy_import_t4", 60)]


async def test_a_replacement_meter_starts_a_new_chain_and_the_customer_sums_both(
    engine: AsyncEngine,
) -> None:
    w = await build_world(engine)
    async with session_factory(engine)() as s:
        old = await s.get(Meter, w.alice_meter)
        assert old is not None
        old.status = MeterStatus.REMOVED
        new = Meter(meter_id="M-ALICE-2", customer_id=w.alice, account_id=w.alice_account,
                    replaces_meter_id=old.id, status=MeterStatus.ACTIVE)  # fmt: skip
        s.add(new)
        await s.commit()
        new_pk = new.id
    await commit_readings(
        engine, w.alice_meter, [(ms(2026, 3, 1, 1), 80_000), (ms(2026, 3, 1, 5), 80_400)]
    )
    # the new meter starts near zero: no delta is ever taken across the two meters
    await commit_readings(engine, new_pk, [(ms(2026, 3, 1, 6), 5), (ms(2026, 3, 1, 9), 305)])
    assert await days(engine, w.alice_meter) == {D1: 400}
    assert await days(engine, new_pk) == {D1: 300}
    assert await anomalies(engine, new_pk) == []
    async with session_factory(engine)() as s:
        total = await service.daily(s, meters_of_customer(w.alice), "energy_import", D1, D1)
    assert [(d.day, d.wh, d.meters) for d in total] == [(D1, 700, 2)]


async def test_readings_of_bad_quality_do_not_count(engine: AsyncEngine) -> None:
    w = await build_world(engine)
    await commit_readings(
        engine, w.alice_meter, [(ms(2026, 3, 1, 1), 100), (ms(2026, 3, 1, 9), 900)]
    )
    await commit_readings(engine, w.alice_meter, [(ms(2026, 3, 1, 5), 99_999)], quality="invalid")
    assert await days(engine, w.alice_meter) == {D1: 800}


async def test_in_order_appends_and_any_delivery_order_give_the_same_days_as_all_at_once(
    engine: AsyncEngine,
) -> None:
    w = await build_world(engine)
    rng = random.Random(645)
    points, value = [], 999_990_000  # close to the DL/T 645 wrap: it will roll over
    for i in range(50):
        value = (value + rng.randrange(0, 900)) % 10**9
        points.append((ms(2026, 3, 1) + i * 97 * 60_000, value))
    points[30] = (points[30][0], 5)  # a glitch
    points[40] = (points[40][0], points[40][1] + 7_000_000)  # a spike: the next ones fall back
    await commit_readings(engine, w.bob_meter, points)  # all at once
    for i in range(0, len(points), 3):  # in order, a few at a time: appends
        await commit_readings(engine, w.alice_meter, points[i : i + 3])
    shuffled = points[:]
    rng.shuffle(shuffled)
    while shuffled:  # out of order, in batches of 1 to 8: recomputations
        batch = shuffled[: rng.randint(1, 8)]
        shuffled = shuffled[len(batch) :]
        await commit_readings(engine, w.pending_meter, batch)
    expected_days, expected_anomalies = (
        await days(engine, w.bob_meter),
        await anomalies(engine, w.bob_meter),
    )
    assert len(expected_anomalies) >= 2
    for meter in (w.alice_meter, w.pending_meter):
        assert await days(engine, meter) == expected_days
        assert await anomalies(engine, meter) == expected_anomalies


async def test_many_meters_first_readings_are_materialised_in_a_bounded_number_of_statements(
    engine: AsyncEngine,
) -> None:
    async with session_factory(engine)() as s:
        made = [(await make_account(s))[2].id for _ in range(33)]
        await s.commit()
    counts = []
    for meters in (made[:3], made[3:]):
        affected = []
        for i, pk in enumerate(meters):
            points = [(ms(2026, 3, 1) + h * 3_600_000, h * (500 + i)) for h in range(30)]
            await commit_readings(engine, pk, points, hook=False)
            affected.append((pk, "energy_import", points[0][0], points[-1][0]))
        with counted(engine) as statements:
            await on_readings_committed(engine, affected)
        counts.append(len(statements))
    assert counts[0] == counts[1] <= 12, counts
    for i, pk in enumerate(made[3:]):  # 30 hours from 1 March 00:00 UTC
        assert sum((await days(engine, pk)).values()) == 29 * (500 + i)


@pytest.mark.parametrize("days_before", [0, 2])  # a baseline before the late readings or not
async def test_late_readings_of_many_meters_are_recomputed_in_a_bounded_number_of_statements(
    engine: AsyncEngine, days_before: int
) -> None:
    async with session_factory(engine)() as s:
        made = [(await make_account(s))[2].id for _ in range(33)]
        await s.commit()
    counts = []
    for meters in (made[:3], made[3:]):
        for i, pk in enumerate(meters):
            points = [
                (ms(2026, 3, 1) + h * 3_600_000, (h + 48) * (500 + i))
                for h in range(-24 * days_before, 30)
            ]
            await commit_readings(engine, pk, points)
        late = []
        for i, pk in enumerate(meters):  # one in between, one a refused drop (the next day)
            points = [
                (ms(2026, 3, 1, 10, 30), 58 * (500 + i) + 100),
                (ms(2026, 3, 2, 2, 30), 100),
            ]
            await commit_readings(engine, pk, points, hook=False)
            late.append((pk, "energy_import", points[0][0], points[1][0]))
        with counted(engine) as statements:
            await on_readings_committed(engine, late)
        counts.append(len(statements))
    assert counts[0] == counts[1] <= 12, counts
    got = {pk: (await days(engine, pk), await anomalies(engine, pk)) for pk in made}
    await rebuild(engine, made)  # each chain from its first reading, one by one
    assert got == {pk: (await days(engine, pk), await anomalies(engine, pk)) for pk in made}
    assert all(len(a) == 1 for _, a in got.values())


async def test_a_round_recalls_the_chains_it_read_from_their_instant_or_later(
    engine: AsyncEngine,
) -> None:
    """Inside ``round_points`` a chain read after an instant is recalled for that instant or
    any later one — exactly what reading it again gives — and never for an earlier one, nor
    a chain not read, nor outside the round."""
    sessions = session_factory(engine)
    async with sessions() as s:
        _, _, a = await make_account(s)
        _, _, b = await make_account(s)
        await s.commit()
    base = ms(2026, 5, 6)
    await commit_readings(engine, a.id, [(base + i * 900_000, 1_000 + 40 * i) for i in range(9)])
    await commit_readings(engine, b.id, [(base + i * 900_000, 9_000 + 30 * i) for i in range(9)])
    ka, kb = (a.id, "energy_import"), (b.id, "energy_import")
    instants = [base + 2 * 900_000 + d for d in (0, 1, 3 * 900_000, 6 * 900_000)]
    async with sessions() as s:
        again = {since: (await read_points(s, {ka: since}))[ka] for since in instants}
        assert [len(p) for p in again.values()] == [6, 6, 3, 0]
        with round_points():
            await read_points(s, {ka: instants[0]})
            for since in instants:
                assert recalled({ka: since}) == {ka: again[since]}
            assert recalled({ka: base + 900_000, kb: base + 5 * 900_000}) == {}
        assert recalled({ka: instants[0]}) == {}


async def test_a_rounds_points_are_let_go_when_it_ends_even_by_a_context_it_left_behind(
    engine: AsyncEngine,
) -> None:
    """A timer scheduled during a round keeps the round's context (asyncpg's statement cache
    schedules one for five minutes with every statement it prepares): once the round has
    ended, nothing is recalled through it — the round's points are not held by it."""
    sessions = session_factory(engine)
    async with sessions() as s:
        _, _, a = await make_account(s)
        await s.commit()
    base = ms(2026, 5, 6)
    await commit_readings(engine, a.id, [(base + i * 900_000, 1_000 + 40 * i) for i in range(9)])
    key = (a.id, "energy_import")
    async with sessions() as s:
        with round_points():
            points = await read_points(s, {key: base})
            left = contextvars.copy_context()  # what ``loop.call_later`` keeps
            assert len(points[key]) == 8
            assert left.run(recalled, {key: base}) == points
        assert left.run(recalled, {key: base}) == {}


async def test_an_append_reads_up_to_the_last_reading_announced_so_the_next_batch_appends(
    engine: AsyncEngine,
) -> None:
    """A steady stream: a batch committed after the one announced to a round is not read by
    that round; its own announcement then comes after everything the chain has seen and is
    appended, instead of recomputing the day from its baseline (read ahead, every round of a
    steady stream did). The days are those of every reading at once."""
    w = await build_world(engine)
    quarter = [(ms(2026, 3, 1) + i * 900_000, 1_000 + 40 * i + i * i) for i in range(12)]
    first, second, third = quarter[:4], quarter[4:8], quarter[8:]
    await commit_readings(engine, w.alice_meter, first)
    await commit_readings(engine, w.alice_meter, second, hook=False)
    await commit_readings(engine, w.alice_meter, third, hook=False)
    pk, energy = w.alice_meter, "energy_import"
    await on_readings_committed(engine, [(pk, energy, second[0][0], second[-1][0])])
    assert await through(engine, pk) == second[-1][0]
    assert await deletes_of(engine, pk, third[0][0], third[-1][0]) == []
    await commit_readings(engine, w.bob_meter, quarter)
    assert await days(engine, pk) == await days(engine, w.bob_meter) == {D1: 11 * 40 + 121}


async def test_a_chains_first_round_reads_up_to_the_last_reading_announced_so_the_next_appends(
    engine: AsyncEngine,
) -> None:
    """A backlog: a meter's first readings are announced while more of its batches are
    committed already. Its first round materialises the chain up to the last reading
    announced, not to the end of what is committed; the next announcement is appended. Read to
    the end, every later round of the backlog found its readings behind what was materialised
    and recomputed the chain's days (half of consumption's time in ``bench/meter_to_ledger.py``
    on PostgreSQL, in the runs where the first round read ahead)."""
    w = await build_world(engine)
    quarter = [(ms(2026, 3, 1) + i * 900_000, 1_000 + 40 * i + i * i) for i in range(12)]
    first, second = quarter[:6], quarter[6:]
    await commit_readings(engine, w.alice_meter, first, hook=False)
    await commit_readings(engine, w.alice_meter, second, hook=False)
    pk, energy = w.alice_meter, "energy_import"
    await on_readings_committed(engine, [(pk, energy, first[0][0], first[-1][0])])
    assert await through(engine, pk) == first[-1][0]
    assert await deletes_of(engine, pk, second[0][0], second[-1][0]) == []
    await commit_readings(engine, w.bob_meter, quarter)
    assert await days(engine, pk) == await days(engine, w.bob_meter)


@pytest.mark.parametrize("late_at", [1, 12], ids=["first-day", "with-a-day-before"])
async def test_a_late_readings_recompute_reads_up_to_what_the_chain_had_seen_so_the_next_appends(
    engine: AsyncEngine, late_at: int
) -> None:
    """A late reading recomputes its chain from its day (a chain of few days from its first
    reading, or from the baseline of the day before) up to the chain's newest reading seen or
    announced, not to the end of what is committed: a batch committed since is appended by
    the round it is announced to."""
    w = await build_world(engine)
    # every half hour from 20:00 in Shanghai for 12 hours: two local days
    half = [(ms(2026, 3, 1, 12) + i * 1_800_000, 5_000 + 90 * i + i * i) for i in range(24)]
    seen, later = half[:18], half[18:]
    (t0, v0), (_, v1) = half[late_at], half[late_at + 1]
    late = [(t0 + 900_000, (v0 + v1) // 2)]
    pk, energy = w.alice_meter, "energy_import"
    await commit_readings(engine, pk, seen)
    await commit_readings(engine, pk, later, hook=False)
    await commit_readings(engine, pk, late, hook=False)
    await on_readings_committed(engine, [(pk, energy, late[0][0], late[0][0])])
    assert await through(engine, pk) == seen[-1][0]
    assert await deletes_of(engine, pk, later[0][0], later[-1][0]) == []
    await commit_readings(engine, w.bob_meter, sorted(half + late))
    assert await days(engine, pk) == await days(engine, w.bob_meter)
    assert len(await days(engine, pk)) == 2


async def test_a_late_reading_is_read_through_to_the_reading_after_it_already_followed(
    engine: AsyncEngine,
) -> None:
    """Readings arriving out of order (a meter's newest first, then its backfill): each late
    reading closes the interval to the reading after it, committed and followed before and
    never announced again. The chain has seen that reading (its newest day ends there), so a
    round reads through to it (billing, which has no such mark, reads to the end unless a
    later round follows the chain: test_billing_rounds)."""
    w = await build_world(engine)
    quarter = [(ms(2026, 3, 1) + i * 900_000, 1_000 + 40 * i + i * i) for i in range(8)]
    await commit_readings(engine, w.alice_meter, quarter[-1:])
    for reading in quarter[:-1]:
        await commit_readings(engine, w.alice_meter, [reading])
    await commit_readings(engine, w.bob_meter, quarter)
    assert await days(engine, w.alice_meter) == await days(engine, w.bob_meter) == {D1: 7 * 40 + 49}
