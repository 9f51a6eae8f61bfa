"""Metering's derived-data path: an announcement runs consumption once, then the followers
(billing) — queued for ingestion, which never waits, and at once for a field reading."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from backend.accounts.models import Account
from backend.db import session_factory
from backend.field.readings import feed
from backend.metering import consumption
from backend.metering.derived import AffectedInterval, DerivedData, intervals_from
from backend.metering.models import ConsumptionDaily
from backend.prepaid import billing, ledger
from backend.prepaid.models import Charge
from tests.support.ingest_agent import until
from tests.support.prepaid_data import add_readings, load_default_tariffs, local_ms, make_account
from tests.support.statements import counted

KEY = "energy_import"


async def _days(sessions, meter_pk: int) -> int:  # type: ignore[no-untyped-def]
    async with sessions() as s:
        n = await s.scalar(
            select(func.count())
            .select_from(ConsumptionDaily)
            .where(ConsumptionDaily.meter_pk == meter_pk)
        )
        return int(n or 0)


async def _charges(sessions, account_id: int) -> int:  # type: ignore[no-untyped-def]
    async with sessions() as s:
        n = await s.scalar(
            select(func.count()).select_from(Charge).where(Charge.account_id == account_id)
        )
        return int(n or 0)


async def _setup(engine):  # type: ignore[no-untyped-def]
    sessions = session_factory(engine)
    async with sessions() as s:
        _, account, meter = await make_account(s)
        await load_default_tariffs(s)
        at = [local_ms(2026, 5, 6, 10), local_ms(2026, 5, 6, 11)]
        await add_readings(s, meter.id, [(at[0], 1_000), (at[1], 3_000)])
        await s.commit()
    return sessions, account.id, meter.id, at


async def test_an_ingestion_announcement_is_queued_then_consumption_runs_once_then_billing(
    engine,
) -> None:
    sessions, account_id, meter_pk, at = await _setup(engine)
    seen_by_billing: list[int] = []

    async def follower(sessions_, spans, tz):  # type: ignore[no-untyped-def]
        seen_by_billing.append(await _days(sessions_, meter_pk))  # consumption ran before
        return await billing.on_readings_committed(sessions_, spans, tz)

    derived = DerivedData(sessions, "Asia/Shanghai", [follower])
    await derived.announce(intervals_from([(meter_pk, KEY, ts) for ts in at]))
    # ingestion's call returned with nothing done: it never waits for consumption or billing
    assert (derived.rounds, await _days(sessions, meter_pk)) == (0, 0)
    await derived.drain()
    assert derived.rounds == 1
    assert seen_by_billing == [1]
    assert await _charges(sessions, account_id) == 1


async def test_a_field_reading_runs_consumption_once_at_once_and_billing_follows(engine) -> None:
    sessions, account_id, meter_pk, at = await _setup(engine)
    derived = DerivedData(sessions, "Asia/Shanghai", [billing.on_readings_committed])
    await feed.committed(derived, meter_pk, at[1], [KEY])
    # the inspector's next request sees the consumption already; billing is queued
    assert (derived.rounds, await _days(sessions, meter_pk)) == (1, 1)
    assert await _charges(sessions, account_id) == 0
    await derived.drain()
    assert derived.rounds == 1  # consumption is not run a second time for billing
    assert await _charges(sessions, account_id) == 1


async def test_while_ingestion_is_behind_a_round_waits_for_its_batches_and_takes_them_together(
    engine,
) -> None:
    """A backlog draining: its batches' chains are followed in one round, not one round a
    batch (each round bills a chain anew); once ingestion has caught up the round starts."""
    sessions, _account_id, meter_pk, at = await _setup(engine)
    followed: list[list[tuple[int, str, int, int]]] = []

    async def follower(_sessions, spans, _tz):  # type: ignore[no-untyped-def]
        followed.append(spans)

    behind = True
    derived = DerivedData(sessions, "Asia/Shanghai", [follower], behind=lambda: behind, hold_s=600)
    derived.start()
    try:
        await derived.announce(intervals_from([(meter_pk, KEY, at[0])]))
        await until(lambda: bool(derived.held or derived.rounds), 10, "the round to start or hold")
        await derived.announce(intervals_from([(meter_pk, KEY, at[1])]))  # the next batch
        behind = False  # the last batch took what was left
        await asyncio.wait_for(derived.settled(), 10)
    finally:
        await derived.stop()
    assert followed == [[(meter_pk, KEY, at[0], at[1])]]
    assert (derived.held, derived.rounds) == (1, 1)


async def test_a_round_held_for_a_backlog_starts_after_hold_s_even_if_it_never_ends(
    engine,
) -> None:
    sessions, account_id, meter_pk, at = await _setup(engine)
    derived = DerivedData(
        sessions, "Asia/Shanghai", [billing.on_readings_committed], behind=lambda: True,
        hold_s=0.1,
    )  # fmt: skip
    derived.start()
    try:
        await derived.announce(intervals_from([(meter_pk, KEY, ts) for ts in at]))
        await asyncio.wait_for(derived.settled(), 10)  # not held forever by an endless backlog
    finally:
        await derived.stop()
    assert derived.held == 1
    assert await _charges(sessions, account_id) == 1


async def test_stopping_ends_a_held_round_and_follows_what_it_held(engine) -> None:
    """Shutdown does not wait out a backlog's hold: what was announced is followed."""
    sessions, _account_id, meter_pk, at = await _setup(engine)
    followed: list[list[tuple[int, str, int, int]]] = []

    async def follower(_sessions, spans, _tz):  # type: ignore[no-untyped-def]
        followed.append(spans)

    derived = DerivedData(sessions, "Asia/Shanghai", [follower], behind=lambda: True, hold_s=600)
    derived.start()
    await derived.announce(intervals_from([(meter_pk, KEY, at[0])]))
    await until(lambda: derived.held == 1, 10, "the round to hold")
    task = derived._task
    assert task is not None
    await asyncio.wait_for(derived.stop(), 10)
    # the path's task ended of itself, not cancelled by a stop that gave up waiting for it
    assert task.done()
    assert not task.cancelled()
    assert followed == [[(meter_pk, KEY, at[0], at[0])]]


