"""Issuing postpaid monthly bills, allocating payments to them, late fees and reminders.

* A bill is issued once per account and month (revision 0), stored with its lines and posted to
  the ledger once as a ``bill_issued`` entry of 0 fen: the month's consumption charges already
  debited the account interval by interval, so the entry marks the bill in the ledger without
  charging twice. A correction is a new revision (and a new entry), never an edit.
* Payments (top-ups less refunds) allocate to the oldest bill first: a bill is paid once the
  account's payments cover it and every older bill.
* Late fees (违约金) per bill and local day from the day after the due date while the bill is
  unpaid: the fee through a day is ``round(Σ owed × rate)`` over its days, posted as the
  difference to what was posted (so a bill unpaid throughout gets exactly
  ``backend.tariffs.bill.late_fee``); once per bill and day (a unique row).

Every write takes the account's lock first (``ledger.lock_account``), so issuers, payments and
late-fee postings of one account take turns.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import msgspec
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.accounts.models import Account, AccountKind, Customer, CustomerCategory
from backend.prepaid import ledger
from backend.prepaid.models import (
    EntryKind,
    LedgerEntry,
    Notice,
    NoticeChannel,
    NoticeKind,
    NoticeStatus,
)
from backend.prepaid.notices import language_of
from backend.tariffs import service as tariffs
from backend.tariffs.bill import BillLine, month_days
from backend.tariffs.bills.models import IssuedBill, LateFee
from backend.tariffs.model import TariffError
from backend.tariffs.rating import round_fen
from backend.texts import Params, Text, TextCode

log = logging.getLogger("meterline.bills")

REMIND_BEFORE_DAYS = 3  # the first reminder: three days before the due date


class BillMemo(TextCode):
    ISSUED = "memo.bill_issued"  # {number, total_fen}
    REVISED = "memo.bill_revised"  # {number, total_fen, previous_fen}
    LATE_FEE = "memo.late_fee"  # {number, day, owed_fen, permille}


class ReminderText(TextCode):
    DUE_SOON = "notice.text.bill_due_soon"  # {number, owed_fen, due_on}
    DUE = "notice.text.bill_due"  # {number, owed_fen, due_on}
    OVERDUE = "notice.text.bill_overdue"  # {number, owed_fen, due_on, days}


# the same templates as the app's (pwa/src/i18n)
REMINDERS: dict[str, dict[ReminderText, str]] = {
    "zh-CN": {
        ReminderText.DUE_SOON: (
            "您的电费账单 {number} 应缴 {owed_fen}，缴费截止日 {due_on}，请按时缴费。"
        ),
        ReminderText.DUE: "您的电费账单 {number} 应缴 {owed_fen}，今天 {due_on} 为缴费截止日。",
        ReminderText.OVERDUE: (
            "您的电费账单 {number} 已逾期 {days} 天，欠费 {owed_fen}（截止日 {due_on}），"
            "逾期每日加收违约金，请尽快缴费。"
        ),
    },
    "en": {
        ReminderText.DUE_SOON: "Your electricity bill {number}: {owed_fen} due by {due_on}.",
        ReminderText.DUE: "Your electricity bill {number}: {owed_fen} is due today, {due_on}.",
        ReminderText.OVERDUE: (
            "Your electricity bill {number} is {days} days overdue: {owed_fen} owed (due "
            "{due_on}). A late fee is added every day until it is paid."
        ),
    },
}


def word_reminder(message: Text, language: str) -> str:
    templates = REMINDERS.get(language, REMINDERS["zh-CN"])
    shown = {
        k: (f"¥{v // 100}.{v % 100:02d}" if k.endswith("_fen") and isinstance(v, int) else str(v))
        for k, v in message.params.items()
    }
    return templates[ReminderText(message.code)].format_map(shown)


def due_date(month: str, due_day: int) -> date:
    """A month's bill is due on ``due_day`` of the next month (the last day when shorter)."""
    _first, nxt = month_days(month)
    _f, after = month_days(f"{nxt.year:04d}-{nxt.month:02d}")
    return min(nxt + timedelta(days=due_day - 1), after - timedelta(days=1))


def bill_number(account: Account, month: str, revision: int) -> str:
    return f"{account.number}-{month.replace('-', '')}-{revision}"


