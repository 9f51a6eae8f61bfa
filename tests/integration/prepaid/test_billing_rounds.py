"""Set-based billing rounds on SQLite and PostgreSQL: a round of many accounts costs a bounded
number of statements, and posts exactly what billing the accounts one at a time posts."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from backend.accounts.models import Account
from backend.db import session_factory
from backend.metering import consumption
from backend.metering.models import Meter
from backend.prepaid import billing, bulk, ledger
from backend.prepaid.models import BillingState, Charge, LedgerEntry, SweepDue
from tests.support.prepaid_data import (
    TZ,
    add_readings,
    load_default_tariffs,
    local_ms,
    make_account,
)
from tests.support.statements import counted

HOUR = 3_600_000


async def accounts(session: AsyncSession, n: int) -> list[tuple[int, int]]:
    """n prepaid accounts of one meter each: (account id, meter pk)."""
    out = []
    for _ in range(n):
        _, account, meter = await make_account(session)
        out.append((account.id, meter.id))
    return out


def value(i: int, hour: int) -> int:
    """Register of meter i after ``hour`` hours: 300–1,300 Wh an hour, per meter and hour."""
    return sum(300 + (i * 37 + h * 101) % 1000 for h in range(hour))


async def read(engine: AsyncEngine, meters: list[int], hours: range) -> dict[int, int | None]:
    """Readings of these meters at these hours, committed and through consumption, as the
    derived-data path runs them before billing; returns what billing is told."""
    start = local_ms(2026, 5, 6)
    sessions = session_factory(engine)
    async with sessions() as s:
        for i, pk in enumerate(meters):
            await add_readings(s, pk, [(start + h * HOUR, value(i, h)) for h in hours])
        await s.commit()
    lo, hi = start + hours[0] * HOUR, start + hours[-1] * HOUR
    await consumption.on_readings_committed(
        sessions, [(pk, "energy_import", lo, hi) for pk in meters], timezone="Asia/Shanghai"
    )
    return dict.fromkeys(meters, lo)


async def test_a_billing_round_bills_many_accounts_in_a_bounded_number_of_statements(
    engine: AsyncEngine,
) -> None:
    sessions = session_factory(engine)
    async with sessions() as s:
        await load_default_tariffs(s)
        few, many = await accounts(s, 3), await accounts(s, 40)
        await s.commit()
    counts = []
    for group in (few, many):
        meters = [pk for _, pk in group]
        await billing.bill_meters(sessions, await read(engine, meters, range(3)), TZ)
        told = await read(engine, meters, range(3, 5))  # the round measured: appends
        with counted(engine) as statements:
            results = await billing.bill_meters(sessions, told, TZ)
        counts.append(len(statements))
        assert [(r.account_id, r.posted) for r in results] == [(a, 2) for a, _ in group]
    assert counts[0] == counts[1] <= 25, counts
    async with sessions() as s:
        for account_id, _ in few + many:
            balance = await s.scalar(select(Account.balance_fen).where(Account.id == account_id))
            assert balance == await ledger.ledger_sum(s, account_id) < 0
            charges = (
                await s.scalars(select(Charge.wh).where(Charge.account_id == account_id))
            ).all()
            assert len(charges) == 4


async def test_a_round_writes_its_charges_in_one_driver_call_stored_as_the_orm_stores_them(
    engine: AsyncEngine,
) -> None:
    """The charges go as plain tuples past SQLAlchemy's statement layer (COPY on PostgreSQL,
    one executemany on SQLite): no INSERT INTO charges among the round's statements, yet
    every charge is there, with its entry and its account, created when its entry was — the
    stored clock the same text or timestamp as the entry's, read back aware UTC."""
    sessions = session_factory(engine)
    async with sessions() as s:
        await load_default_tariffs(s)
        group = await accounts(s, 30)
        await s.commit()
    told = await read(engine, [pk for _, pk in group], range(4))
    with counted(engine) as statements:
        results = await billing.bill_meters(sessions, told, TZ)
    assert [(r.account_id, r.posted) for r in results] == [(a, 3) for a, _ in group]
    assert [q for q in statements if q.startswith("INSERT INTO charges")] == []
    async with sessions() as s:
        rows = (
            await s.execute(
                select(Charge, LedgerEntry)
                .join(LedgerEntry, LedgerEntry.id == Charge.entry_id)
                .order_by(Charge.account_id, Charge.start_ms)
            )
        ).all()
        assert len(rows) == 30 * 3
        # the entry's key is the charge's only one: its account and meter are the round's
        assert {(c.account_id, c.meter_pk) for c, _ in rows} == set(group)
        for charge, entry in rows:
            assert charge.account_id == entry.account_id
            assert charge.created_at == entry.created_at
            assert charge.created_at.utcoffset() is not None
            assert charge.reversed_at is None
        same_clock = await s.scalar(
            select(func.count())
            .select_from(Charge)
            .join(LedgerEntry, LedgerEntry.id == Charge.entry_id)
            .where(Charge.created_at == LedgerEntry.created_at)
        )
        assert same_clock == 30 * 3
        for account_id, _ in group:
            balance = await s.scalar(select(Account.balance_fen).where(Account.id == account_id))
            assert balance == await ledger.ledger_sum(s, account_id) < 0


