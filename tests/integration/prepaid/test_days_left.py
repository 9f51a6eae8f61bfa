"""Days of credit left from the recent spend rate (backend/prepaid/spend.py), on SQLite and
PostgreSQL: a fast-spending account is told it has well under a day, and the sweep's
low-balance warning follows the same figure."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from backend.db import session_factory
from backend.prepaid import engine as prepaid
from backend.prepaid import ledger, spend
from backend.prepaid.models import Charge, EntryKind, Notice, NoticeKind
from backend.types import utcnow
from tests.integration.api.conftest import Api
from tests.integration.prepaid.conftest import post


async def charge_every(
    api: Api, account: int, meter: int, *, fen: int, every: timedelta, count: int
) -> None:
    """``count`` consumption charges of ``fen``, one per ``every``, the last ending now."""
    now = utcnow()
    step = int(every.total_seconds() * 1000)
    end = int(now.timestamp() * 1000)
    async with session_factory(api.engine)() as s:
        for i in range(count):
            entry = await ledger.post(
                s, account, EntryKind.CONSUMPTION_CHARGE, -fen, actor="billing", memo="test"
            )
            stop = end - (count - 1 - i) * step
            s.add(
                Charge(
                    account_id=account, meter_pk=meter, start_ms=stop - step, end_ms=stop,
                    wh=100, exact_cny=f"{fen / 100:.2f}", lines="[]", entry_id=entry.id,
                )
            )  # fmt: skip
        await s.commit()


async def test_a_fast_spending_account_is_told_it_has_well_under_a_day(quiet_api: Api) -> None:
    api, acc = quiet_api, quiet_api.world.alice_account
    # ¥0.10 every 15 s for the last half hour, ¥3.24 left: the account, said "64 days"
    await post(api.engine, acc, EntryKind.TOP_UP, 324 + 120 * 10)
    await charge_every(
        api, acc, api.world.alice_meter, fen=10, every=timedelta(seconds=15), count=120
    )
    r = await api.client.get(f"/api/accounts/{acc}/balance", headers=await api.login("alice"))
    body = r.json()
    assert body["balance_fen"] == 324
    assert body["average_daily_spend_fen"] == 57_600  # ¥0.10 × 4 × 60 × 24
    assert body["days_left"] is not None
    assert body["days_left"] < 0.01  # about 8 minutes
    assert body["low"] is True


async def test_a_daily_read_meter_spends_its_days_charge_per_day(quiet_api: Api) -> None:
    api, acc = quiet_api, quiet_api.world.alice_account
    await post(api.engine, acc, EntryKind.TOP_UP, 10_000)
    # one charge a day, the latest read 2 hours ago: ¥5 per day, not ¥5 per 2 hours
    await charge_every(api, acc, api.world.alice_meter, fen=500, every=timedelta(days=1), count=3)
    async with session_factory(api.engine)() as s:
        daily, left = await spend.days_of_credit(s, acc, 8_500, utcnow() + timedelta(hours=2))
    assert daily == 500
    assert left == 17.0


async def test_without_recent_charges_days_left_is_unknown_not_a_guess(quiet_api: Api) -> None:
    api, acc = quiet_api, quiet_api.world.alice_account
    await post(api.engine, acc, EntryKind.TOP_UP, 10_000)
    r = await api.client.get(f"/api/accounts/{acc}/balance", headers=await api.login("alice"))
    assert (r.json()["days_left"], r.json()["average_daily_spend_fen"]) == (None, 0)


async def test_the_low_balance_warning_follows_the_recent_spend_rate(quiet_api: Api) -> None:
    api, acc = quiet_api, quiet_api.world.alice_account
    # ¥30 left is above the ¥20 amount threshold, but at ¥0.10 per 15 s it lasts 45 minutes
    await post(api.engine, acc, EntryKind.TOP_UP, 3_000 + 240 * 10)
    await charge_every(
        api, acc, api.world.alice_meter, fen=10, every=timedelta(seconds=15), count=240
    )
    async with session_factory(api.engine)() as s:
        await prepaid.sweep(s, api.settings, utcnow())
        await s.commit()
        kinds = set(await s.scalars(select(Notice.kind).where(Notice.account_id == acc)))
    assert NoticeKind.LOW_BALANCE in kinds
