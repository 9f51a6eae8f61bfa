"""The end of a temporary supply (临时用电): the day after its last day, the account is closed
by the closure path (a closure change requested and approved in the name of the operator who
approved the temporary supply, its credit refunded). Run by the leader with the postpaid
round; bounded (``limit`` accounts a round) and idempotent: each closure's key is
``temporary-end-{change}``, so a second round, or two at once, make one closure; an account in
arrears keeps its closure waiting for an operator."""

from __future__ import annotations

import logging
from datetime import date
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.accounts.models import Account
from backend.auth.guards import Caller
from backend.auth.models import Role
from backend.errors import ServiceError
from backend.expansion.changes import service
from backend.expansion.changes.models import AccountChange, ChangeKind, ChangeStatus, Settlement
from backend.expansion.changes.schemas import ClosureIn
from backend.servicedesk.workflow.service import WorkingTime
from backend.types import local_day

log = logging.getLogger(__name__)


async def ended(session: AsyncSession, today: date) -> list[tuple[int, int, int]]:
    """(change, account, approver) of the open accounts whose latest temporary supply ended
    before ``today``."""
    rows = (
        await session.execute(
            select(AccountChange)
            .join(Account, Account.id == AccountChange.account_id)
            .where(
                AccountChange.kind == ChangeKind.TEMPORARY,
                AccountChange.status == ChangeStatus.APPLIED,
                Account.closed_at.is_(None),
            )
            .order_by(AccountChange.account_id, AccountChange.id)
        )
    ).scalars()
    latest: dict[int, AccountChange] = {}
    for r in rows:
        latest[r.account_id] = r  # a later one extends the supply
    return [
        (r.id, r.account_id, r.decided_by or r.requested_by)
        for r in latest.values()
        if date.fromisoformat(str(r.after["until"])) < today
    ]


async def close_ended(
    sessions: async_sessionmaker[AsyncSession],
    now_ms: int,
    tz: ZoneInfo,
    wt: WorkingTime,
    *,
    bill: bool,
    limit: int = 100,
) -> int:
    """Close up to ``limit`` accounts whose temporary supply has ended; how many it closed."""
    async with sessions() as s:
        due = (await ended(s, local_day(now_ms, tz)))[:limit]
    closed = 0
    for change_id, account_id, approver in due:
        caller = Caller(user_id=approver, username="temporary-supply", role=Role.OPERATOR)
        body = ClosureIn(account_id=account_id, settlement=Settlement.REFUND)
        async with sessions() as s:
            try:
                change, _new = await service.request_change(
                    s, caller, f"temporary-end-{change_id}", body, wt, now_ms, tz
                )
                if change.status is ChangeStatus.REQUESTED:
                    await service.approve(s, caller, change.id, now_ms, tz, bill=bill)
                    closed += 1
            except ServiceError as exc:  # in arrears, decided by another round, a closure waiting
                log.info("temporary supply %d: account %d not closed: %s", change_id,
                         account_id, exc.code.value)  # fmt: skip
    return closed
