"""An account's category over time, read from its applied category changes (改类). Billing
asks it which category's schedule applies on a local day (through
``backend.tariffs.service.account_schedule``); nothing here writes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts.models import CustomerCategory
from backend.db import among
from backend.expansion.changes.models import AccountChange, ChangeKind, ChangeStatus


@dataclass(frozen=True)
class CategoryMove:
    day: date  # from this local midnight
    before: CustomerCategory
    after: CustomerCategory
    change_id: int


async def category_moves(session: AsyncSession, account_id: int) -> list[CategoryMove]:
    """The account's applied category changes, earliest first. The first one's ``before`` is
    the category the account was billed on before any change."""
    return (await category_moves_of(session, [account_id])).get(account_id, [])


async def category_moves_of(
    session: AsyncSession, account_ids: Sequence[int]
) -> dict[int, list[CategoryMove]]:
    """:func:`category_moves` of many accounts in one query (a billing round's)."""
    rows = await session.scalars(
        select(AccountChange)
        .where(
            among(session.get_bind().dialect.name, AccountChange.account_id, account_ids),
            AccountChange.kind == ChangeKind.CATEGORY,
            AccountChange.status == ChangeStatus.APPLIED,
        )
        .order_by(AccountChange.effective_from, AccountChange.id)
    )
    out: dict[int, list[CategoryMove]] = {}
    for r in rows:
        out.setdefault(r.account_id, []).append(
            CategoryMove(
                r.effective_from,
                CustomerCategory(str(r.before["category"])),
                CustomerCategory(str(r.after["category"])),
                r.id,
            )
        )
    return out


def category_on(moves: list[CategoryMove], current: CustomerCategory, day: date) -> str:
    """The category in force on ``day``: the last move on or before it, else the first
    move's ``before`` (``current`` when the account never changed)."""
    if not moves:
        return current.value
    category = moves[0].before
    for m in moves:
        if m.day <= day:
            category = m.after
    return category.value


# -- contracted capacity over time (增容/减容, 暂停/恢复) ----------------------------------------


@dataclass(frozen=True)
class CapacityHistory:
    """The applied capacity changes (day, kVA before, kVA after), earliest first, and the
    suspended stretches [first day, resume day)."""

    moves: list[tuple[date, int, int]]
    suspended: list[tuple[date, date]]

    def kva_on(self, day: date, current: int) -> int:
        """The contracted kVA billed on ``day``: 0 within a suspension; else the last move on
        or before it, the first move's ``before`` earlier; ``current`` (the account's terms)
        after the last move and when it never changed."""
        if any(a <= day < b for a, b in self.suspended):
            return 0
        if not self.moves or day >= self.moves[-1][0]:
            return current
        kva = self.moves[0][1]
        for d, _before, after in self.moves:
            if d <= day:
                kva = after
        return kva

    def segments(self, first: date, nxt: date, current: int) -> list[tuple[int, int]]:
        """(kVA, days) for the consecutive days of [first, nxt) billed at the same kVA."""
        out: list[tuple[int, int]] = []
        day = first
        while day < nxt:
            kva = self.kva_on(day, current)
            if out and out[-1][0] == kva:
                out[-1] = (kva, out[-1][1] + 1)
            else:
                out.append((kva, 1))
            day += timedelta(days=1)
        return out


async def capacity_history(
    session: AsyncSession, account_id: int, leave_out: int | None = None
) -> CapacityHistory:
    """``leave_out``: a change being applied in this transaction, not part of the history yet."""
    rows = list(
        await session.scalars(
            select(AccountChange)
            .where(
                AccountChange.account_id == account_id,
                AccountChange.kind.in_(
                    (ChangeKind.CAPACITY, ChangeKind.SUSPENSION, ChangeKind.RESUMPTION)
                ),
                AccountChange.status == ChangeStatus.APPLIED,
                AccountChange.id != (leave_out or 0),
            )
            .order_by(AccountChange.effective_from, AccountChange.id)
        )
    )
    moves = [
        (r.effective_from, _int(r.before.get("capacity_kva")), _int(r.after.get("capacity_kva")))
        for r in rows
        if r.kind is ChangeKind.CAPACITY
    ]
    ends = {
        _int(r.after.get("suspension_id")): r.effective_from
        for r in rows
        if r.kind is ChangeKind.RESUMPTION
    }
    suspended = [
        (r.effective_from, min(date.fromisoformat(str(r.after["until"])), ends.get(r.id, date.max)))
        for r in rows
        if r.kind is ChangeKind.SUSPENSION
    ]
    return CapacityHistory(moves, suspended)


def _int(v: object) -> int:
    return v if isinstance(v, int) else 0