def permille(residential: bool, due_on: date, day: date) -> int:
    """The published daily rate for ``day`` (供电营业规则): residential 1‰; others 2‰ within
    the year the bill fell due, 3‰ in later years."""
    if residential:
        return 1
    return 2 if day.year == due_on.year else 3


def is_residential(category: CustomerCategory) -> bool:
    return category is CustomerCategory.RESIDENTIAL


# ------------------------------------------------------------------------------------ issue


async def issue(
    session: AsyncSession,
    account: Account,
    category: CustomerCategory,
    month: str,
    tz: ZoneInfo,
    *,
    due_day: int,
    now: datetime,
    actor: str = "system",
) -> tuple[IssuedBill, bool]:
    """Issue the account's bill of ``month`` (revision 0) once: the stored one when it exists.
    The caller commits."""
    await ledger.lock_account(session, account.id)
    existing = await session.scalar(
        select(IssuedBill).where(IssuedBill.account_id == account.id, IssuedBill.month == month)
        .order_by(IssuedBill.revision).limit(1)
    )  # fmt: skip
    if existing is not None:
        return existing, False
    return await _store(session, account, category, month, tz, 0, due_day, now, actor), True


async def revise(
    session: AsyncSession,
    account: Account,
    category: CustomerCategory,
    month: str,
    tz: ZoneInfo,
    *,
    now: datetime,
    actor: str = "system",
) -> tuple[IssuedBill | None, bool]:
    """After a correction (re-rated charges): a new revision when the month's bill now comes to
    another amount, with its own ledger entry; the issued bill stays as it was."""
    await ledger.lock_account(session, account.id)
    latest = await session.scalar(
        select(IssuedBill).where(IssuedBill.account_id == account.id, IssuedBill.month == month)
        .order_by(IssuedBill.revision.desc()).limit(1)
    )  # fmt: skip
    if latest is None:
        return None, False
    bill = await tariffs.monthly_bill(session, account, category, month, tz)
    if bill.total_fen == latest.total_fen:
        return latest, False
    row = await _store(
        session, account, category, month, tz, latest.revision + 1, 0, now, actor,
        due_on=latest.due_on, previous_fen=latest.total_fen,
    )  # fmt: skip
    return row, True


async def _store(
    session: AsyncSession, account: Account, category: CustomerCategory, month: str,
    tz: ZoneInfo, revision: int, due_day: int, now: datetime, actor: str,
    *, due_on: date | None = None, previous_fen: int | None = None,
) -> IssuedBill:  # fmt: skip
    bill = await tariffs.monthly_bill(session, account, category, month, tz)
    number = bill_number(account, month, revision)
    if previous_fen is None:
        note = Text(BillMemo.ISSUED, {"number": number, "total_fen": bill.total_fen})
    else:
        note = Text(
            BillMemo.REVISED,
            {"number": number, "total_fen": bill.total_fen, "previous_fen": previous_fen},
        )
    entry = await ledger.post(
        session, account.id, EntryKind.BILL_ISSUED, 0, actor=actor, note=note,
        exact_cny=Decimal(bill.exact_cny),
    )  # fmt: skip
    row = IssuedBill(
        number=number, account_id=account.id, month=month, revision=revision,
        lines=msgspec.json.encode(bill.lines).decode(), exact_cny=bill.exact_cny,
        total_fen=bill.total_fen, energy_wh=bill.energy_wh,
        due_on=due_on or due_date(month, due_day), entry_id=entry.id, issued_at=now,
    )  # fmt: skip
    session.add(row)
    await session.flush()
    return row


@dataclass
class IssueResult:
    issued: int = 0
    already: int = 0


async def issue_all(
    sessions: async_sessionmaker[AsyncSession], month: str, tz: ZoneInfo, *, due_day: int,
    now: datetime,
) -> IssueResult:  # fmt: skip
    """Issue the month's bill of every postpaid account, one short transaction each. A second
    issuer running at the same time meets the lock or the unique revision and stops."""
    async with sessions() as s:
        ids = (
            await s.scalars(
                select(Account.id).where(Account.kind == AccountKind.POSTPAID).order_by(Account.id)
            )
        ).all()
    result = IssueResult()
    for account_id in ids:
        try:
            async with sessions() as s, s.begin():
                account = await s.get(Account, account_id)
                assert account is not None
                customer = await s.get(Customer, account.customer_id)
                assert customer is not None
                _row, created = await issue(
                    s, account, customer.category, month, tz, due_day=due_day, now=now
                )
        except IntegrityError:  # a concurrent issuer stored it first
            created = False
        if created:
            result.issued += 1
        else:
            result.already += 1
    return result


