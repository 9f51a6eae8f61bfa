"""The prepaid engine as the API sees it: read models for customers and operators, and the
top-up flow (payment, then restore). No HTTP here; the caller's scope is applied by the
routes through ``backend.accounts.service.get_account`` and ``account_scope`` below."""

from __future__ import annotations

import statistics
from datetime import datetime
from zoneinfo import ZoneInfo

import msgspec
from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.accounts.models import Account, AccountKind, Customer
from backend.auth.guards import Caller
from backend.auth.scope import account_scope
from backend.commands.lifecycle import OPEN
from backend.commands.models import Command
from backend.errors import ErrorCode as E
from backend.errors import NotFound
from backend.metering.models import Meter, MeterStatus
from backend.paging import fetch_page
from backend.prepaid import engine, spend, topups
from backend.prepaid.models import Charge, LedgerEntry, Notice, WarningEpisode
from backend.prepaid.policy import explain
from backend.prepaid.schemas import (
    Action,
    ArrearsItem,
    BalanceOut,
    CommandRef,
    LedgerEntryOut,
    MeterSupply,
    NoticeOut,
    QueueItem,
    RestoreTime,
    RestoreTimes,
    SupplyOut,
    SupplyState,
)
from backend.settings import Settings
from protocols.contract import CommandKind, RelayState

_SUPPLY = {
    int(RelayState.CONNECTED): SupplyState.CONNECTED,
    int(RelayState.DISCONNECTED): SupplyState.DISCONNECTED,
    int(RelayState.READY_FOR_RECONNECTION): SupplyState.READY_TO_RECONNECT,
}
# the account's supply is its worst meter's; a meter that has not read back its relay is
# "unknown", and one unknown meter makes the account unknown: never "connected" on a guess
_ORDER = [
    SupplyState.DISCONNECTED, SupplyState.READY_TO_RECONNECT, SupplyState.UNKNOWN,
    SupplyState.CONNECTED,
]  # fmt: skip
RESTORING = (CommandKind.RECONNECT, CommandKind.ARM_RECONNECT)


def supply_of(relay_state: int | None) -> SupplyState:
    return _SUPPLY.get(-1 if relay_state is None else relay_state, SupplyState.UNKNOWN)


def worst(states: list[SupplyState]) -> SupplyState:
    for s in _ORDER:
        if s in states:
            return s
    return SupplyState.UNKNOWN


def _yuan(fen: int) -> str:
    return f"¥{abs(fen) // 100}.{abs(fen) % 100:02d}"


def _ref(c: Command) -> CommandRef:
    return CommandRef(c.id, c.kind, c.state, c.created_at)


async def balance(
    session: AsyncSession, account: Account, settings: Settings, now: datetime
) -> BalanceOut:
    daily, left = await spend.days_of_credit(session, account.id, account.balance_fen, now)
    low = spend.is_low(settings, account.balance_fen, daily)
    return BalanceOut(
        account_id=account.id, account_number=account.number, balance_fen=account.balance_fen,
        credit_limit_fen=account.credit_limit_fen,
        available_fen=account.balance_fen + account.credit_limit_fen,
        average_daily_spend_fen=daily, days_left=None if left is None else round(left, 3),
        low=low, in_arrears=account.balance_fen < 0, as_of=now,
    )  # fmt: skip


