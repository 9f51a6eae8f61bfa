"""The prepaid engine: warnings, automatic disconnects when the policy says due, and automatic
reconnection after a payment (R28, R30, R31).

``sweep`` runs periodically (settings.prepaid_sweep_seconds); ``after_payment`` runs right after
a top-up commits. Reconnection needs no operator: meters whose control mode closes the relay on
a remote reconnect get ``reconnect``; the others get ``arm_reconnect`` (ready_for_reconnection)
and the customer presses the meter's button (protocols.relay.remote_reconnect says which).
The time from payment to restored supply is kept on the command (paid_at → restored_at).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import msgspec
from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts.models import Account, AccountKind, Customer
from backend.commands import service
from backend.commands.lifecycle import Event, State
from backend.commands.models import Command
from backend.commands.schemas import RuleVerdict, Verdict
from backend.metering.models import Meter, MeterStatus
from backend.prepaid import notices, spend
from backend.prepaid.models import Notice, NoticeChannel, NoticeKind, WarningEpisode
from backend.prepaid.notices import NoticeText, epoch_ms
from backend.prepaid.policy import AccountFacts, Decision, HolidayCalendar, PolicyConfig, explain
from backend.settings import Settings
from backend.texts import Text
from protocols.contract import CommandKind, RelayState
from protocols.relay import Reconnect, remote_reconnect


def policy_config(settings: Settings) -> PolicyConfig:
    start, end = PolicyConfig.parse_window(settings.prepaid_disconnect_window)
    return PolicyConfig(
        tz=settings.timezone, window_start=start, window_end=end,
        warning_lead_hours=settings.prepaid_warning_lead_hours,
        calendar=HolidayCalendar.load(settings.prepaid_holiday_calendar),
    )  # fmt: skip


def channels(settings: Settings) -> list[NoticeChannel]:
    return [NoticeChannel(c.strip()) for c in settings.prepaid_notice_channels.split(",") if c]


async def _meters(session: AsyncSession, account_id: int) -> list[Meter]:
    return list(
        (
            await session.scalars(
                select(Meter).where(
                    Meter.account_id == account_id, Meter.status == MeterStatus.ACTIVE
                )
            )
        ).all()
    )


def _facts(
    account: Account, customer: Customer, supply_on: bool, delivered: datetime | None
) -> AccountFacts:
    return AccountFacts(
        account_id=account.id, balance_fen=account.balance_fen,
        credit_limit_fen=account.credit_limit_fen, protected=customer.protected,
        key_account_class=customer.key_account_class, supply_on=supply_on,
        warning_delivered_at=delivered,
    )  # fmt: skip


def _supply_on(meters: Sequence[Meter]) -> bool:
    return any(m.relay_state != int(RelayState.DISCONNECTED) for m in meters)


async def facts_of(session: AsyncSession, account: Account) -> AccountFacts:
    customer = await session.get(Customer, account.customer_id)
    assert customer is not None
    return _facts(
        account, customer, _supply_on(await _meters(session, account.id)),
        await notices.warning_delivered_at(session, account.id),
    )  # fmt: skip


async def facts_of_many(
    session: AsyncSession, rows: Sequence[tuple[Account, Customer]]
) -> dict[int, AccountFacts]:
    """:func:`facts_of` for a page of accounts with their customers, in three statements
    whatever the page's size (the disconnect queue explains a page at a time)."""
    ids = [a.id for a, _ in rows]
    supply_on: dict[int | None, bool] = {}
    for account_id, relay in await session.execute(
        select(Meter.account_id, Meter.relay_state).where(
            Meter.account_id.in_(ids), Meter.status == MeterStatus.ACTIVE
        )
    ):
        on = relay != int(RelayState.DISCONNECTED)
        supply_on[account_id] = supply_on.get(account_id, False) or on
    delivered = await notices.warnings_delivered_at(session, ids)
    return {a.id: _facts(a, c, supply_on.get(a.id, False), delivered.get(a.id)) for a, c in rows}


def verdict_of(facts: AccountFacts, decision: Decision) -> Verdict:
    """The policy's decision as codes (the PWA words them), kept on every disconnect."""
    verdict = Verdict(
        due=decision.due, blocked_by=[r.rule for r in decision.reasons if not r.ok],
        protected=facts.protected or facts.key_account_class == 1,
        balance_fen=facts.balance_fen, next_allowed_at=decision.next_allowed_at,
        rules=[RuleVerdict(r.rule, r.ok, r.code.value, dict(r.params))
               for r in decision.reasons],
    )  # fmt: skip
    return verdict


def _yuan(fen: int) -> str:
    return f"{'-' if fen < 0 else ''}{abs(fen) // 100}.{abs(fen) % 100:02d}"


@dataclass
class SweepResult:
    decisions: dict[int, Decision]
    disconnects: list[str]


