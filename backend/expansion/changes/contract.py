"""The changes to the supply contract of an account that keep its number, meter and ledger:
更名 (the holder's name), 增容/减容 (contracted kVA), 暂停 and 恢复 (the capacity charge stops
and restarts). Each is checked when asked and again when approved; applying writes the
account (or its holder) and the change's ``before``/``after``, never an earlier change.
Billing reads the capacity over time from the applied rows (``history.capacity_history``).

Published limits (供电营业规则 §23–24, as the provincial rules apply them): a suspension lasts
at least 15 days (shorter, the capacity charge is billed as usual, so it is refused here) and
at most 180 days at a time; a resumption ends it no earlier than its 15th day."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts.models import Account, Customer
from backend.errors import ErrorCode as E
from backend.errors import Unprocessable
from backend.expansion.changes.history import capacity_history
from backend.expansion.changes.models import AccountChange, ChangeKind, ChangeStatus
from backend.expansion.changes.schemas import (
    CapacityIn,
    NameChangeIn,
    ResumptionIn,
    SuspensionIn,
)
from backend.tariffs.models import AccountTariffTerms

MIN_SUSPENSION_DAYS = 15
MAX_SUSPENSION_DAYS = 180

KINDS = (ChangeKind.NAME, ChangeKind.CAPACITY, ChangeKind.SUSPENSION, ChangeKind.RESUMPTION)
ContractIn = NameChangeIn | CapacityIn | SuspensionIn | ResumptionIn
Sides = tuple[dict[str, object], dict[str, object]]


def _not_future(day: date, today: date) -> None:
    if day > today:
        raise Unprocessable(
            E.CHANGE_IN_FUTURE, f"{day.isoformat()} is after today",
            field="effective_from", day=day.isoformat(),
        )  # fmt: skip


async def _capacity(session: AsyncSession, account: Account) -> int:
    terms = await session.get(AccountTariffTerms, account.id)
    return (terms.capacity_kva or 0) if terms else 0


async def _last_day(
    session: AsyncSession, account_id: int, kinds: tuple[ChangeKind, ...], leave_out: int | None
) -> date | None:
    return await session.scalar(
        select(AccountChange.effective_from)
        .where(
            AccountChange.account_id == account_id,
            AccountChange.kind.in_(kinds),
            AccountChange.status == ChangeStatus.APPLIED,
            AccountChange.id != (leave_out or 0),
        )
        .order_by(AccountChange.effective_from.desc())
        .limit(1)
    )


async def _suspension_running(
    session: AsyncSession, account_id: int, day: date, leave_out: int | None
) -> AccountChange | None:
    """The applied suspension whose stretch holds ``day`` (not ended by a resumption)."""
    history = await capacity_history(session, account_id, leave_out)
    rows = await session.scalars(
        select(AccountChange).where(
            AccountChange.account_id == account_id,
            AccountChange.kind == ChangeKind.SUSPENSION,
            AccountChange.status == ChangeStatus.APPLIED,
            AccountChange.id != (leave_out or 0),
        )
    )
    for r in rows:
        if any(a == r.effective_from and a <= day < b for a, b in history.suspended):
            return r
    return None


async def check(
    session: AsyncSession,
    account: Account,
    body: ContractIn,
    today: date,
    applying: int | None = None,
) -> Sides:
    """(before, after) of the change; raises with the field named when it cannot be made."""
    day = body.effective_from
    if isinstance(body, NameChangeIn):
        _not_future(day, today)
        holder = await session.get(Customer, account.customer_id)
        assert holder is not None
        if holder.name == body.holder_name:
            raise Unprocessable(
                E.CHANGE_SAME, "the holder has this name already",
                field="holder_name", value=body.holder_name,
            )  # fmt: skip
        return (
            {"holder_name": holder.name},
            {"holder_name": body.holder_name, "id_document": body.id_document},
        )
    kva = await _capacity(session, account)
    if isinstance(body, CapacityIn):
        last = await _last_day(session, account.id, (ChangeKind.CAPACITY,), applying)
        if last is not None and day <= last:
            raise Unprocessable(
                E.CHANGE_BEFORE_LAST, f"the capacity last changed on {last}",
                field="effective_from", day=last.isoformat(),
            )  # fmt: skip
        if body.capacity_kva == kva:
            raise Unprocessable(
                E.CHANGE_SAME, f"the account has {kva} kVA already",
                field="capacity_kva", value=kva,
            )  # fmt: skip
        return {"capacity_kva": kva}, {"capacity_kva": body.capacity_kva}
    if kva <= 0:  # nothing to suspend: no capacity charge on this account
        raise Unprocessable(
            E.NO_CAPACITY, f"account {account.id} has no contracted capacity",
            field="account_id", account=account.id,
        )  # fmt: skip
    if isinstance(body, SuspensionIn):
        days = (body.until - day).days
        if not MIN_SUSPENSION_DAYS <= days <= MAX_SUSPENSION_DAYS:
            raise Unprocessable(
                E.SUSPENSION_LENGTH, f"a suspension of {days} days",
                field="until", days=days,
                min_days=MIN_SUSPENSION_DAYS, max_days=MAX_SUSPENSION_DAYS,
            )  # fmt: skip
        history = await capacity_history(session, account.id, applying)
        ends = [b for a, b in history.suspended if b > day and a < body.until]
        if ends:  # overlaps a suspension already applied
            raise Unprocessable(
                E.CHANGE_BEFORE_LAST, f"suspended until {max(ends)}",
                field="effective_from", day=max(ends).isoformat(),
            )  # fmt: skip
        return {"capacity_kva": kva}, {"until": body.until.isoformat()}
    running = await _suspension_running(session, account.id, day, applying)
    if running is None or day < running.effective_from + timedelta(days=MIN_SUSPENSION_DAYS):
        raise Unprocessable(
            E.NOT_SUSPENDED, f"no suspension of 15 days or more runs on {day}",
            field="effective_from", day=day.isoformat(),
        )  # fmt: skip
    return (
        {"suspended_from": running.effective_from.isoformat(), "until": running.after["until"]},
        {"suspension_id": running.id},
    )


def body_of(row: AccountChange) -> ContractIn:
    """The request again, from the stored change (for the check at approval)."""
    a, day = row.after, row.effective_from
    if row.kind is ChangeKind.NAME:
        return NameChangeIn(
            account_id=row.account_id, holder_name=str(a["holder_name"]),
            id_document=str(a["id_document"]), effective_from=day,
        )  # fmt: skip
    if row.kind is ChangeKind.CAPACITY:
        kva = a["capacity_kva"]
        assert isinstance(kva, int)
        return CapacityIn(account_id=row.account_id, capacity_kva=kva, effective_from=day)
    if row.kind is ChangeKind.SUSPENSION:
        return SuspensionIn(
            account_id=row.account_id, effective_from=day, until=date.fromisoformat(str(a["until"]))
        )
    return ResumptionIn(account_id=row.account_id, effective_from=day)


async def apply(session: AsyncSession, account: Account, row: AccountChange, today: date) -> None:
    """Checked again (another change may have come since), then written."""
    before, after = await check(session, account, body_of(row), today, row.id)
    if row.kind is ChangeKind.NAME:
        await session.execute(
            update(Customer).where(Customer.id == account.customer_id)
            .values(name=after["holder_name"]).execution_options(synchronize_session=False)
        )  # fmt: skip
    elif row.kind is ChangeKind.CAPACITY:
        kva, by = int(str(after["capacity_kva"])), f"change {row.id}"
        terms = await session.get(AccountTariffTerms, account.id)
        if terms is None:
            session.add(AccountTariffTerms(account_id=account.id, capacity_kva=kva, updated_by=by))
        else:
            terms.capacity_kva, terms.updated_by = kva, by
    await session.execute(
        update(AccountChange).where(AccountChange.id == row.id)
        .values(before=before, after=after).execution_options(synchronize_session=False)
    )  # fmt: skip