async def revise_after_rerating(
    sessions: async_sessionmaker[AsyncSession], changed: dict[int, int], tz: ZoneInfo, *,
    now: datetime,
) -> int:  # fmt: skip
    """Billing's hook after it re-rated charges (late readings, a past-dated category or tier
    change): ``changed`` is account id → the earliest start (epoch ms) of a charge it posted or
    reversed. Every issued month of those accounts that ends after it gets :func:`revise`, one
    short transaction each: a new revision when the month's amount changed, none otherwise (so
    two re-ratings at once make one revision per change: the account lock, then the unique
    revision). Returns how many revisions were issued."""
    if not changed:
        return 0
    async with sessions() as s:
        rows = (
            await s.execute(
                select(IssuedBill.account_id, IssuedBill.month)
                .where(IssuedBill.account_id.in_(sorted(changed)))
                .distinct()
            )
        ).all()
    work = sorted((a, m) for a, m in rows if _month_end_ms(m, tz) > changed[a])
    revised = 0
    for account_id, month in work:
        try:
            async with sessions() as s, s.begin():
                account = await s.get(Account, account_id)
                assert account is not None
                customer = await s.get(Customer, account.customer_id)
                assert customer is not None
                _row, created = await revise(s, account, customer.category, month, tz, now=now)
        except IntegrityError:  # a concurrent reviser stored this revision first
            created = False
        except TariffError as exc:
            log.error("account %s: bill %s not revised: %s", account_id, month, exc)
            created = False
        revised += created
    return revised


def _month_end_ms(month: str, tz: ZoneInfo) -> int:
    _first, nxt = month_days(month)
    return int(datetime(nxt.year, nxt.month, nxt.day, tzinfo=tz).timestamp() * 1000)


# ------------------------------------------------------------------------------- allocation


@dataclass
class BillState:
    bill: IssuedBill
    paid_fen: int
    late_fee_fen: int
    paid_at: datetime | None  # when the payments first covered it

    @property
    def owed_fen(self) -> int:
        return self.bill.total_fen - self.paid_fen


async def current_bills(session: AsyncSession, account_id: int) -> list[IssuedBill]:
    """The latest revision of each month's bill, oldest month first."""
    latest = (
        select(IssuedBill.month, func.max(IssuedBill.revision).label("rev"))
        .where(IssuedBill.account_id == account_id)
        .group_by(IssuedBill.month)
        .subquery()
    )
    return list(
        (
            await session.scalars(
                select(IssuedBill)
                .join(
                    latest,
                    (IssuedBill.month == latest.c.month) & (IssuedBill.revision == latest.c.rev),
                )
                .where(IssuedBill.account_id == account_id)
                .order_by(IssuedBill.month)
            )
        ).all()
    )


async def all_revisions(session: AsyncSession, account_id: int) -> list[IssuedBill]:
    """Every issued revision of the account's bills, newest month first, newest revision
    first within a month."""
    q = select(IssuedBill).where(IssuedBill.account_id == account_id)
    return list(
        await session.scalars(q.order_by(IssuedBill.month.desc(), IssuedBill.revision.desc()))
    )


async def totals(session: AsyncSession, account_id: int) -> dict[tuple[str, int], int]:
    """Every issued revision's total by (month, revision): what a revision replaced."""
    rows = await session.execute(
        select(IssuedBill.month, IssuedBill.revision, IssuedBill.total_fen).where(
            IssuedBill.account_id == account_id
        )
    )
    return {(m, r): int(t) for m, r, t in rows.all()}


