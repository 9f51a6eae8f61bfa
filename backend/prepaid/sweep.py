"""The incremental prepaid sweep: only the accounts whose verdict may have changed, in short
transactions, yielding between them (docs/prepaid.md, "The sweep").

An account is examined (``engine.sweep`` on it) when

* one of its inputs changed: triggers (migration 0011) queue it in ``prepaid_sweep_queue``
  whenever its balance, credit limit or kind, one of its meters' relay state, status or
  account, its customer's protected flag or key-account class, a command's state changes, or
  a disconnect warning is delivered; new accounts and meters are queued on insert;
* time alone may change its verdict (``prepaid_sweep_due``): the warning's lead time passing
  or the disconnect window opening (``Decision.next_allowed_at``), recent charges ageing out
  of the spend rate that decides the days left, and at the latest ``RECHECK`` after the last
  look, a safety net that costs 200,000 accounts about 2 examinations a second;
* the settings the policy decides with changed since the last sweep (every prepaid account).

Each batch of at most ``BATCH`` accounts is one transaction: examine, set the next due times,
delete exactly the queue entries read (an entry a concurrent transaction adds meanwhile stays
for the next run). Between batches the sweep yields, so logins, top-ups and readings are never
held longer than one batch.
"""

from __future__ import annotations

import asyncio
import hashlib
import time as clock
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, func, insert, select, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.accounts.models import Account, AccountKind
from backend.prepaid import engine, spend
from backend.prepaid.models import Charge, SweepConfig, SweepDue, SweepQueueEntry
from backend.settings import Settings
from backend.types import to_epoch_ms

BATCH = 500  # accounts per transaction
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


async def _spend_changes_at(session: AsyncSession, ids: list[int], now_ms: int) -> dict[int, int]:
    """When the charges behind each account's spend rate next change by time alone: the
    earliest of them leaves its window (``spend.WINDOWS``: the first window with charges)."""
    out: dict[int, int] = {}
    for window in spend.WINDOWS:
        window_ms = int(window.total_seconds() * 1000)
        rows = await session.execute(
            select(Charge.account_id, func.min(Charge.end_ms))
            .where(
                Charge.account_id.in_(ids), Charge.reversed_at.is_(None),
                Charge.end_ms > now_ms - window_ms, Charge.end_ms <= now_ms,
            )
            .group_by(Charge.account_id)
        )  # fmt: skip
        for account_id, first_end in rows.all():
            out.setdefault(account_id, int(first_end) + window_ms)
    return out


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
    session: AsyncSession, settings: Settings, now: datetime, ids: list[int], result: RunResult
) -> None:
    """Examine these accounts and set when each is next due by time alone."""
    now_ms = to_epoch_ms(now)
    prepaid = list(
        await session.scalars(
            select(Account.id).where(Account.id.in_(ids), Account.kind == AccountKind.PREPAID)
        )
    )
    decided = await engine.sweep(session, settings, now, only=prepaid)
    result.examined += len(prepaid)
    result.disconnects += decided.disconnects
    ageing = await _spend_changes_at(session, prepaid, now_ms) if prepaid else {}
    latest = now_ms + int(RECHECK.total_seconds() * 1000)
    due: dict[int, int] = {}
    for account_id in prepaid:
        at = min(latest, ageing.get(account_id, latest))
        decision = decided.decisions.get(account_id)
        if decision is not None and not decision.due and decision.next_allowed_at is not None:
            at = min(at, to_epoch_ms(decision.next_allowed_at))
        due[account_id] = max(at, now_ms + 1)  # strictly later: the next run, not this one
    await _set_due(session, due, set(ids) - set(prepaid))


async def run(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    now: datetime,
    *,
    batch: int = BATCH,
) -> RunResult:
    """One sweep: the queued accounts (as queued when it starts), then those due by ``now``."""
    started = clock.perf_counter()
    result = RunResult()
    await _settings_changed(sessions, settings)
    now_ms = to_epoch_ms(now)
    async with sessions() as s:
        top = await s.scalar(select(func.max(SweepQueueEntry.id))) or 0
    after_entry = 0
    after_due = (-1, 0)  # (due_ms, account_id) of the last due account taken
    while True:
        t0 = clock.perf_counter()
        async with sessions() as s:
            ids: list[int] = []
            for entry_id, account_id in (
                await s.execute(
                    select(SweepQueueEntry.id, SweepQueueEntry.account_id)
                    .where(SweepQueueEntry.id > after_entry, SweepQueueEntry.id <= top)
                    .order_by(SweepQueueEntry.id)
                    .limit(4 * batch)
                )
            ).all():
                if account_id not in ids:
                    if len(ids) == batch:
                        break
                    ids.append(account_id)
                after_entry = entry_id
            # every entry of these accounts as read now (not those committed meanwhile)
            entries = list(
                await s.scalars(
                    select(SweepQueueEntry.id).where(
                        SweepQueueEntry.account_id.in_(ids), SweepQueueEntry.id <= top
                    )
                )
            ) if ids else []  # fmt: skip
            if len(ids) < batch:
                dues = (
                    await s.execute(
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
            if not ids:
                break
            await _batch(s, settings, now, ids, result)
            if entries:
                await s.execute(delete(SweepQueueEntry).where(SweepQueueEntry.id.in_(entries)))
            await s.commit()
        result.batches += 1
        result.longest_batch_s = max(result.longest_batch_s, clock.perf_counter() - t0)
        await asyncio.sleep(0)  # the foreground's turn
    result.seconds = clock.perf_counter() - started
    return result