PAGE = 500  # accounts read together when every prepaid account is swept


@dataclass
class _Page:
    """What the sweep reads of a page of accounts in one statement each, instead of a few
    statements an account: their customers, warning episodes (held here, so the session's
    identity map keeps them and ``session.get`` finds them there), active meters, notices of
    their current episodes, when their disconnect warnings reached them, and their spend
    rates."""

    customers: dict[int, Customer]
    episodes: list[WarningEpisode]
    meters: dict[int, list[Meter]]
    sent: set[tuple[int, int, NoticeKind, NoticeChannel]]  # (account, episode, kind, channel)
    delivered: dict[int, datetime]
    daily: dict[int, int]


async def _page(
    session: AsyncSession, accounts: Sequence[Account], now: datetime,
    daily: dict[int, int] | None,
) -> _Page:  # fmt: skip
    ids = [a.id for a in accounts]
    customers = {
        c.id: c
        for c in await session.scalars(
            select(Customer).where(Customer.id.in_({a.customer_id for a in accounts}))
        )
    }
    meters: dict[int, list[Meter]] = {}
    for m in await session.scalars(
        select(Meter).where(Meter.account_id.in_(ids), Meter.status == MeterStatus.ACTIVE)
    ):
        meters.setdefault(m.account_id or 0, []).append(m)
    episodes = list(
        await session.scalars(select(WarningEpisode).where(WarningEpisode.account_id.in_(ids)))
    )
    n, ep = Notice, WarningEpisode
    sent = {  # of each account's current episode, and any after it
        (account_id, episode, kind, channel)
        for account_id, episode, kind, channel in await session.execute(
            select(n.account_id, n.episode, n.kind, n.channel)
            .join(ep, and_(ep.account_id == n.account_id, n.episode >= ep.episode))
            .where(n.account_id.in_(ids))
        )
    }
    if daily is None:
        daily = {a.id: await spend.daily_spend_fen(session, a.id, now) for a in accounts}
    delivered = await notices.warnings_delivered_at(session, ids)
    return _Page(customers, episodes, meters, sent, delivered, daily)


async def sweep(
    session: AsyncSession, settings: Settings, now: datetime, *, only: Sequence[int] | None = None,
    daily: dict[int, int] | None = None,
) -> SweepResult:  # fmt: skip
    """Warn low accounts, queue disconnects that are due, close healthy episodes: every
    prepaid account, or ``only`` these (the incremental sweep's batch, backend.prepaid.sweep,
    which hands in their spend rates, ``daily``: fen a day, absent 0)."""
    if only is None:  # every prepaid account, a page at a time (a page's reads are IN lists)
        result = SweepResult({}, [])
        every = list(
            await session.scalars(
                select(Account.id).where(Account.kind == AccountKind.PREPAID).order_by(Account.id)
            )
        )
        for i in range(0, len(every), PAGE):
            part = await sweep(session, settings, now, only=every[i : i + PAGE])
            result.decisions.update(part.decisions)
            result.disconnects += part.disconnects
        return result
    config = policy_config(settings)
    tz = settings.timezone
    chans = channels(settings)
    ttl = timedelta(minutes=settings.command_ttl_minutes)
    result = SweepResult({}, [])
    which = select(Account).where(Account.kind == AccountKind.PREPAID, Account.id.in_(only))
    accounts = (await session.scalars(which)).all()
    page = await _page(session, accounts, now, daily)
    for account in accounts:
        rate = page.daily.get(account.id, 0)
        low = spend.is_low(settings, account.balance_fen, rate)
        left = spend.days_left(account.balance_fen, rate)
        meters = page.meters.get(account.id, [])
        if not low:
            # an episode that saw a disconnect stays open until supply is restored, so the
            # "restored" notice belongs to it
            if not any(m.relay_state == int(RelayState.DISCONNECTED) for m in meters):
                await notices.close_episode(session, account.id, now)
            continue
        low_text = (
            Text(NoticeText.LOW_BALANCE, {"balance_fen": account.balance_fen})
            if left is None
            else Text(
                NoticeText.LOW_BALANCE_DAYS,
                {"balance_fen": account.balance_fen, "days": round(left)},
            )
        )
        await notices.notify(
            session, account, NoticeKind.LOW_BALANCE, chans, low_text, now=now, tz=tz,
            sent=page.sent,
        )  # fmt: skip
        customer = page.customers[account.customer_id]
        facts = _facts(account, customer, _supply_on(meters), page.delivered.get(account.id))
        decision = explain(facts, now, config)
        result.decisions[account.id] = decision
        arrears = next(r for r in decision.reasons if r.rule == "arrears")
        if arrears.ok and facts.supply_on and not facts.protected:
            planned = decision.next_allowed_at or now
            warning = Text(
                NoticeText.DISCONNECT_WARNING,
                {"owed_fen": -account.balance_fen, "planned_at": epoch_ms(planned)},
            )
            await notices.notify(
                session, account, NoticeKind.DISCONNECT_WARNING, chans, warning, now=now, tz=tz,
                planned=planned, sent=page.sent,
            )  # fmt: skip
        if decision.due and settings.prepaid_auto_disconnect:
            for meter in meters:
                if meter.relay_state == int(RelayState.DISCONNECTED):
                    continue
                if await service.open_command(session, meter.id) is not None:
                    continue
                try:
                    c = await service.create(
                        session, meter, CommandKind.DISCONNECT, actor=service.ENGINE, ttl=ttl,
                        reason=f"arrears: balance ¥{_yuan(account.balance_fen)}; "
                        + "; ".join(r.message for r in decision.reasons),
                        reason_text=Text(
                            service.CommandText.REASON_ARREARS,
                            {"balance_fen": account.balance_fen},
                        ),
                        approval="none",
                        verdict=msgspec.json.encode(verdict_of(facts, decision)).decode(),
                    )  # fmt: skip
                except service.CommandRefused:
                    continue
                result.disconnects.append(c.id)
    return result