async def bill_states(session: AsyncSession, account_id: int) -> list[BillState]:
    """Each current bill with what the payments cover of it, oldest bill first."""
    bills = await current_bills(session, account_id)
    payments = (
        await session.execute(
            select(LedgerEntry.amount_fen, LedgerEntry.created_at)
            .where(
                LedgerEntry.account_id == account_id,
                LedgerEntry.kind.in_((EntryKind.TOP_UP, EntryKind.REFUND)),
            )
            .order_by(LedgerEntry.id)
        )
    ).all()
    fees = dict(
        (
            await session.execute(
                select(LateFee.bill_id, func.sum(LateFee.amount_fen))
                .where(LateFee.account_id == account_id)
                .group_by(LateFee.bill_id)
            )
        ).all()
    )
    paid_total = sum(int(a) for a, _ in payments)
    out: list[BillState] = []
    owed_before = 0
    for b in bills:
        paid = max(0, min(b.total_fen, paid_total - owed_before))
        paid_at = None
        if paid == b.total_fen:
            running = 0
            for amount, at in payments:
                running += int(amount)
                if running >= owed_before + b.total_fen:
                    paid_at = at
                    break
        out.append(BillState(b, paid, int(fees.get(b.id, 0) or 0), paid_at))
        owed_before += b.total_fen
    return out


# --------------------------------------------------------------------------------- late fee


async def post_late_fees(
    session: AsyncSession, account: Account, residential: bool, today: date, tz: ZoneInfo,
) -> int:  # fmt: skip
    """Post the late fees of every unpaid bill for each day from the day after its due date to
    ``today`` not yet posted. Returns the fen posted. The caller commits."""
    await ledger.lock_account(session, account.id)
    posted = 0
    for st in await bill_states(session, account.id):
        if st.owed_fen <= 0:
            continue  # never on a paid bill
        rows = (await session.scalars(select(LateFee).where(LateFee.bill_id == st.bill.id))).all()
        done = {r.day for r in rows}
        exact = sum((Decimal(r.owed_fen * r.permille) / 1000 for r in rows), Decimal(0))
        given = sum(r.amount_fen for r in rows)
        day = st.bill.due_on + timedelta(days=1)
        while day <= today:
            if day not in done:
                rate = permille(residential, st.bill.due_on, day)
                exact += Decimal(st.owed_fen * rate) / 1000
                fen = round_fen(exact / 100) - given
                given += fen
                note = Text(
                    BillMemo.LATE_FEE,
                    {"number": st.bill.number, "day": day.isoformat(),
                     "owed_fen": st.owed_fen, "permille": rate},
                )  # fmt: skip
                entry = await ledger.post(
                    session, account.id, EntryKind.LATE_FEE, -fen, actor="system", note=note
                )
                session.add(
                    LateFee(
                        bill_id=st.bill.id, account_id=account.id, day=day,
                        owed_fen=st.owed_fen, permille=rate, amount_fen=fen, entry_id=entry.id,
                    )
                )  # fmt: skip
                await session.flush()
                posted += fen
            day += timedelta(days=1)
    return posted


# -------------------------------------------------------------------------------- reminders


def reminder_due(due_on: date, today: date, overdue_days: int) -> NoticeKind | None:
    """The latest reminder stage reached on ``today`` (each sent once; a late start sends only
    the latest, not the ones it missed)."""
    if today >= due_on + timedelta(days=overdue_days):
        return NoticeKind.BILL_OVERDUE
    if today >= due_on:
        return NoticeKind.BILL_DUE
    if today >= due_on - timedelta(days=REMIND_BEFORE_DAYS):
        return NoticeKind.BILL_DUE_SOON
    return None


_REMINDER_TEXT = {
    NoticeKind.BILL_DUE_SOON: ReminderText.DUE_SOON,
    NoticeKind.BILL_DUE: ReminderText.DUE,
    NoticeKind.BILL_OVERDUE: ReminderText.OVERDUE,
}