HOUR = 3_600_000


def _register(hours: range) -> list[tuple[int, int]]:
    """A meter's energy register at these hours of 6 May (local), 400–1,300 Wh an hour."""
    start = local_ms(2026, 5, 6)
    return [(start + h * HOUR, sum(400 + (k * 317) % 900 for k in range(h))) for h in hours]


async def _twins(engine, n: int):  # type: ignore[no-untyped-def]
    """n accounts of one meter each, every meter with the same readings: (account, meter)."""
    sessions = session_factory(engine)
    out = []
    async with sessions() as s:
        await load_default_tariffs(s)
        for _ in range(n):
            _, account, meter = await make_account(s)
            await add_readings(s, meter.id, _register(range(0, 12, 2)))
            out.append((account.id, meter.id))
        await s.commit()
    return sessions, out


async def _bill(sessions, account_id: int):  # type: ignore[no-untyped-def]
    """An account's live charges (interval, Wh, exact amount, lines) and whether its balance
    is the sum of its ledger."""
    async with sessions() as s:
        live = (
            await s.execute(
                select(Charge.start_ms, Charge.end_ms, Charge.wh, Charge.exact_cny, Charge.lines)
                .where(Charge.account_id == account_id, Charge.reversed_at.is_(None))
                .order_by(Charge.start_ms)
            )
        ).all()
        balance = await s.scalar(select(Account.balance_fen).where(Account.id == account_id))
        return [tuple(c) for c in live], balance == await ledger.ledger_sum(s, account_id)


