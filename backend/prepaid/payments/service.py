"""Online payments: an order per intent, money only on the provider's signed confirmation.

* ``create_order``: the customer's request makes a *pending* order (unique per customer and
  Idempotency-Key, so a double tap makes one order). Nothing is credited.
* ``receive``: a provider's notification is verified by its adapter (signature, decryption,
  merchant), then, in one transaction: its replay key is recorded (unique: a captured
  notification sent again is refused), the order is found and checked (known, same provider,
  same amount, paid before it expired), moved pending → paid by compare-and-set, and the
  ledger's top_up entry posted. However often and however concurrently a notification
  arrives, the order is credited once. Every notification is kept in
  ``payment_notifications`` with its outcome; refused ones are counted by reason.
* ``reconcile``: the provider's statement against the paid orders of the same days.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

import msgspec
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.accounts.models import Account
from backend.prepaid import ledger
from backend.prepaid.models import (
    Channel,
    EntryKind,
    NotificationOutcome,
    OrderStatus,
    PaymentNotification,
    PaymentOrder,
    PaymentProvider,
)
from backend.prepaid.payments.providers import (
    Answer,
    Confirmation,
    Provider,
    Rejected,
    RejectReason,
    StatementLine,
)
from backend.prepaid.payments.providers.alipay import AlipayRSA2
from backend.prepaid.payments.providers.simulated import SimulatedWallet
from backend.prepaid.payments.providers.wechat import WeChatPayV3
from backend.prepaid.payments.schemas import (
    Difference,
    DifferenceKind,
    NotificationCounts,
    OnlineChannel,
    OrderIn,
    OrderOut,
    Reconciliation,
    RejectionCount,
)
from backend.settings import Settings, SettingsError

BEIJING = ZoneInfo("Asia/Shanghai")  # providers' statements are by Beijing day


class PaymentsOff(RuntimeError):
    """Online payments are not set up here (``METERLINE_PAYMENTS_PROVIDER=none``)."""


class OrderKeyReused(ValueError):
    """422: this Idempotency-Key was used for another order."""


# -- providers -----------------------------------------------------------------------------


def provider_for_channel(settings: Settings, channel: OnlineChannel) -> PaymentProvider:
    if settings.payments_provider == "simulated":
        return PaymentProvider.SIMULATED
    if settings.payments_provider == "live":
        return PaymentProvider.ALIPAY if channel is OnlineChannel.ALIPAY else PaymentProvider.WECHAT
    raise PaymentsOff("online payments are not set up here: pay at a counter or bank")


def enabled(settings: Settings) -> frozenset[PaymentProvider]:
    if settings.payments_provider == "simulated":
        return frozenset({PaymentProvider.SIMULATED})
    if settings.payments_provider == "live":
        return frozenset({PaymentProvider.WECHAT, PaymentProvider.ALIPAY})
    return frozenset()


def _public_key(path: str, setting: str) -> rsa.RSAPublicKey:
    if not path:
        raise SettingsError(f"{setting} is not set")
    data = Path(path).read_bytes()
    key = (
        x509.load_pem_x509_certificate(data).public_key()
        if b"CERTIFICATE" in data
        else serialization.load_pem_public_key(data)
    )
    if not isinstance(key, rsa.RSAPublicKey):
        raise SettingsError(f"{setting}: not an RSA public key")
    return key


@cache
def _wallet(data_dir: str) -> SimulatedWallet:
    return SimulatedWallet.load(Path(data_dir))


def wallet(settings: Settings) -> SimulatedWallet:
    return _wallet(str(Path(settings.data_dir).resolve()))


@cache
def _wechat(mchid: str, serial: str, key_file: str, v3_file: str) -> WeChatPayV3:
    if not v3_file:
        raise SettingsError("METERLINE_PAYMENTS_WECHAT_APIV3_KEY_FILE is not set")
    return WeChatPayV3(
        platform_key=_public_key(key_file, "METERLINE_PAYMENTS_WECHAT_PUBLIC_KEY_FILE"),
        serial=serial, apiv3_key=Path(v3_file).read_bytes().strip(), mchid=mchid,
    )  # fmt: skip


@cache
def _alipay(app_id: str, key_file: str) -> AlipayRSA2:
    key = _public_key(key_file, "METERLINE_PAYMENTS_ALIPAY_PUBLIC_KEY_FILE")
    return AlipayRSA2(alipay_public_key=key, app_id=app_id)


def provider(settings: Settings, name: PaymentProvider) -> Provider:
    if name not in enabled(settings):
        raise PaymentsOff(f"payment provider {name.value} is not enabled here")
    if name is PaymentProvider.SIMULATED:
        return wallet(settings).verifier()
    if name is PaymentProvider.WECHAT:
        return _wechat(
            settings.payments_wechat_mchid, settings.payments_wechat_serial,
            settings.payments_wechat_public_key_file, settings.payments_wechat_apiv3_key_file,
        )  # fmt: skip
    return _alipay(settings.payments_alipay_app_id, settings.payments_alipay_public_key_file)


# -- orders --------------------------------------------------------------------------------


def _hash(account_id: int, body: OrderIn) -> str:
    canon = msgspec.json.encode({"account_id": account_id, **msgspec.to_builtins(body)})
    return hashlib.sha256(canon).hexdigest()


def order_out(o: PaymentOrder) -> OrderOut:
    return OrderOut(
        order_no=o.order_no, account_id=o.account_id, amount_fen=o.amount_fen,
        channel=OnlineChannel(o.channel.value), provider=o.provider, status=o.status,
        created_at=o.created_at, expires_at=o.expires_at, paid_at=o.paid_at,
        receipt_number=o.receipt_number, balance_after_fen=o.balance_after_fen,
    )  # fmt: skip


async def create_order(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, account: Account, key: str,
    body: OrderIn, *, actor: str, now: datetime,
) -> tuple[OrderOut, bool]:  # fmt: skip
    """A pending order for this intent, or the one this key already made (replayed=True).
    Raises PaymentsOff, OrderKeyReused."""
    name = provider_for_channel(settings, body.channel)
    digest = _hash(account.id, body)
    async with sessions() as s:
        row = PaymentOrder(
            order_no=f"ML{now.astimezone(BEIJING):%Y%m%d}{secrets.token_hex(8).upper()}",
            customer_id=account.customer_id, account_id=account.id, idempotency_key=key,
            request_hash=digest, channel=Channel(body.channel.value), provider=name,
            amount_fen=body.amount_fen, status=OrderStatus.PENDING, actor=actor,
            created_at=now,
            expires_at=now + timedelta(minutes=settings.payments_order_ttl_minutes),
        )  # fmt: skip
        s.add(row)
        try:
            await s.commit()
            return order_out(row), False
        except IntegrityError:
            await s.rollback()
    async with sessions() as s:
        found = await s.scalar(
            select(PaymentOrder).where(
                PaymentOrder.customer_id == account.customer_id,
                PaymentOrder.idempotency_key == key,
            )
        )
        if found is None:  # the insert failed on something else: not the client's fault
            raise RuntimeError("payment order could not be stored")
        if found.request_hash != digest:
            raise OrderKeyReused(
                "Idempotency-Key was already used for a different payment; use a new key"
            )
        return order_out(await _expire_if_due(s, found, now)), True


async def _expire_if_due(s: AsyncSession, order: PaymentOrder, now: datetime) -> PaymentOrder:
    if order.status is OrderStatus.PENDING and order.expires_at <= now:
        await s.execute(
            update(PaymentOrder)
            .where(PaymentOrder.id == order.id, PaymentOrder.status == OrderStatus.PENDING)
            .values(status=OrderStatus.EXPIRED)
        )
        await s.commit()
        await s.refresh(order)
    return order


async def get_order(
    session: AsyncSession, account_id: int, order_no: str, now: datetime
) -> PaymentOrder | None:
    order = await session.scalar(
        select(PaymentOrder).where(
            PaymentOrder.account_id == account_id, PaymentOrder.order_no == order_no
        )
    )
    return None if order is None else await _expire_if_due(session, order, now)


async def expire_orders(session: AsyncSession, now: datetime) -> int:
    """Mark every pending order past its expiry as expired."""
    result = await session.execute(
        update(PaymentOrder)
        .where(PaymentOrder.status == OrderStatus.PENDING, PaymentOrder.expires_at <= now)
        .values(status=OrderStatus.EXPIRED)
    )
    await session.commit()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


# -- notifications -------------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    outcome: NotificationOutcome
    reason: RejectReason | None
    answer: Answer
    account_id: int | None = None  # the order's account, once credited (or a duplicate)
    paid_at: datetime | None = None


async def _refuse(
    sessions: async_sessionmaker[AsyncSession], name: PaymentProvider, prov: Provider,
    exc: Rejected, now: datetime, order_no: str | None = None,
) -> Received:  # fmt: skip
    async with sessions() as s:
        s.add(
            PaymentNotification(
                provider=name, outcome=NotificationOutcome.REJECTED, reason=exc.reason.value,
                detail=exc.detail[:500], order_no=order_no, received_at=now,
            )
        )  # fmt: skip
        await s.commit()
    return Received(NotificationOutcome.REJECTED, exc.reason, prov.refused(exc.reason))


async def receive(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, name: PaymentProvider,
    headers: Mapping[str, str], body: bytes, now: datetime,
) -> Received:  # fmt: skip
    """Verify a provider's notification and credit its order once. Raises PaymentsOff when
    the provider is not enabled here."""
    prov = provider(settings, name)
    try:
        conf = prov.verify(headers, body, now)
    except Rejected as exc:
        return await _refuse(sessions, name, prov, exc, now)
    async with sessions() as s:
        note = PaymentNotification(
            provider=name, outcome=NotificationOutcome.CREDITED, order_no=conf.order_no[:64],
            replay_key=conf.replay_key, received_at=now,
        )  # fmt: skip
        s.add(note)
        try:
            await s.flush()
        except IntegrityError:
            await s.rollback()
            replay = Rejected(RejectReason.REPLAY, "this signed notification was received before")
            return await _refuse(sessions, name, prov, replay, now, conf.order_no[:64])
        try:
            received = await _apply(s, name, prov, conf, note, now)
        except Rejected as exc:
            note.outcome, note.reason, note.detail = (
                NotificationOutcome.REJECTED, exc.reason.value, exc.detail[:500],
            )  # fmt: skip
            received = Received(NotificationOutcome.REJECTED, exc.reason, prov.refused(exc.reason))
        await s.commit()
    return received


async def _apply(
    s: AsyncSession, name: PaymentProvider, prov: Provider, conf: Confirmation,
    note: PaymentNotification, now: datetime,
) -> Received:  # fmt: skip
    order = await s.scalar(select(PaymentOrder).where(PaymentOrder.order_no == conf.order_no))
    if order is None:
        raise Rejected(RejectReason.UNKNOWN_ORDER, f"no order {conf.order_no[:40]!r}")
    if order.provider is not name:
        raise Rejected(RejectReason.WRONG_PROVIDER, f"order placed with {order.provider.value}")
    if conf.amount_fen != order.amount_fen:
        raise Rejected(
            RejectReason.AMOUNT_MISMATCH,
            f"provider says {conf.amount_fen} fen, the order is {order.amount_fen} fen",
        )
    if order.status is OrderStatus.PAID:
        if order.provider_txn_id != conf.provider_txn_id:
            raise Rejected(RejectReason.ALREADY_PAID, f"paid by {order.provider_txn_id}")
        note.outcome = NotificationOutcome.DUPLICATE
        return Received(
            NotificationOutcome.DUPLICATE, None, prov.accepted(), order.account_id, order.paid_at
        )
    if conf.paid_at > order.expires_at:
        raise Rejected(RejectReason.EXPIRED, f"paid after the order expired at {order.expires_at}")
    # compare-and-set: of two deliveries at once, one moves the order, the other sees it paid
    moved = await s.execute(
        update(PaymentOrder)
        .where(
            PaymentOrder.id == order.id,
            PaymentOrder.status.in_([OrderStatus.PENDING, OrderStatus.EXPIRED]),
        )
        .values(
            status=OrderStatus.PAID, paid_at=conf.paid_at, confirmed_at=now,
            provider_txn_id=conf.provider_txn_id,
        )
    )  # fmt: skip
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        note.outcome = NotificationOutcome.DUPLICATE
        return Received(NotificationOutcome.DUPLICATE, None, prov.accepted(), order.account_id)
    await ledger.lock_account(s, order.account_id)
    entry = await ledger.post(
        s, order.account_id, EntryKind.TOP_UP, order.amount_fen, actor=f"payment:{name.value}",
        memo=f"{order.channel.value} payment {order.order_no}, {name.value} {conf.provider_txn_id}",
    )  # fmt: skip
    await s.execute(
        update(PaymentOrder)
        .where(PaymentOrder.id == order.id)
        .values(
            entry_id=entry.id, balance_after_fen=entry.balance_after_fen,
            receipt_number=f"R{conf.paid_at.astimezone(BEIJING):%Y%m%d}P{order.id:08d}",
        )
    )  # fmt: skip
    return Received(
        NotificationOutcome.CREDITED, None, prov.accepted(), order.account_id, conf.paid_at
    )


async def notification_counts(session: AsyncSession) -> NotificationCounts:
    rows = await session.execute(
        select(
            PaymentNotification.provider, PaymentNotification.outcome,
            PaymentNotification.reason, func.count(), func.max(PaymentNotification.received_at),
        ).group_by(
            PaymentNotification.provider, PaymentNotification.outcome, PaymentNotification.reason
        )
    )  # fmt: skip
    totals = dict.fromkeys(NotificationOutcome, 0)
    rejections = []
    for prov, outcome, reason, n, last in rows:
        totals[NotificationOutcome(outcome)] += n
        if outcome == NotificationOutcome.REJECTED:
            rejections.append(RejectionCount(PaymentProvider(prov), reason or "", n, last))
    rejections.sort(key=lambda r: (-r.count, r.provider, r.reason))
    return NotificationCounts(
        credited=totals[NotificationOutcome.CREDITED],
        duplicate=totals[NotificationOutcome.DUPLICATE],
        rejected=totals[NotificationOutcome.REJECTED], rejections=rejections,
    )  # fmt: skip


# -- reconciliation ------------------------------------------------------------------------


class ReconcileError(ValueError):
    """The statement cannot be compared (no day to compare); the message says why."""


def _day_span(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(), BEIJING).astimezone(UTC)
    return start, start + timedelta(days=1)


async def reconcile(
    session: AsyncSession, name: PaymentProvider, lines: list[StatementLine], skipped: int,
    days: list[date] | None = None,
) -> Reconciliation:  # fmt: skip
    """Every difference between the provider's statement and the ledger, for the statement's
    days (Beijing dates of its payments, or the days given): paid at the provider but not
    credited here, credited here but not in the statement, or credited another amount."""
    wanted = sorted(set(days or []) | {ln.paid_at.astimezone(BEIJING).date() for ln in lines})
    if not wanted:
        raise ReconcileError("the statement has no payments: name the day to compare")
    ours: dict[str, PaymentOrder] = {}
    for day in wanted:
        start, end = _day_span(day)
        for paid in await session.scalars(
            select(PaymentOrder).where(
                PaymentOrder.provider == name, PaymentOrder.status == OrderStatus.PAID,
                PaymentOrder.paid_at >= start, PaymentOrder.paid_at < end,
            )
        ):  # fmt: skip
            ours[paid.order_no] = paid
    named = [ln.order_no for ln in lines if ln.order_no not in ours]
    elsewhere = {
        o.order_no: o
        for o in await session.scalars(
            select(PaymentOrder).where(
                PaymentOrder.order_no.in_(named), PaymentOrder.status == OrderStatus.PAID,
                PaymentOrder.provider == name,
            )
        )
    } if named else {}  # fmt: skip
    diffs: list[Difference] = []
    matched = 0
    seen: set[str] = set()
    for ln in lines:
        seen.add(ln.order_no)
        o = ours.get(ln.order_no) or elsewhere.get(ln.order_no)
        if o is None:
            diffs.append(
                Difference(DifferenceKind.MISSING_IN_LEDGER, ln.order_no, ln.provider_txn_id,
                           ln.amount_fen, None, None)
            )  # fmt: skip
        elif o.amount_fen != ln.amount_fen:
            diffs.append(
                Difference(DifferenceKind.AMOUNT_DIFFERS, ln.order_no, ln.provider_txn_id,
                           ln.amount_fen, o.amount_fen, o.account_id)
            )  # fmt: skip
        else:
            matched += 1
    for o in ours.values():
        if o.order_no not in seen:
            diffs.append(
                Difference(DifferenceKind.MISSING_AT_PROVIDER, o.order_no, o.provider_txn_id,
                           None, o.amount_fen, o.account_id)
            )  # fmt: skip
    return Reconciliation(
        provider=name, days=[d.isoformat() for d in wanted], statement_payments=len(lines),
        statement_fen=sum(ln.amount_fen for ln in lines), ledger_payments=len(ours),
        ledger_fen=sum(o.amount_fen for o in ours.values()), matched=matched,
        skipped_rows=skipped, differences=diffs,
    )  # fmt: skip