async def remind(
    session: AsyncSession, account: Account, today: date, *, overdue_days: int,
    channels: Sequence[NoticeChannel], now: datetime,
) -> int:  # fmt: skip
    """Queue the reminder each unpaid bill has reached, once per bill, stage and channel (a
    notice of episode ``-bill id``, delivered by the notice delivery like prepaid's)."""
    customer = await session.get(Customer, account.customer_id)
    language = language_of(customer)
    new = 0
    for st in await bill_states(session, account.id):
        if st.owed_fen <= 0:
            continue
        kind = reminder_due(st.bill.due_on, today, overdue_days)
        if kind is None:
            continue
        params: Params = {
            "number": st.bill.number, "owed_fen": st.owed_fen,
            "due_on": st.bill.due_on.isoformat(),
        }  # fmt: skip
        if kind is NoticeKind.BILL_OVERDUE:
            params["days"] = (today - st.bill.due_on).days
        message = Text(_REMINDER_TEXT[kind], params)
        for ch in channels:
            exists = await session.scalar(
                select(Notice.id).where(
                    Notice.account_id == account.id, Notice.episode == -st.bill.id,
                    Notice.kind == kind, Notice.channel == ch,
                )
            )  # fmt: skip
            if exists is not None:
                continue
            try:
                async with session.begin_nested():
                    session.add(
                        Notice(
                            account_id=account.id, episode=-st.bill.id, kind=kind, channel=ch,
                            recipient=customer.phone if customer else "",
                            text=word_reminder(message, language), code=message.code,
                            params=dict(message.params), balance_fen=account.balance_fen,
                            status=NoticeStatus.PENDING, created_at=now,
                        )
                    )  # fmt: skip
                new += 1
            except IntegrityError:  # a concurrent round queued it first
                continue
    return new


# ------------------------------------------------------------------------------ daily round


@dataclass
class DayResult:
    issued: int = 0
    late_fee_fen: int = 0
    reminders: int = 0


def previous_month(day: date) -> str:
    last = day.replace(day=1) - timedelta(days=1)
    return f"{last.year:04d}-{last.month:02d}"


async def run_day(
    sessions: async_sessionmaker[AsyncSession], now: datetime, tz: ZoneInfo, *, due_day: int,
    overdue_days: int, channels: Sequence[NoticeChannel],
) -> DayResult:  # fmt: skip
    """One leader round: issue last month's bills not yet issued, post the late fees due and
    queue the reminders reached. Idempotent: running it twice a day changes nothing more."""
    today = now.astimezone(tz).date()
    result = DayResult()
    result.issued = (
        await issue_all(sessions, previous_month(today), tz, due_day=due_day, now=now)
    ).issued
    async with sessions() as s:
        ids = (await s.scalars(select(IssuedBill.account_id).distinct())).all()
    for account_id in ids:
        async with sessions() as s, s.begin():
            account = await s.get(Account, account_id)
            assert account is not None
            customer = await s.get(Customer, account.customer_id)
            assert customer is not None
            result.late_fee_fen += await post_late_fees(
                s, account, is_residential(customer.category), today, tz
            )
            result.reminders += await remind(
                s, account, today, overdue_days=overdue_days, channels=channels, now=now
            )
    return result


# --------------------------------------------------------------------------------- arrears


def ageing_bucket(days_past_due: int) -> str:
    if days_past_due <= 30:
        return "d0_30_fen"
    if days_past_due <= 60:
        return "d31_60_fen"
    if days_past_due <= 90:
        return "d61_90_fen"
    return "over_90_fen"


def decode_lines(row: IssuedBill) -> list[BillLine]:
    return msgspec.json.decode(row.lines, type=list[BillLine])


@dataclass
class ArrearsLine:
    account: Account
    customer: Customer
    oldest_due_on: date
    buckets: dict[str, int]
    late_fee_fen: int


async def arrears(session: AsyncSession, scope: object, today: date) -> list[ArrearsLine]:
    """Every account in ``scope`` (a condition on Account) with a bill unpaid past its due
    date, its unpaid amounts by days past due, longest overdue first."""
    rows = (
        await session.execute(
            select(Account, Customer)
            .join(Customer, Customer.id == Account.customer_id)
            .where(
                scope,  # type: ignore[arg-type]
                Account.id.in_(
                    select(IssuedBill.account_id).where(IssuedBill.due_on < today).distinct()
                ),
            )
            .order_by(Account.id)
        )
    ).all()
    out: list[ArrearsLine] = []
    for account, customer in rows:
        buckets: dict[str, int] = {}
        oldest: date | None = None
        fees = 0
        for st in await bill_states(session, account.id):
            fees += st.late_fee_fen
            if st.owed_fen <= 0 or st.bill.due_on >= today:
                continue
            key = ageing_bucket((today - st.bill.due_on).days)
            buckets[key] = buckets.get(key, 0) + st.owed_fen
            oldest = st.bill.due_on if oldest is None else min(oldest, st.bill.due_on)
        if oldest is not None:
            out.append(ArrearsLine(account, customer, oldest, buckets, fees))
    out.sort(key=lambda a: (a.oldest_due_on, a.account.id))
    return out
