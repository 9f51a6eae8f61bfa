"""The incremental prepaid sweep: only the accounts whose verdict may have changed, in short
transactions, yielding between them (docs/prepaid.md, "The sweep").

An account is examined (``engine.sweep`` on it) when

* one of its inputs changed: triggers (migration 0012) queue it in ``prepaid_sweep_queue``
  whenever its balance (a healthy account's only from or to below the watch line the sweep
  left it, 0044: ``watch_line``), credit limit or kind, one of its meters' relay state, status or
  account, its customer's protected flag or key-account class, a command's state changes, or
  a disconnect warning is delivered; new accounts and meters are queued on insert;
* time alone may change its verdict (``prepaid_sweep_due``): the warning's lead time passing
  or the disconnect window opening (``Decision.next_allowed_at``), recent charges ageing out
  of the spend rate that decides the days left, and at the latest ``RECHECK`` after the last
  look, a safety net that costs 200,000 accounts about 2 examinations a second;
* the settings the policy decides with changed since the last sweep (every prepaid account).

Each transaction examines at most ``BATCH`` accounts, and commits sooner once it has run
``BUDGET_S``: examine, set the next due times, delete exactly the queue entries read (an entry a
concurrent transaction adds meanwhile stays for the next run). Between transactions the sweep
yields, so logins, top-ups and readings never wait longer than one short transaction (on SQLite,
whose writers take turns) or not at all (PostgreSQL).
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import time as clock
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, Decimal

from sqlalchemy import Select, Table, bindparam, delete, func, insert, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.accounts.models import Account, AccountKind
from backend.db import among
from backend.metering.models import Meter, MeterStatus
from backend.prepaid import engine, spend
from backend.prepaid.models import (
    Charge,
    SweepConfig,
    SweepDue,
    SweepQueueEntry,
    WarningEpisode,
)
from backend.settings import Settings
from backend.types import to_epoch_ms
from protocols.contract import RelayState

BATCH = 500  # accounts per transaction at most
BUDGET_S = 0.2  # … and a transaction commits once it has run this long
STEP = 25  # accounts examined between two looks at the clock
SQLITE_PAUSE_S = 0.05  # between two transactions on SQLite (see ``run``)
RECHECK = timedelta(hours=24)


@dataclass
class RunResult:
    examined: int = 0  # prepaid accounts examined
    batches: int = 0
    longest_batch_s: float = 0.0  # the longest transaction
    disconnects: list[str] = field(default_factory=list)
    seconds: float = 0.0


def fingerprint(settings: Settings) -> str:
    """What the verdicts depend on besides the accounts: a change re-examines every account."""
    config = engine.policy_config(settings)
    parts = (
        settings.prepaid_low_balance_fen, settings.prepaid_low_balance_days,
        settings.prepaid_auto_disconnect, settings.prepaid_notice_channels,
        settings.command_ttl_minutes, config.tz, config.window_start, config.window_end,
        config.warning_lead_hours, sorted(config.calendar.holidays),
        sorted(config.calendar.workdays),
    )  # fmt: skip
    return hashlib.sha256(repr(parts).encode()).hexdigest()


async def _settings_changed(sessions: async_sessionmaker[AsyncSession], settings: Settings) -> None:
    """Queue every prepaid account when the policy's settings differ from the last sweep's."""
    now = fingerprint(settings)
    async with sessions() as s:
        row = await s.get(SweepConfig, 1)
        if row is not None and row.fingerprint == now:
            return
        if row is None:  # the migration queued every account already
            s.add(SweepConfig(id=1, fingerprint=now))
        else:
            row.fingerprint = now
            await s.execute(
                insert(SweepQueueEntry).from_select(
                    ["account_id"], select(Account.id).where(Account.kind == AccountKind.PREPAID)
                )
            )
        await s.commit()


def window_charges(
    dialect: str, ids: Collection[int], since_ms: int, now_ms: int
) -> Select[int, int, int, str]:
    """The live charges of these accounts that end after ``since_ms`` and by ``now_ms``."""
    return select(Charge.account_id, Charge.start_ms, Charge.end_ms, Charge.exact_cny).where(
        among(dialect, Charge.account_id, ids), *spend.live_ending(since_ms, now_ms)
    )


async def _spend(
    session: AsyncSession, ids: list[int], now_ms: int
) -> tuple[dict[int, int], dict[int, int]]:
    """For many accounts at once, as ``spend.daily_spend_fen`` for one: fen per day at the
    recent rate (absent: 0); and when the charges behind it next change by time alone (the
    earliest of them leaves the first window that has any)."""
    daily: dict[int, int] = {}
    ageing: dict[int, int] = {}
    todo = set(ids)
    dialect = session.get_bind().dialect.name
    for window in spend.WINDOWS:
        if not todo:
            break
        window_ms = int(window.total_seconds() * 1000)
        rows = await session.execute(window_charges(dialect, todo, now_ms - window_ms, now_ms))
        charges: dict[int, list[tuple[int, int, str]]] = {}
        for account_id, start_ms, end_ms, exact in rows.all():
            charges.setdefault(account_id, []).append((start_ms, end_ms, exact))
        for account_id, found in charges.items():
            ageing.setdefault(account_id, min(end for _, end, _ in found) + window_ms)
            span_ms = max(end for _, end, _ in found) - min(start for start, _, _ in found)
            total_fen = sum((Decimal(exact) for *_, exact in found), Decimal(0)) * 100
            if span_ms <= 0 or total_fen <= 0:
                continue
            rate = (total_fen * spend.DAY_MS / span_ms).to_integral_value(rounding=ROUND_CEILING)
            daily[account_id] = int(rate)
            todo.discard(account_id)
    return daily, ageing


async def _quiet(
    session: AsyncSession, settings: Settings, balances: dict[int, int], daily: dict[int, int]
) -> set[int]:
    """The accounts ``engine.sweep`` would leave as they are: not low (``spend.is_low``, its
    test), no meter off and no episode open. Told apart in a few
    queries for all of them, so a sweep over many healthy accounts costs little."""
    ids = list(balances)
    off = set(
        await session.scalars(
            select(Meter.account_id).where(
                Meter.account_id.in_(ids), Meter.status == MeterStatus.ACTIVE,
                Meter.relay_state == int(RelayState.DISCONNECTED),
            )
        )
    )  # fmt: skip
    episode = set(
        await session.scalars(
            select(WarningEpisode.account_id).where(
                WarningEpisode.account_id.in_(ids), WarningEpisode.open.is_(True)
            )
        )
    )
    quiet = set()
    for account_id, balance in balances.items():
        low = spend.is_low(settings, balance, daily.get(account_id, 0))
        if not low and account_id not in off and account_id not in episode:
            quiet.add(account_id)
    return quiet


def watch_line(settings: Settings, balance_fen: int, credit_limit_fen: int, daily_fen: int) -> int:
    """The balance below which a change of a quiet account's balance is looked at again: once a
    quarter of its headroom above the line it would be warned below (``spend.is_low``: the low
    balance, or the low days of credit at its spend rate) is spent, and on every change within
    twice that line — a spend rate that jumps (a heater switched on) is seen after a quarter of
    the headroom, not at the line; never below the arrears rule's threshold (minus the credit
    limit). A month's credit is looked at about eight times before the warning, not at every
    charge."""
    low = max(
        settings.prepaid_low_balance_fen,
        math.ceil(settings.prepaid_low_balance_days * daily_fen),
    )
    spent = low + (3 * (balance_fen - low)) // 4
    return max(2 * low, spent, -credit_limit_fen, 1)


async def _watch(session: AsyncSession, lines: dict[int, tuple[int, int | None]]) -> None:
    """Leave each examined account its watch line (``lines``: the balance examined and the
    line; None: every change of its balance queues it), if its balance is still the one
    examined. An account whose balance changed since (a billing round committed meanwhile: its
    trigger queued it or not by the line it found), or that another transaction holds (a
    billing round or a top-up, whose trigger looks at the line when it updates), is queued
    again instead — its line stays as it was, and the next run examines the balance that is.
    A short transaction of its own, after the examination's: it waits for no one (the rows are
    taken with SKIP LOCKED), and a top-up or a billing round waits at most for its few
    statements."""
    if not lines:
        return
    dialect = session.get_bind().dialect.name
    now = {
        r.id: r
        for r in await session.execute(
            select(Account.id, Account.balance_fen, Account.sweep_watch_fen)
            .where(among(dialect, Account.id, list(lines)))
            .order_by(Account.id)
            .with_for_update(key_share=True, skip_locked=True)
        )
    }
    again = [
        a for a, (balance, _) in lines.items() if a not in now or now[a].balance_fen != balance
    ]
    changed = [
        {"k_id": a, "line": line}
        for a, (_, line) in lines.items()
        if a not in again and now[a].sweep_watch_fen != line
    ]
    if changed:
        await session.execute(_SET_WATCH, changed)
    if again:
        await session.execute(insert(SweepQueueEntry), [{"account_id": a} for a in again])


_ACCOUNTS: Table = Account.__table__  # type: ignore[assignment]
_SET_WATCH = (
    update(_ACCOUNTS)
    .where(_ACCOUNTS.c.id == bindparam("k_id"))
    .values(sweep_watch_fen=bindparam("line"))
)


async def _set_due(session: AsyncSession, due: dict[int, int], gone: set[int]) -> None:
    if gone:
        await session.execute(delete(SweepDue).where(SweepDue.account_id.in_(gone)))
    if due:
        dialect = session.get_bind().dialect.name
        stmt = (pg_insert if dialect == "postgresql" else sqlite_insert)(SweepDue)
        stmt = stmt.on_conflict_do_update(
            index_elements=["account_id"], set_={"due_ms": stmt.excluded.due_ms}
        )
        await session.execute(stmt, [{"account_id": a, "due_ms": d} for a, d in due.items()])


async def _batch(
    session: AsyncSession, settings: Settings, now: datetime, ids: list[int], result: RunResult,
    lines: dict[int, tuple[int, int | None]],
) -> None:  # fmt: skip
    """Examine these accounts and set when each is next due by time alone; ``lines``: each
    prepaid one's balance as examined and its watch line (None: none), for ``_watch``."""
    now_ms = to_epoch_ms(now)
    rows = (
        await session.execute(
            select(Account.id, Account.balance_fen, Account.credit_limit_fen).where(
                Account.id.in_(ids), Account.kind == AccountKind.PREPAID
            )
        )
    ).all()
    balances: dict[int, int] = {r.id: r.balance_fen for r in rows}
    prepaid = list(balances)
    daily, ageing = await _spend(session, prepaid, now_ms) if prepaid else ({}, {})
    quiet = await _quiet(session, settings, balances, daily) if prepaid else set()
    busy = [a for a in prepaid if a not in quiet]
    decided = engine.SweepResult({}, [])
    if busy:
        decided = await engine.sweep(session, settings, now, only=busy, daily=daily)
    for r in rows:  # (the balance examined, the line it gives), left by ``_watch``
        line = watch_line(settings, r.balance_fen, r.credit_limit_fen, daily.get(r.id, 0))
        lines[r.id] = (r.balance_fen, line if r.id in quiet else None)
    result.examined += len(prepaid)
    result.disconnects += decided.disconnects
    latest = now_ms + int(RECHECK.total_seconds() * 1000)
    due: dict[int, int] = {}
    for account_id in prepaid:
        at = min(latest, ageing.get(account_id, latest))
        decision = decided.decisions.get(account_id)
        if decision is not None and not decision.due and decision.next_allowed_at is not None:
            at = min(at, to_epoch_ms(decision.next_allowed_at))
        due[account_id] = max(at, now_ms + 1)  # strictly later: the next run, not this one
    await _set_due(session, due, set(ids) - set(prepaid))


