"""Bill revisions wired to re-rating: late readings that change an issued month's charges issue
one revision (the issued bill untouched), the same re-rating again or two at once issue no
second one, a month without an issued bill gets none, and the customer sees what changed."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.db import session_factory
from backend.metering.consumption import on_readings_committed
from backend.prepaid import billing
from backend.prepaid.models import EntryKind, LedgerEntry
from backend.tariffs.bills import service as bills
from backend.tariffs.bills.models import IssuedBill
from tests.integration.api.conftest import Api
from tests.integration.tariffs.test_issued_bills import _bob_uses_100_kwh_in_november, _issue
from tests.integration.tariffs.test_issued_bills import api as api  # the fixture
from tests.support.prepaid_data import TZ, add_readings, local_ms

KWH = 1000


async def _late_reading(
    api: Api, sessions: async_sessionmaker[AsyncSession], at: int, kwh: int
) -> None:
    """A reading of Bob's meter arrives late (after the bill): billed as readings are."""
    meter = api.world.bob_meter
    async with sessions() as s:
        await add_readings(s, meter, [(at, kwh * KWH)])
        await s.commit()
    span = [(meter, "energy_import", at, at)]
    await on_readings_committed(sessions, span)
    await billing.on_readings_committed(sessions, span, TZ)


async def _revisions(sessions: async_sessionmaker[AsyncSession]) -> list[tuple[str, int, int]]:
    async with sessions() as s:
        rows = (await s.scalars(select(IssuedBill).order_by(IssuedBill.revision))).all()
    return [(b.number, b.revision, b.total_fen) for b in rows]


async def test_a_late_reading_in_an_issued_month_issues_one_revision_and_keeps_the_bill(
    api: Api,
) -> None:
    """100 kWh billed and issued (¥64.73); a reading of 3 November says 50 kWh more:
    150 kWh × 0.6473 = 97.095 → ¥97.10 in revision 1; revision 0 stays as issued."""
    sessions = await _bob_uses_100_kwh_in_november(api)
    await _issue(sessions)
    await _late_reading(api, sessions, local_ms(2026, 11, 3, 10), 1150)
    assert await _revisions(sessions) == [("A002-202611-0", 0, 6473), ("A002-202611-1", 1, 9710)]
    async with sessions() as s:
        entries = await s.scalar(
            select(func.count()).where(LedgerEntry.kind == EntryKind.BILL_ISSUED)
        )
    assert entries == 2  # the revision has its own entry
    # the reading's batch delivered again, and billing run again: nothing changed, no revision
    meter, at = api.world.bob_meter, local_ms(2026, 11, 3, 10)
    await billing.on_readings_committed(sessions, [(meter, "energy_import", at, at)], TZ)
    await billing.bill_meters(sessions, {meter: local_ms(2026, 11, 1, 0)}, TZ)
    assert len(await _revisions(sessions)) == 2


async def test_two_re_ratings_at_once_issue_one_revision(api: Api) -> None:
    sessions = await _bob_uses_100_kwh_in_november(api)
    await _issue(sessions)
    meter = api.world.bob_meter
    async with sessions() as s:
        await add_readings(s, meter, [(local_ms(2026, 11, 3, 10), 1150 * KWH)])
        await s.commit()
    await on_readings_committed(sessions, [(meter, "energy_import", 0, 0)])
    now = datetime(2026, 12, 2, tzinfo=UTC)
    changed = {api.world.bob_account: local_ms(2026, 11, 2, 10)}
    await asyncio.gather(
        billing.bill_meters(sessions, {meter: local_ms(2026, 11, 1, 0)}, TZ),
        billing.bill_meters(sessions, {meter: local_ms(2026, 11, 1, 0)}, TZ),
        bills.revise_after_rerating(sessions, changed, TZ, now=now),
        bills.revise_after_rerating(sessions, changed, TZ, now=now),
    )
    assert [r[1:] for r in await _revisions(sessions)] == [(0, 6473), (1, 9710)]


async def test_new_charges_in_a_month_without_an_issued_bill_issue_no_revision(api: Api) -> None:
    sessions = await _bob_uses_100_kwh_in_november(api)
    await _late_reading(api, sessions, local_ms(2026, 12, 1, 0), 1100)  # November ends: 0 kWh
    await _issue(sessions)
    # 50 kWh in December: the November bill is not touched (its charges did not change)
    await _late_reading(api, sessions, local_ms(2026, 12, 2, 11), 1150)
    assert await _revisions(sessions) == [("A002-202611-0", 0, 6473)]


async def test_the_customer_sees_the_revision_with_what_it_replaced(api: Api) -> None:
    sessions = await _bob_uses_100_kwh_in_november(api)
    await _issue(sessions)
    await _late_reading(api, sessions, local_ms(2026, 11, 3, 10), 1150)
    bob = await api.login("bob")
    r = await api.client.get(f"/api/accounts/{api.world.bob_account}/issued-bills", headers=bob)
    assert r.status_code == 200, r.text
    [item] = r.json()["items"]  # the month once: its latest revision
    assert (item["number"], item["revision"], item["total_fen"], item["previous_fen"]) == (
        "A002-202611-1", 1, 9710, 6473,
    )  # fmt: skip
    assert item["owed_fen"] == 9710
    async with session_factory(api.engine)() as s:
        first = await s.scalar(select(IssuedBill.id).where(IssuedBill.revision == 0))
    old = await api.client.get(f"/api/issued-bills/{first}", headers=bob)
    assert (old.json()["total_fen"], old.json()["superseded"]) == (6473, True)


async def test_staff_see_every_revision_of_an_accounts_bills_and_customers_may_not(
    api: Api,
) -> None:
    sessions = await _bob_uses_100_kwh_in_november(api)
    await _issue(sessions)
    await _late_reading(api, sessions, local_ms(2026, 11, 3, 10), 1150)
    url = f"/api/accounts/{api.world.bob_account}/bill-revisions"
    r = await api.client.get(url, headers=await api.login("op"))
    assert r.status_code == 200, r.text
    got = [
        (b["number"], b["total_fen"], b["owed_fen"], b["superseded"], b["previous_fen"])
        for b in r.json()["items"]
    ]
    assert got == [
        ("A002-202611-1", 9710, 9710, False, 6473),
        ("A002-202611-0", 6473, 0, True, None),
    ]
    assert r.json()["owed_fen"] == 9710
    r = await api.client.get(url, headers=await api.login("bob"))
    assert r.status_code == 403
