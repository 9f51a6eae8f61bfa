"""The incremental sweep: an account is examined when something it depends on changed, or when
time alone changes its verdict, and otherwise left alone."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from backend.accounts.models import Account, Customer
from backend.commands.models import Command
from backend.db import session_factory
from backend.metering.models import Meter
from backend.prepaid import ledger, sweep
from backend.prepaid.channels.simulated import Simulated
from backend.prepaid.models import (
    EntryKind,
    Notice,
    NoticeKind,
    NoticeStatus,
    SweepDue,
    SweepQueueEntry,
)
from backend.prepaid.notices import deliver_pending
from backend.settings import Settings, load_settings
from protocols.contract import CommandKind, RelayState
from tests.support.prepaid_data import make_account
from tests.support.statements import counted

TZ = ZoneInfo("Asia/Shanghai")
UTC = ZoneInfo("UTC")
# Wednesday 2026-05-13, 08:00 local: a working day, before the disconnect window opens
WEDNESDAY_8 = datetime(2026, 5, 13, 8, tzinfo=TZ).astimezone(UTC)


def settings_for(tmp_path: Path, **overrides: object) -> Settings:
    return load_settings(
        env={}, data_dir=str(tmp_path), **{"prepaid_auto_disconnect": True, **overrides}
    )  # type: ignore[arg-type]


async def deliver(engine: AsyncEngine, at: datetime) -> None:
    """Hand the pending notices to a provider that reports their delivery (at their time)."""
    provider = Simulated({})
    async with session_factory(engine)() as s:
        await deliver_pending(s, provider, at)
        await s.commit()
    async with session_factory(engine)() as s:
        assert await provider.report(s) > 0
        await s.commit()


async def test_an_unchanged_account_is_not_examined_again_and_a_changed_one_is(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    settings = settings_for(tmp_path)
    sessions = session_factory(engine)
    async with sessions() as s:
        made = [await make_account(s) for _ in range(6)]
        for _, account, _ in made:  # healthy balances: nothing to warn
            await ledger.post(s, account.id, EntryKind.TOP_UP, 50_000, actor="t", memo="seed")
        await s.commit()
    (c1, a1, _), (_, _, m2), _, (_, _, m4), *_ = made
    first = await sweep.run(sessions, settings, WEDNESDAY_8)
    assert first.examined == 6
    again = await sweep.run(sessions, settings, WEDNESDAY_8 + timedelta(minutes=5))
    assert again.examined == 0
    async with sessions() as s:
        assert await s.scalar(select(func.count()).select_from(SweepQueueEntry)) == 0
        # a balance below the account's watch line (¥380: a quarter of its headroom above the
        # ¥20 warning line spent), a relay read-back, a protected flag, a command's state: each
        # queues its account, and nothing else does
        await ledger.post(s, a1.id, EntryKind.ADJUSTMENT, -47_000, actor="t", memo="fee")
        await s.execute(
            update(Meter).where(Meter.id == m2.id).values(relay_state=int(RelayState.DISCONNECTED))
        )
        await s.execute(update(Customer).where(Customer.id == c1.id).values(protected=True))
        await s.execute(  # what ingestion writes on every reading does not queue anything
            update(Meter).where(Meter.id == m4.id).values(online=True, last_seen_at=WEDNESDAY_8)
        )
        await s.commit()
    changed = await sweep.run(sessions, settings, WEDNESDAY_8 + timedelta(minutes=10))
    assert changed.examined == 2  # a1 (balance and protected flag), a2 (relay)
    assert changed.batches == 1


async def test_an_account_queued_more_often_than_one_statement_has_parameters_is_swept(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """Billing changes a busy account's balance every round, and each change queues it: in the
    soak 2,000 accounts queued tens of thousands of entries between two sweeps. The sweep
    deletes what it read in one statement: with a parameter an entry, past the 32,767
    PostgreSQL's protocol allows in one, the sweep failed and its accounts waited."""
    settings = settings_for(tmp_path)
    sessions = session_factory(engine)
    async with sessions() as s:
        made = [await make_account(s) for _ in range(2)]
        await s.commit()
    await sweep.run(sessions, settings, WEDNESDAY_8)  # the accounts' first queue entries
    async with sessions() as s:
        await s.execute(
            insert(SweepQueueEntry),
            [{"account_id": account.id} for _ in range(20_000) for _, account, _ in made],
        )
        await s.commit()
    result = await sweep.run(sessions, settings, WEDNESDAY_8 + timedelta(minutes=1))
    assert result.examined == 2
    async with sessions() as s:
        assert await s.scalar(select(func.count()).select_from(SweepQueueEntry)) == 0