async def test_a_backlog_is_followed_in_rounds_of_a_bounded_share_oldest_chains_first(
    engine,
) -> None:
    """A round takes chains up to ``max_readings`` announced readings (at least one chain),
    in the order first announced; the next round starts at once with what it left, so a
    chain announced again waits behind those still queued, and none waits forever."""
    sessions, _account_id, meter_pk, at = await _setup(engine)
    followed: list[list[int]] = []

    async def follower(_sessions, spans, _tz):  # type: ignore[no-untyped-def]
        followed.append([pk for pk, *_ in spans])

    derived = DerivedData(sessions, "Asia/Shanghai", [follower], max_readings=5)

    def chain(pk: int, readings: int) -> AffectedInterval:
        return AffectedInterval(pk, KEY, at[0], at[1], readings)

    await derived.announce([chain(meter_pk + 3, 3), chain(meter_pk + 1, 3), chain(meter_pk, 3)])
    await derived.drain()  # 3 + 3 would pass 5: one chain
    await derived.announce([chain(meter_pk + 3, 3), chain(meter_pk + 2, 50)])
    await derived.drain()
    assert not derived.is_settled
    derived.start()  # the rest, with nothing new announced: the rounds go on by themselves
    try:
        await asyncio.wait_for(derived.settled(), 10)
    finally:
        await derived.stop()
    assert followed == [[meter_pk + 3], [meter_pk + 1], [meter_pk], [meter_pk + 3],
                        [meter_pk + 2]]  # fmt: skip
    assert (derived.rounds, derived.failures) == (5, 0)


async def test_billing_walks_the_chains_consumption_read_in_the_same_round_without_reading_again(
    engine,
) -> None:
    """One read of the readings a round: billing's walks take the chains consumption has just
    read, and bill what billing alone, reading them itself, bills."""
    sessions, (ours, twin) = await _twins(engine, 2)
    first, last = _register(range(0, 12, 2))[0][0], _register(range(0, 12, 2))[-1][0]
    derived = DerivedData(sessions, "Asia/Shanghai", [billing.on_readings_committed])
    await derived.announce([(ours[1], KEY, first, last)])
    with counted(engine) as statements:
        await derived.drain()
    assert len([q for q in statements if "FROM readings" in q]) == 1, statements
    # the twin, billed outside a round: consumption, then billing reading the chain itself
    told = [(twin[1], KEY, first, last)]
    await consumption.on_readings_committed(sessions, told, timezone="Asia/Shanghai")
    await billing.on_readings_committed(sessions, told, derived.zone)
    ours_bill, twin_bill = await _bill(sessions, ours[0]), await _bill(sessions, twin[0])
    assert len(ours_bill[0]) == 5
    assert ours_bill == twin_bill
    assert ours_bill[1] is True


async def test_a_reading_committed_between_consumption_and_billing_is_billed_by_the_next_round(
    engine,
) -> None:
    """Billing walks the chain as consumption read it; a reading committed after that read —
    here a late one between two it read, and one after them all, committed as a batch of
    ingestion's would be while consumption's round was running — is announced and billed by the
    next round: the live charges are those of every reading, the ledger their sum."""
    sessions, (ours, twin) = await _twins(engine, 2)
    more = [_register(range(5, 6))[0], _register(range(12, 13))[0]]  # 05:00, 12:00
    sneaked: list[int] = []

    async def commit_more(sessions_, spans, tz):  # type: ignore[no-untyped-def]
        if not sneaked:
            sneaked.append(1)
            async with sessions_() as s:
                await add_readings(s, ours[1], more)
                await s.commit()
            await derived.announce(intervals_from([(ours[1], KEY, ts) for ts, _ in more]))

    derived = DerivedData(sessions, "Asia/Shanghai", [commit_more, billing.on_readings_committed])
    first, last = _register(range(0, 12, 2))[0][0], _register(range(0, 12, 2))[-1][0]
    derived.start()
    try:
        await derived.announce([(ours[1], KEY, first, last)])
        await asyncio.wait_for(derived.settled(), 30)
    finally:
        await derived.stop()
    assert derived.rounds == 2
    async with sessions() as s:  # the twin has every reading from the start
        await add_readings(s, twin[1], more)
        await s.commit()
    told = [(twin[1], KEY, first, more[-1][0])]
    await consumption.on_readings_committed(sessions, told, timezone="Asia/Shanghai")
    await billing.on_readings_committed(sessions, told, derived.zone)
    ours_bill, twin_bill = await _bill(sessions, ours[0]), await _bill(sessions, twin[0])
    assert len(ours_bill[0]) == 7  # 00, 02, 04, 05, 06, 08, 10, 12: seven intervals
    assert ours_bill == twin_bill
    assert ours_bill[1] is True


