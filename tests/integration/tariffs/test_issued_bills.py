"""Issued postpaid bills: issued once (twice or in parallel: one bill, one ledger entry), the
customer's list and a bill, another customer's bill 404, late fees by the published daily rate
(hand-computed), payments to the oldest bill, reminders once each, the arrears list aged."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from backend.accounts.models import Account, CustomerCategory
from backend.app import create_app
from backend.db import session_factory
from backend.metering.consumption import on_readings_committed
from backend.prepaid import billing, ledger
from backend.prepaid.models import EntryKind, LedgerEntry, Notice, NoticeChannel, NoticeKind
from backend.settings import load_settings
from backend.tariffs.bill import late_fee
from backend.tariffs.bills import service as bills
from backend.tariffs.bills.models import IssuedBill, LateFee
from backend.tariffs.loader import DEFAULT_FILE, load_file
from backend.tariffs.service import store_tariffs
from tests.integration.api.conftest import Api
from tests.support.prepaid_data import TZ, add_readings, local_ms
from tests.support.world import build_world

KWH = 1000
NOW = datetime(2026, 12, 1, 2, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _cheap_argon2(cheap_argon2: None) -> None:
    """Every test here logs in: test-cost Argon2."""


@pytest.fixture
async def api(database_url: str, tmp_path: Path, engine: AsyncEngine) -> AsyncIterator[Api]:
    world = await build_world(engine)
    settings = load_settings(
        env={}, database_url=database_url, data_dir=str(tmp_path), ingest=False,
        prepaid_sweep_seconds=0, prepaid_notify_seconds=0, idempotency_purge_hours=0,
        postpaid_bills_seconds=0, auth_require_totp=False, timezone="Asia/Shanghai",
    )  # fmt: skip
    async with AsyncTestClient(create_app(settings)) as client:
        yield Api(client, world, settings, engine)


async def _bob_uses_100_kwh_in_november(api: Api) -> async_sessionmaker[AsyncSession]:
    """Bob (commercial, postpaid, flat 0.6473 元/kWh) uses 100 kWh on 2 November 2026."""
    sessions = session_factory(api.engine)
    async with sessions() as s:
        await store_tariffs(s, load_file(DEFAULT_FILE))
        await s.commit()
    meter = api.world.bob_meter
    first = local_ms(2026, 11, 2, 10)
    points = [(first, 1000 * KWH), (first + 3_600_000, 1100 * KWH)]
    async with sessions() as s:
        await add_readings(s, meter, points)
        await s.commit()
    span = [(meter, "energy_import", points[0][0], points[-1][0])]
    await on_readings_committed(sessions, span)
    await billing.on_readings_committed(sessions, span, TZ)
    return sessions


async def _issue(sessions: async_sessionmaker[AsyncSession]) -> bills.IssueResult:
    return await bills.issue_all(sessions, "2026-11", TZ, due_day=15, now=NOW)


async def _count(sessions: async_sessionmaker[AsyncSession], stmt: object) -> int:
    async with sessions() as s:
        return int(await s.scalar(stmt) or 0)  # type: ignore[call-overload]


BILL_ENTRIES = select(func.count()).where(LedgerEntry.kind == EntryKind.BILL_ISSUED)


async def test_a_month_issued_twice_is_one_stored_bill_and_one_ledger_entry(api: Api) -> None:
    sessions = await _bob_uses_100_kwh_in_november(api)
    first = await _issue(sessions)
    again = await _issue(sessions)
    assert (first.issued, again.issued, again.already) == (1, 0, 1)  # Bob; Alice is prepaid
    async with sessions() as s:
        rows = (await s.scalars(select(IssuedBill))).all()
    assert len(rows) == 1
    bill = rows[0]
    assert (bill.number, bill.month, bill.total_fen, bill.energy_wh) == (
        "A002-202611-0", "2026-11", 6473, 100 * KWH,
    )  # fmt: skip
    assert bill.due_on == date(2026, 12, 15)
    assert sum(ln.amount_fen for ln in bills.decode_lines(bill)) == bill.total_fen
    assert await _count(sessions, BILL_ENTRIES) == 1


async def test_two_issuers_at_once_store_one_bill_and_one_entry(api: Api) -> None:
    sessions = await _bob_uses_100_kwh_in_november(api)
    results = await asyncio.gather(_issue(sessions), _issue(sessions), _issue(sessions))
    assert sum(r.issued for r in results) == 1
    assert await _count(sessions, select(func.count()).select_from(IssuedBill)) == 1
    assert await _count(sessions, BILL_ENTRIES) == 1


async def test_the_customer_sees_their_bill_and_another_customers_bill_is_404(api: Api) -> None:
    sessions = await _bob_uses_100_kwh_in_november(api)
    await _issue(sessions)
    bob = await api.login("bob")
    r = await api.client.get(f"/api/accounts/{api.world.bob_account}/issued-bills", headers=bob)
    assert r.status_code == 200, r.text
    body = r.json()
    assert [(b["number"], b["total_fen"], b["owed_fen"], b["paid"]) for b in body["items"]] == [
        ("A002-202611-0", 6473, 6473, False)
    ]
    assert body["items"][0]["lines"][0]["code"] == "bill.energy"
    bill_id = body["items"][0]["id"]
    assert (await api.client.get(f"/api/issued-bills/{bill_id}", headers=bob)).status_code == 200
    alice = await api.login("alice")
    r = await api.client.get(f"/api/issued-bills/{bill_id}", headers=alice)
    assert r.status_code == 404
    assert r.json()["code"] == "error.bill_not_found"
    r = await api.client.get(f"/api/accounts/{api.world.bob_account}/issued-bills", headers=alice)
    assert r.status_code == 404


async def _late_fees(sessions: async_sessionmaker[AsyncSession], today: date) -> int:
    async with sessions() as s, s.begin():
        account = await s.get(Account, 2)
        assert account is not None
        return await bills.post_late_fees(s, account, False, today, TZ)


async def test_late_fees_follow_the_published_rate_by_hand_once_a_day(api: Api) -> None:
    """Hand-computed: 6,473 fen due 15 December 2026, commercial: 2‰ a day in 2026, 3‰ in
    2027. To 20 December: 5 days × 2‰ = 10‰ → 64.73 fen → 65 fen. To 2 January 2027:
    16 × 2‰ + 2 × 3‰ = 38‰ → 245.974 → 246 fen, as ``late_fee`` says."""
    sessions = await _bob_uses_100_kwh_in_november(api)
    await _issue(sessions)
    assert await _late_fees(sessions, date(2026, 12, 15)) == 0  # not before the day after
    assert await _late_fees(sessions, date(2026, 12, 20)) == 65
    assert await _late_fees(sessions, date(2026, 12, 20)) == 0  # once per day
    assert await _late_fees(sessions, date(2027, 1, 2)) == 246 - 65
    assert late_fee(6473, date(2026, 12, 15), date(2027, 1, 2), residential=False) == 246
    async with sessions() as s:
        days = await s.scalar(select(func.count()).select_from(LateFee))
        account = await s.get(Account, api.world.bob_account)
        assert account is not None
        assert account.balance_fen == await ledger.ledger_sum(s, account.id)
    assert days == 18


async def _pay(sessions: async_sessionmaker[AsyncSession], fen: int) -> None:
    async with sessions() as s, s.begin():
        await ledger.lock_account(s, 2)
        await ledger.post(s, 2, EntryKind.TOP_UP, fen, actor="test")


async def test_a_paid_bill_gets_no_late_fee_and_payments_go_to_the_oldest_bill(api: Api) -> None:
    sessions = await _bob_uses_100_kwh_in_november(api)
    await _issue(sessions)
    await _pay(sessions, 6000)  # not all of it
    assert await _late_fees(sessions, date(2026, 12, 16)) == 1  # 473 × 2‰ = 0.946 → 1 fen
    await _pay(sessions, 473)
    assert await _late_fees(sessions, date(2026, 12, 30)) == 0
    async with sessions() as s:
        [st] = await bills.bill_states(s, 2)
    assert (st.paid_fen, st.owed_fen, st.late_fee_fen) == (6473, 0, 1)


async def test_a_payment_and_a_late_fee_posting_at_once_keep_the_ledger_whole(api: Api) -> None:
    sessions = await _bob_uses_100_kwh_in_november(api)
    await _issue(sessions)
    await asyncio.gather(_pay(sessions, 6473), _late_fees(sessions, date(2026, 12, 16)))
    assert await _late_fees(sessions, date(2026, 12, 20)) == 0  # paid: stopped
    async with sessions() as s:
        account = await s.get(Account, 2)
        assert account is not None
        assert account.balance_fen == await ledger.ledger_sum(s, 2)
        assert await _count(sessions, select(func.count()).select_from(LateFee)) <= 1


async def _remind(sessions: async_sessionmaker[AsyncSession], today: date) -> int:
    async with sessions() as s, s.begin():
        account = await s.get(Account, 2)
        assert account is not None
        return await bills.remind(
            s, account, today, overdue_days=7, channels=[NoticeChannel.SMS], now=NOW
        )


async def test_reminders_go_once_at_each_stage_in_the_customers_language(api: Api) -> None:
    sessions = await _bob_uses_100_kwh_in_november(api)
    await _issue(sessions)
    assert await _remind(sessions, date(2026, 12, 11)) == 0  # four days before
    assert await _remind(sessions, date(2026, 12, 12)) == 1  # due − 3
    assert await _remind(sessions, date(2026, 12, 13)) == 0
    assert await _remind(sessions, date(2026, 12, 15)) == 1  # due
    assert await _remind(sessions, date(2026, 12, 22)) == 1  # due + 7
    assert await _remind(sessions, date(2026, 12, 23)) == 0
    async with sessions() as s:
        rows = (await s.scalars(select(Notice).order_by(Notice.id))).all()
    assert [(n.kind, n.code) for n in rows] == [
        (NoticeKind.BILL_DUE_SOON, "notice.text.bill_due_soon"),
        (NoticeKind.BILL_DUE, "notice.text.bill_due"),
        (NoticeKind.BILL_OVERDUE, "notice.text.bill_overdue"),
    ]
    assert rows[2].params == {
        "number": "A002-202611-0", "owed_fen": 6473, "due_on": "2026-12-15", "days": 7,
    }  # fmt: skip
    assert rows[2].text.startswith("您的电费账单 A002-202611-0 已逾期 7 天，欠费 ¥64.73")


async def test_the_arrears_list_ages_unpaid_bills_within_the_callers_scope(api: Api) -> None:
    sessions = await _bob_uses_100_kwh_in_november(api)
    await _issue(sessions)
    await _late_fees(sessions, date(2027, 1, 20))
    api.client.app.state.clock = lambda: datetime(2027, 1, 20, 12, tzinfo=TZ).timestamp()
    r = await api.client.get("/api/arrears?limit=10", headers=await api.login("op"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total"] == 1
    [row] = body["items"]
    assert (row["account_number"], row["days_past_due"]) == ("A002", 36)
    fee = late_fee(6473, date(2026, 12, 15), date(2027, 1, 20), residential=False)
    assert row["ageing"] == {
        "d0_30_fen": 0, "d31_60_fen": 6473, "d61_90_fen": 0, "over_90_fen": 0,
        "late_fee_fen": fee, "total_fen": 6473 + fee,
    }  # fmt: skip
    assert body["ageing"]["total_fen"] == 6473 + fee
    assert [(g["id"], g["accounts"]) for g in body["by_grid"]] == [(api.world.grid2, 1)]
    assert [g["id"] for g in body["by_area"]] == [api.world.area2]
    r = await api.client.get("/api/arrears", headers=await api.login("bob"))
    assert r.status_code == 403
    # Bob is in grid 2: its inspector sees him, grid 1's inspector does not
    r = await api.client.get("/api/arrears", headers=await api.login("insp2"))
    assert r.json()["total"] == 1
    r = await api.client.get("/api/arrears", headers=await api.login("insp1"))
    assert (r.json()["total"], r.json()["ageing"]["total_fen"]) == (0, 0)
    r = await api.client.get("/api/arrears?limit=0", headers=await api.login("op"))
    assert r.status_code == 400


async def test_a_correction_after_issue_is_a_new_revision_and_the_issued_bill_stays(
    api: Api,
) -> None:
    sessions = await _bob_uses_100_kwh_in_november(api)
    await _issue(sessions)
    meter, start = api.world.bob_meter, local_ms(2026, 11, 2, 11)
    async with sessions() as s:  # a late reading: 50 kWh more in November
        await add_readings(s, meter, [(start + 3_600_000, 1150 * KWH)])
        await s.commit()
    span = [(meter, "energy_import", start, start + 3_600_000)]
    await on_readings_committed(sessions, span)
    await billing.on_readings_committed(sessions, span, TZ)
    async with sessions() as s, s.begin():
        account = await s.get(Account, api.world.bob_account)
        assert account is not None
        row, created = await bills.revise(
            s, account, CustomerCategory.COMMERCIAL, "2026-11", TZ, now=NOW
        )
        again, twice = await bills.revise(
            s, account, CustomerCategory.COMMERCIAL, "2026-11", TZ, now=NOW
        )
    assert row is not None
    assert not created  # billing's re-rating revised it already (revise_after_rerating)
    assert not twice
    assert (row.number, row.revision, row.total_fen) == ("A002-202611-1", 1, 9710)  # 97.095
    assert again is not None
    assert again.id == row.id
    async with sessions() as s:
        rows = (await s.scalars(select(IssuedBill))).all()
        numbers = {b.number: b.total_fen for b in rows}
        ids = {b.number: b.id for b in rows}
        [current] = await bills.bill_states(s, api.world.bob_account)
    assert numbers == {"A002-202611-0": 6473, "A002-202611-1": 9710}
    assert current.bill.number == "A002-202611-1"
    bob = await api.login("bob")
    r = await api.client.get(f"/api/accounts/{api.world.bob_account}/issued-bills", headers=bob)
    [latest] = r.json()["items"]
    assert (latest["number"], latest["owed_fen"], latest["superseded"]) == (
        "A002-202611-1", 9710, False,
    )  # fmt: skip
    first_id = next(i for n, i in ids.items() if n == "A002-202611-0")
    r = await api.client.get(f"/api/issued-bills/{first_id}", headers=bob)
    assert (r.json()["total_fen"], r.json()["owed_fen"], r.json()["superseded"]) == (6473, 0, True)
    assert await _count(sessions, BILL_ENTRIES) == 2


async def test_the_leader_round_issues_last_month_posts_fees_and_reminds_once(api: Api) -> None:
    sessions = await _bob_uses_100_kwh_in_november(api)
    now = datetime(2026, 12, 20, 12, tzinfo=TZ)
    kwargs = {"due_day": 15, "overdue_days": 7, "channels": [NoticeChannel.SMS]}
    first = await bills.run_day(sessions, now, TZ, **kwargs)  # type: ignore[arg-type]
    again = await bills.run_day(sessions, now, TZ, **kwargs)  # type: ignore[arg-type]
    assert (first.issued, first.late_fee_fen, first.reminders) == (1, 65, 1)  # due today+5
    assert (again.issued, again.late_fee_fen, again.reminders) == (0, 0, 0)