async def _claim(
    session: AsyncSession, top: int, after_entry: int, after_due: tuple[int, int], now_ms: int,
    batch: int,
) -> tuple[list[int], dict[int, list[int]], int, tuple[int, int]]:  # fmt: skip
    """The next accounts to examine: queued ones first (in queue order), then due ones; with
    every queue entry of theirs as read now (an entry committed later stays for the next run),
    and the cursors moved past them."""
    entries: dict[int, list[int]] = {}  # account → its queue entries
    for entry_id, account_id in (
        await session.execute(
            select(SweepQueueEntry.id, SweepQueueEntry.account_id)
            .where(SweepQueueEntry.id > after_entry, SweepQueueEntry.id <= top)
            .order_by(SweepQueueEntry.id)
            .limit(4 * batch)
        )
    ).all():
        if account_id not in entries and len(entries) == batch:
            break
        entries.setdefault(account_id, [])
        after_entry = entry_id
    if entries:
        for entry_id, account_id in await session.execute(
            select(SweepQueueEntry.id, SweepQueueEntry.account_id).where(
                SweepQueueEntry.account_id.in_(entries), SweepQueueEntry.id <= top
            )
        ):
            entries[account_id].append(entry_id)
    ids = list(entries)
    if len(ids) < batch:
        dues = (
            await session.execute(
                select(SweepDue.due_ms, SweepDue.account_id)
                .where(
                    SweepDue.due_ms <= now_ms,
                    tuple_(SweepDue.due_ms, SweepDue.account_id) > tuple_(*after_due),
                )
                .order_by(SweepDue.due_ms, SweepDue.account_id)
                .limit(batch - len(ids))
            )
        ).all()
        if dues:
            after_due = (dues[-1].due_ms, dues[-1].account_id)
        ids = list(dict.fromkeys([*ids, *(d.account_id for d in dues)]))
    return ids, entries, after_entry, after_due