async def test_caught_up_waits_for_a_chain_announced_again_during_the_round_in_progress(
    engine,
) -> None:
    """What was announced before the call is followed when it returns: a chain of the round
    in progress announced again meanwhile waits for its next round, not the end of this one;
    what is announced after the call is not waited for."""
    sessions, _account_id, meter_pk, at = await _setup(engine)
    entered: asyncio.Queue[list[int]] = asyncio.Queue()
    rounds = asyncio.Semaphore(0)

    async def follower(_sessions, spans, _tz):  # type: ignore[no-untyped-def]
        await entered.put([ts for *_, ts in spans])
        await rounds.acquire()

    derived = DerivedData(sessions, "Asia/Shanghai", [follower])
    derived.start()
    try:
        await derived.announce(intervals_from([(meter_pk, KEY, at[0])]))
        assert await asyncio.wait_for(entered.get(), 30) == [at[0]]
        await derived.announce(intervals_from([(meter_pk, KEY, at[1])]))  # the same chain
        caught_up = asyncio.create_task(derived.caught_up())
        await until(lambda: bool(derived._waiters), 30, "the call to wait")  # round 1 on
        rounds.release()
        assert await asyncio.wait_for(entered.get(), 30) == [at[1]]  # its next round
        assert not caught_up.done()
        await derived.announce(intervals_from([(meter_pk + 1, KEY, at[1])]))  # after the call
        rounds.release()
        await asyncio.wait_for(caught_up, 30)
        assert not derived.is_settled  # the later announcement is still being followed
    finally:
        for _ in range(5):
            rounds.release()
        await derived.stop()


async def test_a_round_stops_a_chain_at_its_announcement_only_when_it_is_queued_again(
    engine,
) -> None:
    """Inside a round, consumption and billing read a chain up to its last reading announced
    only if the path will follow it again (announced meanwhile): the next round reads on. A
    chain not queued again is read to the end of what is committed (a late reading's interval
    to the reading after it, followed before, is never announced again)."""
    sessions, _account_id, meter_pk, at = await _setup(engine)
    seen: list[dict[tuple[int, str], int]] = []
    entered, release = asyncio.Event(), asyncio.Event()
    again, alone = (meter_pk, KEY), (meter_pk + 1, KEY)

    async def follower(_sessions, _spans, _tz):  # type: ignore[no-untyped-def]
        entered.set()
        await release.wait()
        seen.append(consumption.bounded({again: at[0], alone: at[0]}))

    derived = DerivedData(sessions, "Asia/Shanghai", [follower])
    derived.start()
    try:
        await derived.announce(intervals_from([(meter_pk, KEY, at[0]), (meter_pk + 1, KEY, at[0])]))
        await asyncio.wait_for(entered.wait(), 30)
        await derived.announce(intervals_from([(meter_pk, KEY, at[1])]))  # queued again
        release.set()
        await asyncio.wait_for(derived.settled(), 30)
    finally:
        release.set()
        await derived.stop()
    assert seen[0] == {again: at[0]}
    assert consumption.bounded({again: at[0]}) == {}  # outside a round: nothing is bounded
