"""临时用电: an account supplied until a last day is closed by the closure path the day after,
by the leader's round; a second round (or two at once) makes no second closure."""

from __future__ import annotations

import asyncio
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from backend.accounts.models import Account
from backend.db import session_factory
from backend.expansion.changes import temporary
from backend.expansion.changes.models import AccountChange, ChangeKind
from backend.prepaid.lifespan import _postpaid as postpaid_round
from backend.prepaid.models import EntryKind, LedgerEntry
from backend.servicedesk.workflow.service import working_time
from tests.integration.api.conftest import Api
from tests.integration.expansion.changes.conftest import pin_clock
from tests.support.prepaid_data import local_ms

TZ = ZoneInfo("Asia/Shanghai")


async def _round(api: Api, y: int, mo: int, d: int) -> int:
    wt = working_time(api.settings.prepaid_holiday_calendar, api.settings.timezone)
    return await temporary.close_ended(
        session_factory(api.engine), local_ms(y, mo, d, 1), TZ, wt, bill=True
    )


async def test_a_temporary_supply_is_closed_the_day_after_its_last_day_once(
    life_api: Api,
) -> None:
    api = life_api
    account = api.world.alice_account
    pin_clock(api, 2026, 3, 2)
    r = await api.client.post(
        f"/api/accounts/{account}/topups", json={"amount_fen": 2_000, "channel": "counter"},
        headers={**await api.login("op"), "Idempotency-Key": "topup-temp-001"},
    )  # fmt: skip
    assert r.status_code == 201, r.text
    headers = {**await api.login("op"), "Idempotency-Key": "temporary-0001"}
    body = {"kind": "temporary", "account_id": account, "until": "2026-03-10"}
    r = await api.client.post("/api/lifecycle/changes", json=body, headers=headers)
    assert r.status_code == 201, r.text
    temp = r.json()
    r = await api.client.post(
        f"/api/lifecycle/changes/{temp['id']}/approve", headers=await api.login("op")
    )
    assert r.status_code == 200, r.text
    assert await _round(api, 2026, 3, 10) == 0  # its last day: still supplied
    async with session_factory(api.engine)() as s:
        row = await s.get(Account, account)
        assert row is not None
        assert row.closed_at is None
    closed = await asyncio.gather(_round(api, 2026, 3, 11), _round(api, 2026, 3, 11))
    assert sorted(closed) == [0, 1]
    assert await _round(api, 2026, 3, 12) == 0
    async with session_factory(api.engine)() as s:
        row = await s.get(Account, account)
        assert row is not None
        assert row.closed_at is not None
        n = await s.scalar(
            select(func.count()).select_from(AccountChange).where(
                AccountChange.account_id == account, AccountChange.kind == ChangeKind.CLOSURE
            )
        )  # fmt: skip
        assert n == 1
        refund = await s.scalar(
            select(LedgerEntry.amount_fen).where(
                LedgerEntry.account_id == account, LedgerEntry.kind == EntryKind.REFUND
            )
        )
        assert refund == -2_000


async def test_a_temporary_supply_ending_in_the_past_or_beyond_three_years_is_refused(
    life_api: Api,
) -> None:
    api = life_api
    pin_clock(api, 2026, 3, 2)
    op = await api.login("op")
    for key, until in (("temp-past-001", "2026-03-01"), ("temp-long-001", "2029-03-02")):
        body = {"kind": "temporary", "account_id": api.world.alice_account, "until": until}
        r = await api.client.post(
            "/api/lifecycle/changes", json=body, headers={**op, "Idempotency-Key": key}
        )
        assert (r.status_code, r.json()["code"], r.json()["field"]) == (
            422, "error.temporary_end", "until"
        )  # fmt: skip


async def test_the_leaders_postpaid_round_closes_an_ended_temporary_supply(life_api: Api) -> None:
    api = life_api
    account = api.world.bob_account
    pin_clock(api, 2026, 3, 2)
    op = await api.login("op")
    body = {"kind": "temporary", "account_id": account, "until": "2026-03-05"}
    r = await api.client.post(
        "/api/lifecycle/changes", json=body, headers={**op, "Idempotency-Key": "temp-round-01"}
    )
    assert r.status_code == 201, r.text
    r = await api.client.post(f"/api/lifecycle/changes/{r.json()['id']}/approve", headers=op)
    assert r.status_code == 200, r.text
    clock = lambda: datetime(2026, 3, 6, 9, tzinfo=TZ)  # noqa: E731
    await postpaid_round(session_factory(api.engine), api.settings, clock)
    async with session_factory(api.engine)() as s:
        row = await s.get(Account, account)
        assert row is not None
        assert row.closed_at is not None