async def after_payment(
    session: AsyncSession, settings: Settings, account_id: int, paid_at: datetime
) -> list[Command]:
    """Once the balance is back to zero or above: withdraw pending disconnects and restore
    supply on every disconnected meter (reconnect, or arm where a local press is required)."""
    account = await session.get(Account, account_id)
    if account is None or account.balance_fen < 0:
        return []
    ttl = timedelta(minutes=settings.command_ttl_minutes)
    created: list[Command] = []
    for meter in await _meters(session, account_id):
        pending = await service.open_command(session, meter.id)
        if (
            pending is not None
            and pending.kind is CommandKind.DISCONNECT
            and pending.state in (State.QUEUED, State.AWAITING_APPROVAL)
        ):
            await service.transition(
                session, pending, Event.CANCEL, service.ENGINE, "customer paid before dispatch"
            )
            pending = None
        if pending is not None or meter.relay_state != int(RelayState.DISCONNECTED):
            continue
        how = remote_reconnect(meter.relay_control_mode)
        if how is Reconnect.NOT_ALLOWED:
            continue
        kind = CommandKind.RECONNECT if how is Reconnect.DIRECT else CommandKind.ARM_RECONNECT
        created.append(
            await service.create(
                session, meter, kind, actor=service.ENGINE, ttl=ttl, paid_at=paid_at,
                reason=f"paid: balance ¥{_yuan(account.balance_fen)}",
                reason_text=Text(
                    service.CommandText.REASON_PAID, {"balance_fen": account.balance_fen}
                ),
            )
        )  # fmt: skip
    if not await _any_off(session, account_id):
        # nothing to restore: the episode ends with the payment (else with the restore)
        await notices.close_episode(session, account_id, paid_at)
    return created


async def _any_off(session: AsyncSession, account_id: int) -> bool:
    return any(
        m.relay_state == int(RelayState.DISCONNECTED) for m in await _meters(session, account_id)
    )


async def after_verified(
    session: AsyncSession, settings: Settings, command: Command, now: datetime
) -> int:
    """Tell the customer when a relay command is verified: "disconnected" and, in the same
    episode, "restored" (or "press the button" for an armed meter), each once per episode.
    The restore ends the episode, so a later arrears needs a fresh warning and lead time."""
    if command.state is not State.VERIFIED or command.account_id is None:
        return 0
    if command.kind not in service.RELAY_KINDS:
        return 0
    account = await session.get(Account, command.account_id)
    if account is None:
        return 0
    tz = settings.timezone
    chans = channels(settings)
    if command.kind is CommandKind.DISCONNECT:
        off = Text(NoticeText.DISCONNECTED, {"meter": command.meter_id, "off_at": epoch_ms(now)})
        if account.balance_fen < 0:
            off = Text(
                NoticeText.DISCONNECTED_OWED, {**off.params, "owed_fen": -account.balance_fen}
            )
        return await notices.notify(
            session, account, NoticeKind.DISCONNECTED, chans, off, now=now, tz=tz
        )
    if not await notices.sent_this_episode(session, account.id, NoticeKind.DISCONNECTED):
        return 0  # no disconnect told in this episode: nothing to take back
    on = Text(
        NoticeText.RESTORED if command.kind is CommandKind.RECONNECT else NoticeText.ARMED,
        {"meter": command.meter_id, "on_at": epoch_ms(now)},
    )
    new = await notices.notify(session, account, NoticeKind.RESTORED, chans, on, now=now, tz=tz)
    if not await _any_off(session, account.id):
        await notices.close_episode(session, account.id, now)
    return new
