"""Balance warnings (R30) through an outbox: notices are rows first, sent after.

An episode opens when an account's balance first looks low (below an amount, or fewer days
of credit than configured at its average daily spend: the "balance ratio") and closes when it
is healthy again. Within one episode each kind of notice goes out once per channel, in order:
low balance → disconnect warning (with the planned earliest disconnect time) → disconnected →
restored. The unique (account, episode, kind, channel) constraint makes "once" hold even when
two sweeps race.

A notice is made as a code with parameters (:class:`NoticeText`) and worded here, from a small
catalogue, in the customer's language before it is stored and sent; the app shows the same code
in its own language. A customer chooses the language (``PUT /api/customers/{id}/language``, the
PWA's language switch); zh-CN until they do (:func:`language_of`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts.models import Account, Customer
from backend.prepaid.models import (
    EntryKind,
    LedgerEntry,
    Notice,
    NoticeChannel,
    NoticeKind,
    NoticeStatus,
    WarningEpisode,
)
from backend.texts import Params, Text, TextCode
from backend.types import utcnow

log = logging.getLogger("meterline.notices")


class NoticeText(TextCode):
    LOW_BALANCE = "notice.text.low_balance"  # {balance_fen}
    LOW_BALANCE_DAYS = "notice.text.low_balance_days"  # {balance_fen, days}
    DISCONNECT_WARNING = "notice.text.disconnect_warning"  # {owed_fen, planned_at}
    DISCONNECTED = "notice.text.disconnected"  # {meter, off_at}
    DISCONNECTED_OWED = "notice.text.disconnected_owed"  # {meter, off_at, owed_fen}
    RESTORED = "notice.text.restored"  # {meter, on_at}
    ARMED = "notice.text.armed"  # {meter, on_at}: press the meter's button


DEFAULT_LANGUAGE = "zh-CN"
# the same templates as the app's (pwa/src/i18n), which tests/unit/test_text_codes.py checks
CATALOGUE: dict[str, dict[NoticeText, str]] = {
    "zh-CN": {
        NoticeText.LOW_BALANCE: "您的电费余额 {balance_fen}，请及时缴费。",
        NoticeText.LOW_BALANCE_DAYS: "您的电费余额 {balance_fen}，约可用 {days} 天，请及时缴费。",
        NoticeText.DISCONNECT_WARNING: (
            "您已欠费 {owed_fen}，最早将于 {planned_at} 停电，缴费后自动复电。"
        ),
        NoticeText.DISCONNECTED: "您的电表 {meter} 已于 {off_at} 停电。如有疑问请致电 95598。",
        NoticeText.DISCONNECTED_OWED: (
            "您的电表 {meter} 已于 {off_at} 停电，欠费 {owed_fen}，缴费后将自动复电。"
        ),
        NoticeText.RESTORED: "您的电表 {meter} 已于 {on_at} 恢复供电。",
        NoticeText.ARMED: "您的电表 {meter} 已于 {on_at} 允许合闸，请按电表上的按钮恢复供电。",
    },
    "en": {
        NoticeText.LOW_BALANCE: "Your electricity balance is {balance_fen}. Please top up soon.",
        NoticeText.LOW_BALANCE_DAYS: (
            "Your electricity balance is {balance_fen}, about {days} days of use. "
            "Please top up soon."
        ),
        NoticeText.DISCONNECT_WARNING: (
            "You owe {owed_fen}. The supply may be cut from {planned_at}; it comes "
            "back by itself once you pay."
        ),
        NoticeText.DISCONNECTED: (
            "The supply of your meter {meter} was cut at {off_at}. Questions: call 95598."
        ),
        NoticeText.DISCONNECTED_OWED: (
            "The supply of your meter {meter} was cut at {off_at}. You owe "
            "{owed_fen}; the supply comes back by itself once you pay."
        ),
        NoticeText.RESTORED: "The supply of your meter {meter} was restored at {on_at}.",
        NoticeText.ARMED: (
            "Your meter {meter} may be switched on again since {on_at}: press the "
            "button on the meter."
        ),
    },
}


def _shown(name: str, value: object, tz: ZoneInfo) -> str:
    """A parameter as people read it, by its name's ending (see backend.texts)."""
    if isinstance(value, int) and not isinstance(value, bool):
        if name.endswith("_fen"):
            return f"{'-' if value < 0 else ''}¥{abs(value) // 100}.{abs(value) % 100:02d}"
        if name.endswith("_wh"):
            return f"{value / 1000:.2f} kWh"
        if name.endswith("_at"):
            return f"{datetime.fromtimestamp(value / 1000, UTC).astimezone(tz):%Y-%m-%d %H:%M}"
    return str(value)


