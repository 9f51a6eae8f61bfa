"""Top-up idempotency on SQLite and PostgreSQL: one key, one payment, whatever the retries."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import msgspec
import pytest
from sqlalchemy import func, select

from backend.accounts.models import Account
from backend.db import session_factory
from backend.prepaid import topups
from backend.prepaid.models import Channel, EntryKind, LedgerEntry, TopUp, TopUpStatus
from backend.types import utcnow
from tests.support.prepaid_data import TZ, make_account

KEY = "key-0001-abcdef"


async def setup(engine):  # type: ignore[no-untyped-def]
    sessions = session_factory(engine)
    async with sessions() as s:
        _, account, _ = await make_account(s)
        await s.commit()
    return sessions, account


async def count_topups(sessions, account_id: int) -> int:  # type: ignore[no-untyped-def]
    async with sessions() as s:
        return int(
            await s.scalar(
                select(func.count()).where(
                    LedgerEntry.account_id == account_id, LedgerEntry.kind == EntryKind.TOP_UP
                )
            )
            or 0
        )


async def test_the_same_key_and_body_replays_the_stored_receipt(engine) -> None:
    sessions, account = await setup(engine)
    body = topups.TopUpIn(amount_fen=5_000, channel=Channel.WECHAT)
    first = await topups.top_up(sessions, account, KEY, body, actor="alice", tz=TZ)
    second = await topups.top_up(sessions, account, KEY, body, actor="alice", tz=TZ)
    assert first[:2] == second[:2]
    assert (first[2], second[2]) == (False, True)
    receipt = msgspec.json.decode(first[1], type=topups.Receipt)
    assert receipt.balance_after_fen == 5_000
    assert receipt.channel is Channel.WECHAT
    assert receipt.receipt_number.startswith("R")
    assert await count_topups(sessions, account.id) == 1


async def test_the_same_key_with_another_body_is_refused(engine) -> None:
    sessions, account = await setup(engine)
    await topups.top_up(sessions, account, KEY, topups.TopUpIn(amount_fen=5_000), actor="a", tz=TZ)
    with pytest.raises(topups.KeyReused):
        await topups.top_up(
            sessions, account, KEY, topups.TopUpIn(amount_fen=6_000), actor="a", tz=TZ
        )
    assert await count_topups(sessions, account.id) == 1


async def test_a_key_still_in_progress_answers_conflict_and_a_dead_one_is_taken_over(
    engine,
) -> None:
    sessions, account = await setup(engine)
    body = topups.TopUpIn(amount_fen=1_000)
    async with sessions() as s:
        s.add(
            TopUp(
                customer_id=account.customer_id, account_id=account.id, idempotency_key=KEY,
                request_hash=topups.request_hash(account.id, body),
                status=TopUpStatus.IN_PROGRESS, channel=Channel.APP, amount_fen=1_000,
                actor="a", started_at=utcnow(),
            )
        )  # fmt: skip
        await s.commit()
    with pytest.raises(topups.KeyInProgress):
        await topups.top_up(sessions, account, KEY, body, actor="a", tz=TZ)
    async with sessions() as s:
        row = await s.scalar(select(TopUp))
        assert row is not None
        row.started_at = utcnow() - timedelta(minutes=5)  # its process died mid-way
        await s.commit()
    status, _, replayed = await topups.top_up(sessions, account, KEY, body, actor="a", tz=TZ)
    assert (status, replayed) == (201, False)
    assert await count_topups(sessions, account.id) == 1


async def test_fifty_identical_parallel_top_ups_post_exactly_one_entry(engine) -> None:
    sessions, account = await setup(engine)
    body = topups.TopUpIn(amount_fen=10_000, channel=Channel.ALIPAY)

    async def one() -> object:
        try:
            return await topups.top_up(sessions, account, KEY, body, actor="a", tz=TZ)
        except topups.KeyInProgress as exc:
            return exc

    results = await asyncio.gather(*(one() for _ in range(50)))
    answers = {r[1] for r in results if isinstance(r, tuple)}
    assert len(answers) == 1  # every completed answer is the same receipt
    assert all(isinstance(r, tuple | topups.KeyInProgress) for r in results)
    assert await count_topups(sessions, account.id) == 1
    async with sessions() as s:
        acc = await s.get(Account, account.id)
        assert acc is not None
        assert acc.balance_fen == 10_000


async def test_purging_forgets_old_keys_but_keeps_the_payment(engine) -> None:
    sessions, account = await setup(engine)
    await topups.top_up(sessions, account, KEY, topups.TopUpIn(amount_fen=500), actor="a", tz=TZ)
    async with sessions() as s:
        assert await topups.purge_keys(s, utcnow() + timedelta(days=6), 7) == 0
        assert await topups.purge_keys(s, utcnow() + timedelta(days=8), 7) == 1
    async with sessions() as s:
        row = await s.scalar(select(TopUp))
        assert row is not None
        assert (row.idempotency_key, row.status, row.amount_fen) == (
            None, TopUpStatus.COMPLETED, 500,
        )  # fmt: skip


async def test_a_top_up_that_waited_while_the_account_was_closed_posts_nothing(engine) -> None:
    sessions, account = await setup(engine)  # the account as the route saw it: open
    async with sessions() as s:
        held = await s.get(Account, account.id)
        assert held is not None
        held.closed_at = utcnow()  # closed (销户) before the top-up took the account's lock
        await s.commit()
    body = topups.TopUpIn(amount_fen=5_000)
    with pytest.raises(topups.AccountClosed):
        await topups.top_up(sessions, account, KEY, body, actor="alice", tz=TZ)
    assert await count_topups(sessions, account.id) == 0
    async with sessions() as s:  # the key is not left held: nothing claims it
        assert await s.scalar(select(func.count()).select_from(TopUp)) == 0
        refreshed = await s.get(Account, account.id)
        assert refreshed is not None
        assert refreshed.balance_fen == 0