async def scoped_balance(
    session: AsyncSession, caller: Caller, account_id: int, settings: Settings, now: datetime
) -> BalanceOut:
    """The balance in one statement: the account within the caller's scope, joined with its
    live charges of the widest spend window (none: one row of NULLs). Another's account: 404."""
    now_ms = int(now.timestamp() * 1000)
    rows = (
        await session.execute(
            select(
                Account.id, Account.number, Account.balance_fen, Account.credit_limit_fen,
                Charge.start_ms, Charge.end_ms, Charge.exact_cny,
            )
            .outerjoin(Charge, and_(
                Charge.account_id == Account.id,
                *spend.live_ending(spend.widest_since_ms(now_ms), now_ms),
            ))
            .where(Account.id == account_id, account_scope(caller))
        )
    ).all()  # fmt: skip
    if not rows:
        raise NotFound(E.ACCOUNT_NOT_FOUND, f"account {account_id} not found", account=account_id)
    a = rows[0]
    daily = spend.daily_from([r for r in rows if r.end_ms is not None], now_ms)
    left = spend.days_left(a.balance_fen, daily)
    low = spend.is_low(settings, a.balance_fen, daily)
    return BalanceOut(
        account_id=a.id, account_number=a.number, balance_fen=a.balance_fen,
        credit_limit_fen=a.credit_limit_fen, available_fen=a.balance_fen + a.credit_limit_fen,
        average_daily_spend_fen=daily, days_left=None if left is None else round(left, 3),
        low=low, in_arrears=a.balance_fen < 0, as_of=now,
    )  # fmt: skip


async def ledger_page(
    session: AsyncSession, account_id: int, limit: int, offset: int
) -> tuple[list[LedgerEntryOut], int]:
    stmt = (
        select(LedgerEntry)
        .where(LedgerEntry.account_id == account_id)
        .order_by(LedgerEntry.id.desc())
    )
    rows, total = await fetch_page(session, stmt, limit, offset)
    return [
        LedgerEntryOut(
            e.id,
            e.kind,
            e.amount_fen,
            e.balance_after_fen,
            e.memo,
            e.reverses_id,
            e.created_at,
            e.memo_code,
            e.memo_params or {},
        )
        for (e,) in rows
    ], total


async def notices_page(
    session: AsyncSession, account_id: int, limit: int, offset: int
) -> tuple[list[NoticeOut], int]:
    stmt = select(Notice).where(Notice.account_id == account_id).order_by(Notice.id.desc())
    rows, total = await fetch_page(session, stmt, limit, offset)
    return [
        NoticeOut(
            n.id,
            n.kind,
            n.channel,
            n.text,
            n.status,
            n.planned_disconnect_at,
            n.created_at,
            n.delivered_at,
            n.code,
            n.params or {},
        )
        for (n,) in rows
    ], total


async def _open_commands(session: AsyncSession, meter_pks: list[int]) -> dict[int, Command]:
    rows = await session.scalars(
        select(Command)
        .where(Command.meter_pk.in_(meter_pks), Command.state.in_(OPEN))
        .order_by(Command.created_at)
    )
    return {c.meter_pk: c for c in rows}  # the newest open command per meter


