"""The latest and first values the book and the checks read, against a reference computed in
Python from every stored reading, on SQLite and PostgreSQL (where readings are partitioned by
time and both values come from one LATERAL statement for any number of meters)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from backend.field.readings import history
from backend.field.readings.plausibility import DAY_MS, Sample
from backend.field.readings.schemas import READABLE, TOTAL
from backend.metering.models import Reading
from tests.integration.field.district import NOW_MS, District

YEAR_MS = 365 * DAY_MS


async def _add_history(session: AsyncSession, district: District) -> list[int]:
    """Readings that make "latest" and "first" interesting: several months (several partitions
    on PostgreSQL), a tariff register last read a year ago, a non-energy quantity newer than
    every energy one, a meter with nothing but voltage."""
    meters = district.meters[:6]
    rows: list[dict[str, object]] = []
    for n, m in enumerate(meters):
        for month in range(1, 14):
            ts = m.last_ts - month * 30 * DAY_MS - n * 3_600_000
            rows.append(_row(m.pk, TOTAL.value, ts, m.last_value - month * 30 * m.usual_wh))
        rows.append(_row(m.pk, "energy_import_t1", m.last_ts - YEAR_MS, 1_000 + n))
        rows.append(_row(m.pk, "energy_import_t2", m.last_ts - 2 * DAY_MS, 2_000 + n))
        rows.append(_row(m.pk, "voltage_a", m.last_ts + 60_000, 230_000))
    await session.execute(sa.insert(Reading), rows)
    await session.commit()
    return [m.pk for m in meters]


def _row(pk: int, q: str, ts: int, value: int) -> dict[str, object]:
    return {
        "meter_pk": pk, "quantity": q, "ts": ts, "value": value, "quality": "good",
        "source": "ami", "received_at": NOW_MS,
    }  # fmt: skip


async def _all(session: AsyncSession, pks: list[int]) -> list[tuple[int, str, int, int, str]]:
    rows = await session.execute(
        sa.select(Reading.meter_pk, Reading.quantity, Reading.ts, Reading.value, Reading.source)
        .where(Reading.meter_pk.in_(pks))
    )  # fmt: skip
    return [tuple(r) for r in rows]  # type: ignore[misc]


@pytest.fixture
def statements(engine: AsyncEngine) -> list[str]:
    seen: list[str] = []

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _count(conn: object, cursor: object, stmt: str, *args: object) -> None:
        if "readings" in stmt:
            seen.append(stmt)

    return seen


async def test_latest_values_are_the_newest_reading_of_each_readable_register(
    session: AsyncSession, district: District, statements: list[str]
) -> None:
    pks = await _add_history(session, district)
    missing = max(m.pk for m in district.meters) + 1000  # a meter the table never heard of
    reference: dict[int, dict[str, tuple[int, int, str]]] = {pk: {} for pk in [*pks, missing]}
    for pk, q, ts, value, source in await _all(session, pks):
        if q in READABLE and ts >= reference[pk].get(q, (-1, 0, ""))[0]:
            reference[pk][q] = (ts, value, source)
    assert all("energy_import_t1" in reference[pk] for pk in pks)  # the year-old register
    statements.clear()

    got = await history.latest_values(session, [*pks, missing], READABLE)

    assert got == reference
    assert len(statements) == 1


async def test_first_values_since_are_the_earliest_reading_at_or_after_each_meters_time(
    session: AsyncSession, district: District, statements: list[str]
) -> None:
    pks = await _add_history(session, district)
    since = {pk: NOW_MS - (40 + 30 * i) * DAY_MS for i, pk in enumerate(pks)}
    since[pks[0]] = NOW_MS + YEAR_MS  # nothing that late: absent from the answer
    reference: dict[int, Sample] = {}
    for pk, q, ts, value, _ in sorted(await _all(session, pks), key=lambda r: r[2]):
        if q == TOTAL and ts >= since[pk] and pk not in reference:
            reference[pk] = Sample(ts, value)
    statements.clear()

    got = await history.first_values_since(session, since)

    assert got == reference
    assert pks[0] not in got
    assert len(got) == len(pks) - 1
    assert len(statements) == 1


async def test_a_book_of_many_meters_reads_its_latest_values_in_one_statement_on_postgresql(
    session: AsyncSession, district: District, statements: list[str], database_url: str
) -> None:
    """SQLite takes 500 meters a statement for the latest values; PostgreSQL takes the whole
    list as one array, one LATERAL seek per meter into each partition's primary key. The first
    values since a time are one statement on both (the keys as one JSON parameter on SQLite:
    it was one statement per 200 meters)."""
    pks = [m.pk for m in district.meters]
    many = pks + list(range(10**6, 10**6 + 1200 - len(pks)))  # 1,200 meters, most unknown
    reference: dict[int, dict[str, tuple[int, int, str]]] = {pk: {} for pk in many}
    for pk, q, ts, value, source in sorted(await _all(session, pks), key=lambda r: r[2]):
        if q in READABLE:
            reference[pk] = {**reference[pk], q: (ts, value, source)}
    statements.clear()

    latest = await history.latest_values(session, many, READABLE)
    firsts = await history.first_values_since(session, dict.fromkeys(many, 0))

    assert latest == reference
    assert set(firsts) == {pk for pk in pks if TOTAL in reference[pk]}
    postgres = database_url.startswith("postgresql")
    assert len(statements) == (2 if postgres else 3 + 1)