async def test_a_round_walks_each_chain_from_its_last_charge_before_the_new_readings(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not the whole day again: an account of one meter walks its chain from the end of its
    last live charge before its earliest new reading — its billed-through point when the new
    readings come after it; for a late reading, the charge end just before it (and re-rates)."""
    sessions = session_factory(engine)
    async with sessions() as s:
        await load_default_tariffs(s)
        group = await accounts(s, 5)
        await s.commit()
    meters = [pk for _, pk in group]
    await billing.bill_meters(sessions, await read(engine, meters, range(6)), TZ, rerate=False)
    walked: list[int] = []
    real_chain = bulk.chain

    def chain(base: Any, points: Any, *args: Any) -> Any:
        points = list(points)
        walked.append(len(points))
        return real_chain(base, points, *args)

    monkeypatch.setattr(bulk, "chain", chain)
    told = await read(engine, meters, range(6, 8))
    results = await billing.bill_meters(sessions, told, TZ, rerate=False)
    assert [(r.account_id, r.posted) for r in results] == [(a, 2) for a, _ in group]
    assert walked == [2] * 5  # the two new readings, not the day's seven again
    walked.clear()
    start = local_ms(2026, 5, 6)
    async with sessions() as s:  # a late reading at 03:30 between two billed ones
        await add_readings(s, meters[0], [(start + 3 * HOUR + HOUR // 2, value(0, 3) + 100)])
        await s.commit()
    late = start + 3 * HOUR + HOUR // 2
    await consumption.on_readings_committed(
        sessions, [(meters[0], "energy_import", late, late)], timezone="Asia/Shanghai"
    )
    results = await billing.bill_meters(sessions, {meters[0]: late}, TZ, rerate=False)
    assert walked == [5]  # from 03:00: 03:30 (late), 04:00, 05:00, 06:00, 07:00
    assert results[0].reversed >= 1
    async with sessions() as s:
        balance = await s.scalar(select(Account.balance_fen).where(Account.id == group[0][0]))
        assert balance == await ledger.ledger_sum(s, group[0][0]) < 0


async def ledger_of(session: AsyncSession, account_id: int) -> dict[str, Any]:
    """What billing wrote for an account, without ids and clocks."""
    entries = (
        await session.execute(
            select(
                LedgerEntry.kind, LedgerEntry.amount_fen, LedgerEntry.balance_after_fen,
                LedgerEntry.exact_cny, LedgerEntry.memo, LedgerEntry.memo_code,
                LedgerEntry.memo_params, LedgerEntry.actor,
            )
            .where(LedgerEntry.account_id == account_id)
            .order_by(LedgerEntry.id)
        )
    ).all()  # fmt: skip
    charges = (
        await session.execute(
            select(Charge.start_ms, Charge.end_ms, Charge.wh, Charge.exact_cny, Charge.lines)
            .where(Charge.account_id == account_id)
            .order_by(Charge.start_ms, Charge.meter_pk)
        )
    ).all()
    state = await session.get(BillingState, account_id)
    assert state is not None
    return {
        "entries": [tuple(e) for e in entries],
        "charges": [tuple(c) for c in charges],
        "state": (state.exact_total_cny, state.posted_fen, state.billed_through_ms),
        "balance": await session.scalar(
            select(Account.balance_fen).where(Account.id == account_id)
        ),
    }


async def test_a_set_based_round_posts_what_billing_one_account_at_a_time_posts(
    engine: AsyncEngine,
) -> None:
    """Twins: the same readings on two sets of accounts, one billed in rounds, the other one
    account at a time; tiers crossed (one meter uses 3,000 kWh in an hour), a refused drop,
    an account with two meters, and rounds that append."""
    sessions = session_factory(engine)
    start = local_ms(2026, 5, 6)
    async with sessions() as s:
        await load_default_tariffs(s)
        twins = (await accounts(s, 4), await accounts(s, 4))
        seconds: list[int] = []
        for account_id, _ in (twins[0][3], twins[1][3]):  # a second meter on the last account
            customer_id = await s.scalar(
                select(Account.customer_id).where(Account.id == account_id)
            )
            meter = Meter(
                meter_id=f"second-{account_id}", agent_id="agent-1", customer_id=customer_id,
                account_id=account_id, protocol="dlt645",
            )  # fmt: skip
            s.add(meter)
            await s.flush()
            seconds.append(meter.id)
        await s.commit()

    def points(i: int, hours: range) -> list[tuple[int, int]]:
        out = [(start + h * HOUR, value(i, h)) for h in hours]
        if i == 1:  # 3,000 kWh in the second hour: the next tiers
            out = [(ts, v + (3_000_000 if ts >= start + 2 * HOUR else 0)) for ts, v in out]
        if i == 2 and 3 in hours:  # a drop at hour 3: refused, the chain goes on
            out = [(ts, v - 5_000 if ts == start + 3 * HOUR else v) for ts, v in out]
        return out

    for hours in (range(3), range(3, 5), range(5, 8)):
        async with sessions() as s:
            for group, second in zip(twins, seconds, strict=True):
                for i, (_, pk) in enumerate(group):
                    await add_readings(s, pk, points(i, hours))
                await add_readings(s, second, points(7, hours))
            await s.commit()
        lo, hi = start + hours[0] * HOUR, start + hours[-1] * HOUR
        meters = [pk for group in twins for _, pk in group] + seconds
        await consumption.on_readings_committed(
            sessions, [(pk, "energy_import", lo, hi) for pk in meters], timezone="Asia/Shanghai"
        )
        in_rounds = [pk for _, pk in twins[0]] + [seconds[0]]
        await billing.bill_meters(sessions, dict.fromkeys(in_rounds, lo), TZ)
        for account_id, pk in twins[1]:
            for meter_pk in (pk, seconds[1]) if account_id == twins[1][3][0] else (pk,):
                async with sessions() as s:
                    await billing.bill_account(s, account_id, TZ, meter_pk=meter_pk, min_ts=lo)
                    await s.commit()
    async with sessions() as s:
        for (a, _), (b, _) in zip(*twins, strict=True):
            ours, theirs = await ledger_of(s, a), await ledger_of(s, b)
            assert ours == theirs
            assert ours["balance"] == await ledger.ledger_sum(s, a) < 0
            assert len(ours["entries"]) == 3  # one entry per account per round


async def test_the_tier_counters_are_kept_in_the_billing_state_and_summed_again_after_re_rating(
    engine: AsyncEngine,
) -> None:
    sessions = session_factory(engine)
    start = local_ms(2026, 5, 6)
    async with sessions() as s:
        await load_default_tariffs(s)
        [(account_id, meter_pk)] = await accounts(s, 1)
        await s.commit()

    async def kept() -> dict[str, Any]:
        async with sessions() as s:
            state = await s.get(BillingState, account_id)
            assert state is not None
            used = await billing.used_by_cycle(s, account_id)
            counters = None if state.tier_counters is None else json.loads(state.tier_counters)
            return {"kept": counters, "summed": {d.isoformat(): n for d, n in used.items()}}

    await billing.bill_meters(sessions, await read(engine, [meter_pk], range(3)), TZ)
    first = await kept()
    assert first["kept"] == first["summed"] == {"2026-01-01": value(0, 2)}
    told = await read(engine, [meter_pk], range(3, 5))
    with counted(engine) as statements:
        await billing.bill_meters(sessions, told, TZ)
    assert not [q for q in statements if "charges.lines" in q]  # not summed from the charges
    second = await kept()
    assert second["kept"] == second["summed"] == {"2026-01-01": value(0, 4)}
    # a late reading inside a billed interval: re-rated (reversals), the counters summed again
    async with sessions() as s:
        await add_readings(s, meter_pk, [(start + HOUR + HOUR // 2, value(0, 1) + 100)])
        await s.commit()
    late = start + HOUR + HOUR // 2
    await consumption.on_readings_committed(
        sessions, [(meter_pk, "energy_import", late, late)], timezone="Asia/Shanghai"
    )
    await billing.bill_meters(sessions, {meter_pk: late}, TZ)
    assert (await kept())["kept"] is None
    await billing.bill_meters(sessions, await read(engine, [meter_pk], range(5, 6)), TZ)
    third = await kept()
    assert third["kept"] == third["summed"] == {"2026-01-01": value(0, 5)}


async def test_an_announcement_of_readings_already_billed_prices_only_the_new_intervals(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A backlog's rounds overlap (a round bills readings committed after its announcement;
    the next announcement names them again): the charges stand without being priced again,
    and the ledger is what pricing everything again gives."""
    sessions = session_factory(engine)
    start = local_ms(2026, 5, 6)
    async with sessions() as s:
        await load_default_tariffs(s)
        (a, a_meter), (b, b_meter) = await accounts(s, 2)
        await s.commit()
    priced: list[int] = []
    rate = billing.rate_interval

    def spy(*args: Any) -> Any:
        priced.append(args[3])  # the interval's start
        return rate(*args)

    monkeypatch.setattr(billing, "rate_interval", spy)
    for hours in (range(4), range(4, 6)):
        for meter_pk in (a_meter, b_meter):  # the same readings on both
            await read(engine, [meter_pk], hours)
        told = start + max(hours[0] - 2, 0) * HOUR  # the second names hours 2 and 3 again
        priced.clear()
        newest = start + hours[-1] * HOUR
        await billing.on_readings_committed(
            sessions, [(a_meter, "energy_import", told, newest)], TZ
        )
        assert priced == [start + h * HOUR for h in range(max(hours[0] - 1, 0), hours[-1])]
        await billing.bill_meters(sessions, {b_meter: told}, TZ)  # re-rates from there
    async with sessions() as s:
        ours, theirs = await ledger_of(s, a), await ledger_of(s, b)
        assert ours == theirs
        assert len(ours["entries"]) == 2  # one a round


async def test_a_round_bills_each_chain_up_to_the_last_reading_announced_so_the_next_appends(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A backlog: a round is told of readings while later ones are committed already. It
    bills each chain up to the last reading announced to it, as consumption read it; the next
    round, told of the later ones, appends them without reading the account's charges. Billed
    to the end of what was committed, the next round found its earliest new reading billed
    already and read the account's stretch of charges to compare (every sub-round of
    ``bench/meter_to_ledger.py`` in the runs where a round read ahead)."""
    sessions = session_factory(engine)
    start = local_ms(2026, 5, 6)
    async with sessions() as s:
        await load_default_tariffs(s)
        group = await accounts(s, 3)
        await s.commit()
    meters = [pk for _, pk in group]
    await read(engine, meters, range(4))
    async with sessions() as s:  # committed, not yet announced: the next batch of the backlog
        for i, pk in enumerate(meters):
            await add_readings(s, pk, [(start + h * HOUR, value(i, h)) for h in range(4, 8)])
        await s.commit()
    told = [(pk, "energy_import", start, start + 3 * HOUR) for pk in meters]
    with consumption.round_points(later=lambda _chain: True):  # the next batch is queued
        await billing.on_readings_committed(sessions, told, TZ)
    async with sessions() as s:
        through = await s.scalars(select(BillingState.billed_through_ms))
        assert set(through) == {start + 3 * HOUR}
    compared: list[dict[int, int]] = []
    stretches = bulk.stretches

    async def spy(session: AsyncSession, from_ms: dict[int, int]) -> Any:
        compared.append(from_ms)
        return await stretches(session, from_ms)

    monkeypatch.setattr(bulk, "stretches", spy)
    lo, hi = start + 4 * HOUR, start + 7 * HOUR
    await consumption.on_readings_committed(
        sessions, [(pk, "energy_import", lo, hi) for pk in meters], timezone="Asia/Shanghai"
    )
    await billing.on_readings_committed(
        sessions, [(pk, "energy_import", lo, hi) for pk in meters], TZ
    )
    assert compared == [{}]
    async with sessions() as s:
        for account_id, _ in group:
            state = await s.get(BillingState, account_id)
            assert state is not None
            assert state.billed_through_ms == hi
            balance = await s.scalar(select(Account.balance_fen).where(Account.id == account_id))
            assert balance == await ledger.ledger_sum(s, account_id) < 0


async def test_the_same_round_twice_in_parallel_charges_each_interval_once(
    engine: AsyncEngine,
) -> None:
    sessions = session_factory(engine)
    async with sessions() as s:
        await load_default_tariffs(s)
        group = await accounts(s, 20)
        await s.commit()
    meters = [pk for _, pk in group]
    for hours in (range(3), range(3, 6)):
        told = await read(engine, meters, hours)
        await asyncio.gather(*(billing.bill_meters(sessions, told, TZ) for _ in range(2)))
    async with sessions() as s:
        for i, (account_id, _) in enumerate(group):
            charges = (
                await s.scalars(
                    select(Charge.wh).where(
                        Charge.account_id == account_id, Charge.reversed_at.is_(None)
                    )
                )
            ).all()
            assert sum(charges) == value(i, 5)  # every interval charged once
            balance = await s.scalar(select(Account.balance_fen).where(Account.id == account_id))
            assert balance == await ledger.ledger_sum(s, account_id) < 0
            state = await s.get(BillingState, account_id)
            assert state is not None
            assert -balance == state.posted_fen


async def three_rounds_of_two(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch, hours: range
) -> tuple[Any, list[tuple[int, int]], dict[int, int | None]]:
    """Five accounts of one meter, their readings at these hours through consumption, and
    rounds of two accounts: three rounds. Returns the sessions, the accounts, what billing is
    told."""
    monkeypatch.setattr(billing, "ACCOUNTS_PER_TRANSACTION", 2)
    sessions = session_factory(engine)
    async with sessions() as s:
        await load_default_tariffs(s)
        group = await accounts(s, 5)
        await s.commit()
    return sessions, group, await read(engine, [pk for _, pk in group], hours)


async def test_on_postgresql_two_rounds_are_in_flight_at_once_on_sqlite_one_after_another(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL: while one round's writes run in the server the next is read and priced
    (``CONCURRENT_ROUNDS``), on disjoint accounts; an account's meters stay in one round.
    SQLite, one writer: one round at a time. Either way every account is billed once."""
    sessions, group, told = await three_rounds_of_two(engine, monkeypatch, range(4))
    postgres = engine.dialect.name == "postgresql"
    inside, most, both = 0, 0, asyncio.Event()
    real = billing._round

    async def round_(*args: Any, **kwargs: Any) -> Any:
        nonlocal inside, most
        inside += 1
        most = max(most, inside)
        if inside == 2:
            both.set()
        try:
            if postgres:  # the first round waits here until the second has started
                await asyncio.wait_for(both.wait(), 10)
            return await real(*args, **kwargs)
        finally:
            inside -= 1

    monkeypatch.setattr(billing, "_round", round_)
    results = await billing.bill_meters(sessions, told, TZ)
    assert most == (2 if postgres else 1)
    assert sorted((r.account_id, r.posted) for r in results) == [(a, 3) for a, _ in group]
    async with sessions() as s:
        for account_id, _ in group:
            balance = await s.scalar(select(Account.balance_fen).where(Account.id == account_id))
            assert balance == await ledger.ledger_sum(s, account_id) < 0
            assert (
                await s.scalar(
                    select(func.count()).select_from(Charge).where(Charge.account_id == account_id)
                )
                == 3
            )


async def test_a_round_that_cannot_commit_raises_its_own_error_to_the_caller(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rounds run as tasks; the caller (the derived-data path, a re-rating request) still
    gets the error itself, not a group of them."""
    sessions, group, told = await three_rounds_of_two(engine, monkeypatch, range(2))
    real = billing._bill_round

    async def bill_round(sessions_: Any, pairs: Any, *args: Any, **kwargs: Any) -> Any:
        if pairs[0][0] == group[2][0]:
            raise ConnectionResetError("the database went away")
        return await real(sessions_, pairs, *args, **kwargs)

    monkeypatch.setattr(billing, "_bill_round", bill_round)
    with pytest.raises(ConnectionResetError, match="went away"):
        await billing.bill_meters(sessions, told, TZ)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_billings_account_locks_and_the_sweeps_key_checks_do_not_wait_for_each_other(
    engine: AsyncEngine,
) -> None:
    """The sweep upserts each examined account's next due time (a foreign key to the account:
    PostgreSQL checks it under FOR KEY SHARE) in queue order, several accounts a transaction;
    billing locks its accounts in id order. Under FOR UPDATE each waited for the other — a
    deadlock once the sweep ran beside billing. Billing changes no key: FOR NO KEY UPDATE
    does not conflict with a key check (each step below would wait forever under FOR UPDATE;
    the bound only fails the test instead of hanging it)."""
    sessions = session_factory(engine)
    async with sessions() as s:
        (first, _), (second, _) = await accounts(s, 2)
        await s.commit()

    def due(account_id: int) -> Any:
        stmt = pg_insert(SweepDue).values(account_id=account_id, due_ms=1)
        return stmt.on_conflict_do_update(index_elements=["account_id"], set_={"due_ms": 2})

    async with sessions() as sweeping, sessions() as billing_session:
        await sweeping.execute(due(second))  # the sweep's transaction checks the second's key
        held = await asyncio.wait_for(bulk.lock(billing_session, [first, second]), 10)
        assert sorted(held) == [first, second]
        await asyncio.wait_for(sweeping.execute(due(first)), 10)
        await sweeping.commit()
        await billing_session.commit()


async def test_a_late_reading_is_billed_through_to_the_reading_after_it_already_followed(
    engine: AsyncEngine,
) -> None:
    """A meter's newest reading first, then its backfill, each announced alone: the last
    late reading closes the interval to the newest, followed before and never announced
    again. With no later round for the chain a round bills to the end of what is committed;
    stopped at its announcement, that interval was never billed (found by the ledger's
    property test: ¥0 billed for a curve worth ¥0.0004883)."""
    sessions = session_factory(engine)
    start = local_ms(2026, 5, 6)
    async with sessions() as s:
        await load_default_tariffs(s)
        ((account_id, pk),) = await accounts(s, 1)
        await s.commit()
    curve = [(start + h * HOUR, value(0, h)) for h in range(5)]
    for ts, v in [curve[-1], *curve[:-1]]:
        async with sessions() as s:
            await add_readings(s, pk, [(ts, v)])
            await s.commit()
        await billing.on_readings_committed(sessions, [(pk, "energy_import", ts, ts)], TZ)
    async with sessions() as s:
        state = await s.get(BillingState, account_id)
        assert state is not None
        assert state.billed_through_ms == curve[-1][0]
        wh = await s.scalars(
            select(Charge.wh).where(Charge.account_id == account_id, Charge.reversed_at.is_(None))
        )
        assert sum(wh) == curve[-1][1] - curve[0][1]