async def test_examining_low_accounts_costs_the_same_statements_for_4_or_for_20(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """Under billing every account's balance changes every round, so every low account is
    examined every sweep. Their customers, episodes, meters, notices and rates are read for
    a step of accounts at once: examined again with their notices queued, 20 accounts cost the
    statements 4 do (a few an account before: 2,000 low accounts took 24-28 s a sweep in the
    soak)."""
    settings = settings_for(tmp_path)
    sessions = session_factory(engine)

    async def examined_again(n: int) -> list[str]:
        async with sessions() as s:
            for _ in range(n):
                await make_account(s)  # a zero balance: low, warned once
            await s.commit()
        await sweep.run(sessions, settings, WEDNESDAY_8)
        async with sessions() as s:  # queued again, nothing else changed (as billing does)
            ids = await s.scalars(select(SweepQueueEntry.account_id).distinct())
            assert list(ids) == []
            every = await s.scalars(select(Notice.account_id).distinct())
            await s.execute(insert(SweepQueueEntry), [{"account_id": a} for a in every])
            await s.commit()
        with counted(engine) as statements:
            await sweep.run(sessions, settings, WEDNESDAY_8 + timedelta(minutes=1))
        return statements

    four = await examined_again(4)
    twenty = await examined_again(16)  # the 4 and 16 more
    async with sessions() as s:
        assert await s.scalar(select(func.count(func.distinct(Notice.account_id)))) == 20
    assert len(twenty) == len(four)


async def test_work_is_cut_into_transactions_of_the_batch_size(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    settings = settings_for(tmp_path)
    sessions = session_factory(engine)
    async with sessions() as s:
        for _ in range(7):
            await make_account(s)
        await s.commit()
    result = await sweep.run(sessions, settings, WEDNESDAY_8, batch=3)
    assert (result.examined, result.batches) == (7, 3)


async def test_the_warning_lead_time_passing_brings_the_account_back_and_disconnects_it(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    settings = settings_for(tmp_path)
    sessions = session_factory(engine)
    async with sessions() as s:
        _, account, meter = await make_account(s)
        await ledger.post(s, account.id, EntryKind.ADJUSTMENT, -1_500, actor="t", memo="debt")
        await s.commit()
    warned = await sweep.run(sessions, settings, WEDNESDAY_8)
    assert (warned.examined, warned.disconnects) == (1, [])
    await deliver(engine, WEDNESDAY_8)  # the warning reaches the customer at 08:00 (receipt)
    delivered = await sweep.run(sessions, settings, WEDNESDAY_8 + timedelta(minutes=5))
    assert delivered.examined == 1  # the delivery changed a fact: the lead time starts
    async with sessions() as s:
        due = await s.get(SweepDue, account.id)
    assert due is not None
    # 24 h after the delivery, inside Thursday's window (09:00 local) at the latest: examined
    # then (or at the daily recheck just before), and not before
    thursday_8 = WEDNESDAY_8 + timedelta(days=1)
    assert thursday_8.timestamp() * 1000 < due.due_ms <= thursday_8.timestamp() * 1000 + 3_600_000
    quiet = await sweep.run(sessions, settings, thursday_8 - timedelta(minutes=1))
    assert quiet.examined == 0
    due_now = await sweep.run(sessions, settings, thursday_8 + timedelta(hours=1, minutes=2))
    assert due_now.examined == 1
    (cid,) = due_now.disconnects
    async with sessions() as s:
        command = await s.get(Command, cid)
        assert command is not None
        assert (command.kind, command.meter_pk) == (CommandKind.DISCONNECT, meter.id)
        notices = (await s.scalars(select(Notice.kind).where(Notice.status.isnot(None)))).all()
    assert NoticeKind.DISCONNECT_WARNING in notices


async def test_a_command_that_ends_without_a_disconnect_brings_the_account_back(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    settings = settings_for(tmp_path)
    sessions = session_factory(engine)
    async with sessions() as s:
        _, account, _ = await make_account(s)
        await ledger.post(s, account.id, EntryKind.ADJUSTMENT, -1_500, actor="t", memo="debt")
        await s.commit()
    await sweep.run(sessions, settings, WEDNESDAY_8)
    await deliver(engine, WEDNESDAY_8)
    at = WEDNESDAY_8 + timedelta(days=1, hours=2)
    first = await sweep.run(sessions, settings, at)
    (cid,) = first.disconnects
    assert (await sweep.run(sessions, settings, at + timedelta(minutes=5))).examined == 0
    async with sessions() as s:  # the command expires undelivered: the supply is still on
        await s.execute(update(Command).where(Command.id == cid).values(state="expired"))
        await s.commit()
    retry = await sweep.run(sessions, settings, at + timedelta(minutes=10))
    assert retry.examined == 1
    assert len(retry.disconnects) == 1
    assert retry.disconnects[0] != cid


async def test_changed_policy_settings_examine_every_account_once(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    sessions = session_factory(engine)
    async with sessions() as s:
        for _ in range(4):
            _, account, _ = await make_account(s)
            await ledger.post(s, account.id, EntryKind.TOP_UP, 3_000, actor="t", memo="seed")
        await s.commit()
    before = settings_for(tmp_path)
    assert (await sweep.run(sessions, before, WEDNESDAY_8)).examined == 4
    assert (await sweep.run(sessions, before, WEDNESDAY_8)).examined == 0
    # ¥30 was fine under a ¥20 threshold; under ¥50 every account is low
    after = settings_for(tmp_path, prepaid_low_balance_fen=5_000)
    assert (await sweep.run(sessions, after, WEDNESDAY_8)).examined == 4
    assert (await sweep.run(sessions, after, WEDNESDAY_8)).examined == 0
    async with sessions() as s:
        low = await s.scalar(
            select(func.count(func.distinct(Notice.account_id))).where(
                Notice.kind == NoticeKind.LOW_BALANCE, Notice.status == NoticeStatus.PENDING
            )
        )
    assert low == 4


async def watch_of(engine: AsyncEngine, account_id: int) -> int | None:
    async with session_factory(engine)() as s:
        return await s.scalar(select(Account.sweep_watch_fen).where(Account.id == account_id))


async def queued(engine: AsyncEngine) -> list[int]:
    async with session_factory(engine)() as s:
        return list(await s.scalars(select(SweepQueueEntry.account_id)))


async def test_a_quiet_accounts_balance_queues_it_only_below_its_watch_line(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """Billing changes a billed account's balance every round: were each change to queue it,
    every sweep would examine every account that reported since the last (1,100 a second at a
    million accounts). A quiet account is watched from a line: once a quarter of its headroom
    above the warning line is spent, and at every change within twice the warning line. Above
    it a change of its balance queues nothing; a change from or to below it, a change of the
    credit limit, and any change of an account the sweep follows (a low one) queue it."""
    settings = settings_for(tmp_path)  # warned below ¥20 or 3 days of credit
    sessions = session_factory(engine)
    async with sessions() as s:
        _, rich, _ = await make_account(s)
        _, low, _ = await make_account(s)
        await ledger.post(s, rich.id, EntryKind.TOP_UP, 50_000, actor="t", memo="seed")
        await ledger.post(s, low.id, EntryKind.TOP_UP, 1_000, actor="t", memo="seed")
        await s.commit()
    assert (await sweep.run(sessions, settings, WEDNESDAY_8)).examined == 2
    # ¥500: a quarter of the ¥480 above ¥20 spent at ¥380; the low account has no line
    assert (await watch_of(engine, rich.id), await watch_of(engine, low.id)) == (38_000, None)

    async def change(account_id: int, fen: int) -> list[int]:
        async with sessions() as s:
            await ledger.post(s, account_id, EntryKind.ADJUSTMENT, fen, actor="t", memo="x")
            await s.commit()
        return await queued(engine)

    async def swept() -> int:
        return (await sweep.run(sessions, settings, WEDNESDAY_8)).examined

    assert await change(rich.id, -10_000) == []  # ¥500 → ¥400: above ¥380
    assert await change(low.id, -100) == [low.id]  # followed: every change counts
    assert await swept() == 1
    assert await change(rich.id, -2_500) == [rich.id]  # ¥375: a quarter spent
    assert await swept() == 1
    assert await watch_of(engine, rich.id) == 2_000 + 3 * 35_500 // 4  # the next quarter
    assert await change(rich.id, -34_000) == [rich.id]  # ¥35
    assert await swept() == 1
    assert await watch_of(engine, rich.id) == 4_000  # not low, within twice the ¥20 line
    assert await change(rich.id, -100) == [rich.id]  # so every change counts
    assert await swept() == 1
    assert await change(rich.id, 20_000) == [rich.id]  # a top-up from below the line
    assert await swept() == 1
    async with sessions() as s:
        await s.execute(update(Account).where(Account.id == rich.id).values(credit_limit_fen=500))
        await s.commit()
    assert await queued(engine) == [rich.id]


def test_the_watch_line_is_a_quarter_of_the_headroom_within_twice_the_warning_line(
    tmp_path: Path,
) -> None:
    settings = settings_for(tmp_path)  # ¥20, 3 days
    assert sweep.watch_line(settings, 50_000, 0, 0) == 2_000 + 3 * 48_000 // 4
    assert sweep.watch_line(settings, 3_000, 0, 0) == 4_000  # within twice ¥20
    # ¥10 a day: 3 days is ¥30, the warning line
    assert sweep.watch_line(settings, 100_000, 0, 1_000) == 3_000 + 3 * 97_000 // 4
    assert sweep.watch_line(settings, 6_500, 0, 1_000) == 6_000
    assert sweep.watch_line(settings, 2_500, 0, 333) == 4_000  # ¥9.99 a day: ¥20 decides
    assert sweep.watch_line(settings, 2_500, 0, 667) == 2 * 2_001
    off = settings_for(tmp_path, prepaid_low_balance_fen=0, prepaid_low_balance_days=0)
    assert sweep.watch_line(off, 0, 0, 1_000) == 1  # below zero: arrears
    assert sweep.watch_line(off, 0, -800, 0) == 800  # a negative credit limit: arrears below ¥8
    assert sweep.watch_line(off, 10_000, 0, 0) == 7_500


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_an_account_billed_while_the_sweep_examines_it_is_queued_again(
    engine: AsyncEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The line the sweep leaves is decided on the balance it read. One billing round commits
    a new balance after that read (its trigger judged it by the old line); another still
    holds its account when the sweep would write (its trigger will judge by whatever line it
    finds). Neither gets a line decided on a balance that is no longer there: both are queued
    again, keep their old line, and are examined in the next run — and the sweep never waits
    for billing's lock."""
    settings = settings_for(tmp_path)
    sessions = session_factory(engine)
    async with sessions() as s:
        made = [await make_account(s) for _ in range(3)]
        for _, account, _ in made:
            await ledger.post(s, account.id, EntryKind.TOP_UP, 50_000, actor="t", memo="seed")
        await s.commit()
    (_, moved, _), (_, held, _), (_, calm, _) = made
    assert (await sweep.run(sessions, settings, WEDNESDAY_8)).examined == 3  # lines: ¥380
    async with sessions() as s:  # each queued by something else (a relay read-back, say)
        await s.execute(insert(SweepQueueEntry), [{"account_id": a.id} for _, a, _ in made])
        await s.commit()
    decide = sweep._quiet
    billing = sessions()

    async def billed_meanwhile(*args: object) -> set[int]:
        quiet = await decide(*args)  # type: ignore[arg-type]
        async with sessions() as s:  # a round that commits after the sweep read the balance
            await ledger.post(s, moved.id, EntryKind.ADJUSTMENT, -5, actor="t", memo="kWh")
            await s.commit()
        await ledger.post(billing, held.id, EntryKind.ADJUSTMENT, -5, actor="t", memo="kWh")
        return quiet  # … and one that holds its account (until after the sweep)

    monkeypatch.setattr(sweep, "_quiet", billed_meanwhile)
    again = await sweep.run(sessions, settings, WEDNESDAY_8 + timedelta(minutes=1))
    assert again.examined == 3
    await billing.commit()
    await billing.close()
    monkeypatch.undo()
    assert sorted(await queued(engine)) == sorted([moved.id, held.id])
    assert [await watch_of(engine, a.id) for a in (moved, held, calm)] == [38_000] * 3
    assert (await sweep.run(sessions, settings, WEDNESDAY_8)).examined == 2
    assert await queued(engine) == []