async def supply(
    session: AsyncSession, account: Account, settings: Settings, now: datetime
) -> SupplyOut:
    """Connected, disconnected or ready to reconnect, and what the customer should do."""
    meters = list(
        await session.scalars(
            select(Meter)
            .where(Meter.account_id == account.id, Meter.status == MeterStatus.ACTIVE)
            .order_by(Meter.id)
        )
    )
    pending = await _open_commands(session, [m.id for m in meters])
    items = [
        MeterSupply(
            m.id,
            m.meter_id,
            m.relay_state,
            supply_of(m.relay_state),
            _ref(pending[m.id]) if m.id in pending else None,
        )
        for m in meters
    ]
    state = worst([i.supply for i in items])
    owed = max(0, -account.balance_fen)
    restoring = any(c.kind in RESTORING for c in pending.values())
    planned: datetime | None = None
    if state is SupplyState.DISCONNECTED and restoring:
        action, amount = Action.WAIT, 0
        message = "Payment received: supply is being restored, usually within minutes."
    elif state is SupplyState.DISCONNECTED and owed:
        action, amount = Action.TOP_UP, owed
        message = f"Supply is off for arrears. Pay at least {_yuan(owed)}: it returns by itself."
    elif state is SupplyState.DISCONNECTED:
        action, amount = Action.CONTACT_SERVICE, 0
        message = "Supply is off although nothing is owed: please call 95598."
    elif state is SupplyState.READY_TO_RECONNECT:
        action, amount = Action.PRESS_BUTTON, 0
        message = "Supply may be restored: press the button on your meter."
    else:
        amount = 0
        facts = await engine.facts_of(session, account)
        decision = explain(facts, now, engine.policy_config(settings))
        in_arrears = account.balance_fen < -account.credit_limit_fen
        if in_arrears and not (facts.protected or facts.key_account_class == 1):
            planned = decision.next_allowed_at
            action, amount = Action.TOP_UP, owed
            when = (
                f" (earliest {planned.astimezone(ZoneInfo(settings.timezone)):%Y-%m-%d %H:%M})"
                if planned
                else ""
            )
            message = f"In arrears: pay at least {_yuan(owed)} to avoid a disconnect{when}."
        elif account.balance_fen < settings.prepaid_low_balance_fen:
            action, message = Action.TOP_UP, "Your balance is low: please top up soon."
        elif state is SupplyState.UNKNOWN:
            action, message = Action.NONE, "The meter has not reported its supply state yet."
        else:
            action, message = Action.NONE, "Supply is on."
    return SupplyOut(
        account_id=account.id, supply=state, action=action, message=message,
        amount_to_restore_fen=amount, planned_disconnect_at=planned, meters=items,
    )  # fmt: skip


async def _supply_by_account(session: AsyncSession, ids: list[int]) -> dict[int, SupplyState]:
    rows = await session.execute(
        select(Meter.account_id, Meter.relay_state).where(
            Meter.account_id.in_(ids), Meter.status == MeterStatus.ACTIVE
        )
    )
    found: dict[int | None, list[SupplyState]] = {}
    for account_id, relay in rows:
        found.setdefault(account_id, []).append(supply_of(relay))
    return {i: worst(found.get(i, [])) for i in ids}


async def arrears(
    session: AsyncSession, caller: Caller, limit: int, offset: int
) -> tuple[list[ArrearsItem], int]:
    """Prepaid accounts below zero, most owed first, within the caller's scope (an inspector
    sees the customers of their grids)."""
    owing = (Account.kind == AccountKind.PREPAID, Account.balance_fen < 0, account_scope(caller))
    stmt = (
        select(Account, Customer, WarningEpisode)
        .join(Customer, Customer.id == Account.customer_id)
        .outerjoin(
            WarningEpisode,
            and_(WarningEpisode.account_id == Account.id, WarningEpisode.open.is_(True)),
        )
        .where(*owing)
        .order_by(Account.balance_fen, Account.id)
    )
    # counted from the accounts' index alone: every account has its one customer and at most
    # one episode (its primary key), so the joins add columns, never rows
    count = select(Account.id).where(*owing)
    rows, total = await fetch_page(session, stmt, limit, offset, count=count)
    supplies = await _supply_by_account(session, [a.id for a, _, _ in rows])
    return [
        ArrearsItem(
            account_id=a.id,
            account_number=a.number,
            customer_id=c.id,
            customer_number=c.number,
            customer_name=c.name,
            phone=c.phone,
            grid_id=c.grid_id,
            protected=c.protected,
            balance_fen=a.balance_fen,
            credit_limit_fen=a.credit_limit_fen,
            supply=supplies[a.id],
            episode_opened_at=ep.opened_at if ep else None,
        )
        for a, c, ep in rows
    ], total


def supply_on() -> ColumnElement[bool]:
    """An active meter of the account whose relay is not off: ``SELECT meters.id`` (not ``*``)
    so that SQLite answers it from ix_meters_account_supply without reading the meter."""
    return (
        select(Meter.id)
        .where(
            Meter.account_id == Account.id,
            Meter.status == MeterStatus.ACTIVE,
            or_(Meter.relay_state.is_(None), Meter.relay_state != int(RelayState.DISCONNECTED)),
        )
        .exists()
    )


