"""An account's category over time, read from its applied category changes (改类). Billing
asks it which category's schedule applies on a local day (through
``backend.tariffs.service.account_schedule``); nothing here writes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts.models import CustomerCategory
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
    rows = await session.scalars(
        select(AccountChange)
        .where(
            AccountChange.account_id == account_id,
            AccountChange.kind == ChangeKind.CATEGORY,
            AccountChange.status == ChangeStatus.APPLIED,
        )
        .order_by(AccountChange.effective_from, AccountChange.id)
    )
    return [
        CategoryMove(
            r.effective_from,
            CustomerCategory(str(r.before["category"])),
            CustomerCategory(str(r.after["category"])),
            r.id,
        )
        for r in rows
    ]


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