async def run(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    now: datetime,
    *,
    batch: int = BATCH,
    budget_s: float = BUDGET_S,
) -> RunResult:
    """One sweep: the queued accounts (as queued when it starts), then those due by ``now``.

    At most ``batch`` accounts per transaction, and fewer when they take long: a transaction
    commits once it has run ``budget_s`` (checked every ``STEP`` accounts)."""
    started = clock.perf_counter()
    result = RunResult()
    await _settings_changed(sessions, settings)
    now_ms = to_epoch_ms(now)
    async with sessions() as s:
        top = await s.scalar(select(func.max(SweepQueueEntry.id))) or 0
    after_entry, after_due = 0, (-1, 0)  # cursors: queue entry id, (due_ms, account_id)
    # SQLite's writers wait for the lock by polling it (every 100 ms once they have waited a
    # while): without a gap between two transactions they could miss every turn until their
    # busy timeout. PostgreSQL queues them: no pause needed.
    dialect = sessions.kw["bind"].dialect.name
    pause = 0.0 if dialect == "postgresql" else SQLITE_PAUSE_S
    while True:
        async with sessions() as s:  # reads only
            ids, entries, after_entry, after_due = await _claim(
                s, top, after_entry, after_due, now_ms, batch
            )
        if not ids:
            break
        while ids:
            t0 = clock.perf_counter()
            lines: dict[int, tuple[int, int | None]] = {}
            async with sessions() as s:
                done: list[int] = []
                while ids and (not done or clock.perf_counter() - t0 < budget_s):
                    step, ids = ids[:STEP], ids[STEP:]
                    await _batch(s, settings, now, step, result, lines)
                    done += step
                read = [e for a in done for e in entries.get(a, ())]
                if read:  # one array, not a parameter an entry: a busy account queues
                    # an entry a billing round, tens of thousands between two sweeps
                    await s.execute(
                        delete(SweepQueueEntry).where(among(dialect, SweepQueueEntry.id, read))
                    )
                await s.commit()
            async with sessions() as s:
                await _watch(s, lines)
                await s.commit()
            result.batches += 1
            took = clock.perf_counter() - t0
            result.longest_batch_s = max(result.longest_batch_s, took)
            await asyncio.sleep(pause)  # the foreground's turn
    result.seconds = clock.perf_counter() - started
    return result