def word(message: Text, language: str, tz: ZoneInfo) -> str:
    """The notice in ``language`` (zh-CN when the catalogue has not that language)."""
    templates = CATALOGUE.get(language, CATALOGUE[DEFAULT_LANGUAGE])
    template = templates[NoticeText(message.code)]
    return template.format_map({k: _shown(k, v, tz) for k, v in message.params.items()})


def language_of(customer: Customer | None) -> str:
    """The language a customer is written to: their choice, zh-CN when unknown."""
    return customer.language.value if customer is not None else DEFAULT_LANGUAGE


def epoch_ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


class DeliveryResult(Protocol):
    delivered: bool
    ref: str
    error: str | None


class Delivery:
    def __init__(self, delivered: bool, ref: str = "", error: str | None = None) -> None:
        self.delivered, self.ref, self.error = delivered, ref, error


class NotificationProvider(Protocol):
    """SMS gateway, WeChat template messages, app push: one method each must offer."""

    async def send(self, notice: Notice) -> Delivery: ...


class LoggingProvider:
    """The default: writes each notice to the log. Nothing confirms that it reached anyone,
    so it stays ``sent``, never ``delivered`` (real channels: ``backend.prepaid.channels``)."""

    delivers = False

    async def send(self, notice: Notice) -> Delivery:
        log.info("notice %s to %s via %s: %s", notice.id, notice.recipient or "-",
                 notice.channel.value, notice.text)  # fmt: skip
        return Delivery(False, ref=f"log-{notice.id}")


async def average_daily_spend_fen(session: AsyncSession, account_id: int, now: datetime) -> int:
    """Consumption charges over the last 30 days, per day (0 when there are none)."""
    since = now - timedelta(days=30)
    total = await session.scalar(
        select(func.coalesce(func.sum(LedgerEntry.amount_fen), 0)).where(
            LedgerEntry.account_id == account_id,
            LedgerEntry.kind == EntryKind.CONSUMPTION_CHARGE,
            LedgerEntry.created_at >= since,
        )
    )
    return max(0, -int(total or 0)) // 30


def days_left(balance_fen: int, daily_fen: int) -> float | None:
    if daily_fen <= 0:
        return None
    return max(balance_fen, 0) / daily_fen


async def episode(session: AsyncSession, account_id: int) -> WarningEpisode:
    ep = await session.get(WarningEpisode, account_id)
    if ep is None:  # created once, whoever comes first (the sweep, a payment's restore)
        dialect = session.get_bind().dialect.name
        insert = (pg_insert if dialect == "postgresql" else sqlite_insert)(WarningEpisode)
        await session.execute(
            insert.values(account_id=account_id, episode=0, open=False).on_conflict_do_nothing()
        )
        ep = await session.get(WarningEpisode, account_id)
        assert ep is not None
    return ep


async def open_episode(session: AsyncSession, account_id: int, now: datetime) -> WarningEpisode:
    ep = await episode(session, account_id)
    if not ep.open:
        ep.episode += 1
        ep.open = True
        ep.opened_at = now
    return ep


async def close_episode(session: AsyncSession, account_id: int, now: datetime) -> None:
    ep = await episode(session, account_id)
    if ep.open:
        ep.open = False
        ep.closed_at = now


async def notify(
    session: AsyncSession, account: Account, kind: NoticeKind, channels: list[NoticeChannel],
    message: Text, *, now: datetime, tz: str, planned: datetime | None = None,
    sent: set[tuple[int, int, NoticeKind, NoticeChannel]] | None = None,
) -> int:  # fmt: skip
    """Queue a notice of this episode on each channel, once, worded in the customer's
    language. Returns how many were new. ``sent``: the (account, episode, kind, channel) this
    transaction knows are queued (the sweep reads a page's at once), kept up to date here;
    without it, each is looked up."""
    ep = await open_episode(session, account.id, now)
    customer = await session.get(Customer, account.customer_id)
    text = word(message, language_of(customer), ZoneInfo(tz))
    params: Params = dict(message.params)
    new = 0
    for ch in channels:
        key = (account.id, ep.episode, kind, ch)
        if sent is not None:
            if key in sent:
                continue
        elif (
            await session.scalar(
                select(Notice.id).where(
                    Notice.account_id == account.id,
                    Notice.episode == ep.episode,
                    Notice.kind == kind,
                    Notice.channel == ch,
                )
            )
            is not None
        ):
            continue
        try:
            async with session.begin_nested():
                session.add(
                    Notice(
                        account_id=account.id, episode=ep.episode, kind=kind, channel=ch,
                        recipient=customer.phone if customer else "", text=text,
                        code=message.code, params=params,
                        planned_disconnect_at=planned, balance_fen=account.balance_fen,
                        status=NoticeStatus.PENDING, created_at=now,
                    )
                )  # fmt: skip
            new += 1
        except IntegrityError:  # a concurrent sweep queued it first
            continue
        finally:
            if sent is not None:
                sent.add(key)
    return new