async def disconnect_queue(
    session: AsyncSession, settings: Settings, now: datetime, limit: int, offset: int
) -> tuple[list[QueueItem], int]:
    """Accounts past the disconnect threshold whose supply is still on, each with the policy's
    explanation: due now or not, why, and the earliest time it could be."""
    config = engine.policy_config(settings)
    due = (
        Account.kind == AccountKind.PREPAID,
        Account.balance_fen < -Account.credit_limit_fen,
        supply_on(),
    )
    stmt = (
        select(Account, Customer)
        .join(Customer, Customer.id == Account.customer_id)
        .where(*due)
        .order_by(Account.balance_fen, Account.id)
    )
    count = select(Account.id).where(*due)  # the customer join adds columns, never rows
    rows, total = await fetch_page(session, stmt, limit, offset, count=count)
    page = [(a, c) for a, c in rows]
    facts = await engine.facts_of_many(session, page)
    pending: dict[int | None, list[Command]] = {}
    for p in await session.scalars(
        select(Command)
        .where(Command.account_id.in_([a.id for a, _ in page]), Command.state.in_(OPEN))
        .order_by(Command.created_at, Command.id)
    ):
        pending.setdefault(p.account_id, []).append(p)
    return [
        QueueItem(
            account_id=a.id,
            account_number=a.number,
            customer_name=c.name,
            balance_fen=a.balance_fen,
            credit_limit_fen=a.credit_limit_fen,
            policy=explain(facts[a.id], now, config),
            pending_commands=[_ref(p) for p in pending.get(a.id, [])],
        )
        for a, c in page
    ], total


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


async def restore_times(
    session: AsyncSession, since: datetime | None, until: datetime | None, limit: int, offset: int
) -> RestoreTimes:
    """Payment-to-restore: from the money arriving to the meter verified connected (or armed,
    ready for the customer's button) for restores a payment ordered."""
    conds: list[ColumnElement[bool]] = [Command.paid_at.is_not(None)]
    if since is not None:
        conds.append(Command.paid_at >= since)
    if until is not None:
        conds.append(Command.paid_at < until)
    spans = (
        await session.execute(select(Command.paid_at, Command.restored_at).where(*conds))
    ).all()
    seconds = sorted((r - p).total_seconds() for p, r in spans if r is not None and p is not None)
    stmt = select(Command).where(*conds).order_by(Command.paid_at.desc(), Command.id)
    rows, total = await fetch_page(session, stmt, limit, offset)
    items = []
    for (c,) in rows:
        assert c.paid_at is not None
        took = (c.restored_at - c.paid_at).total_seconds() if c.restored_at else None
        items.append(
            RestoreTime(
                c.id, c.account_id, c.meter_id, c.kind, c.state, c.paid_at, c.restored_at, took
            )
        )
    return RestoreTimes(
        items=items, total=total, limit=limit, offset=offset, restored=len(seconds),
        median_s=statistics.median(seconds) if seconds else None,
        p90_s=_percentile(seconds, 0.9), max_s=seconds[-1] if seconds else None,
    )  # fmt: skip


async def restore_after_payment(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, receipt: bytes
) -> list[Command]:
    """After a top-up (first answer or replay alike: it is idempotent): withdraw queued
    disconnects and order the reconnects (or arms) its balance allows."""
    paid = msgspec.json.decode(receipt, type=topups.Receipt)
    return await restore_for(sessions, settings, paid.account_id, paid.paid_at)


async def restore_for(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, account_id: int,
    paid_at: datetime,
) -> list[Command]:  # fmt: skip
    """After money arrived on the account (a receipt, or a provider's confirmation)."""
    async with sessions() as s:
        created = await engine.after_payment(s, settings, account_id, paid_at)
        await s.commit()
    return created