DELIVERY_PAGE = 200  # notices sent between two commits


async def deliver_pending(
    session: AsyncSession, provider: NotificationProvider, now: datetime | None = None,
    *, page: int = DELIVERY_PAGE,
) -> int:  # fmt: skip
    """Send the pending notices, oldest first, ``page`` at a time, committing each page: what a
    page sent is recorded before the next is read, so a crash or a cancelled task sends again
    at most the page in hand (not every notice of the run: a settings change can queue one
    for every low account), and the process holds a page of notices, not all of them. A
    notice whose send raised (a provider outage) is recorded and stays pending; a page where
    every send raised ends the run, and the rest wait for the next. Returns the notices
    taken."""
    taken, after = 0, 0
    while True:
        rows = (
            await session.scalars(
                select(Notice)
                .where(Notice.status == NoticeStatus.PENDING, Notice.id > after)
                .order_by(Notice.id)
                .limit(page)
            )
        ).all()
        failed = 0
        for n in rows:
            n.attempts += 1
            try:
                result = await provider.send(n)
            except Exception as exc:  # a provider outage: recorded, retried next run
                n.last_error = str(exc)[:500]
                failed += 1
                continue
            n.sent_at = now or utcnow()
            n.provider_ref = result.ref
            if result.delivered:
                n.status, n.delivered_at = NoticeStatus.DELIVERED, n.sent_at
            elif result.error:
                n.status, n.last_error = NoticeStatus.FAILED, result.error
            else:
                n.status = NoticeStatus.SENT
        await session.commit()
        taken += len(rows)
        if len(rows) < page or failed == len(rows):
            return taken
        after = rows[-1].id


async def warning_delivered_at(session: AsyncSession, account_id: int) -> datetime | None:
    """When this episode's disconnect warning first reached the customer, if it has."""
    ep = await session.get(WarningEpisode, account_id)
    if ep is None or not ep.open:
        return None
    return await session.scalar(
        select(func.min(Notice.delivered_at)).where(
            Notice.account_id == account_id, Notice.episode == ep.episode,
            Notice.kind == NoticeKind.DISCONNECT_WARNING,
            Notice.status == NoticeStatus.DELIVERED,
        )
    )  # fmt: skip


async def warnings_delivered_at(
    session: AsyncSession, account_ids: Sequence[int]
) -> dict[int, datetime]:
    """:func:`warning_delivered_at` for many accounts in one statement (absent: not delivered)."""
    rows = await session.execute(
        select(Notice.account_id, func.min(Notice.delivered_at))
        .join(
            WarningEpisode,
            and_(
                WarningEpisode.account_id == Notice.account_id,
                WarningEpisode.episode == Notice.episode,
            ),
        )
        .where(
            Notice.account_id.in_(account_ids), WarningEpisode.open.is_(True),
            Notice.kind == NoticeKind.DISCONNECT_WARNING,
            Notice.status == NoticeStatus.DELIVERED,
        )
        .group_by(Notice.account_id)
    )  # fmt: skip
    return {account_id: at for account_id, at in rows if at is not None}


async def sent_this_episode(session: AsyncSession, account_id: int, kind: NoticeKind) -> bool:
    """Whether the account's open episode already has a notice of this kind (any channel)."""
    ep = await session.get(WarningEpisode, account_id)
    if ep is None or not ep.open:
        return False
    found = await session.scalar(
        select(Notice.id)
        .where(Notice.account_id == account_id, Notice.episode == ep.episode, Notice.kind == kind)
        .limit(1)
    )
    return found is not None
