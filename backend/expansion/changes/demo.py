"""Demo account changes in each state, made through the same service calls the API makes:
the demo customer's change of category waiting in the operators' queue, the second customer's
closure waiting too, a change of category applied from the first of the month and one rejected
with a reason. Idempotent: each has its own Idempotency-Key, and a decision is taken only
while its change still waits."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.accounts.models import Account, Customer, CustomerCategory
from backend.auth.guards import Caller, load_caller
from backend.auth.models import User
from backend.errors import ServiceError
from backend.expansion.changes import service
from backend.expansion.changes.models import ChangeStatus, Settlement
from backend.expansion.changes.schemas import CategoryChangeIn, ChangeIn, ChangeReject, ClosureIn
from backend.servicedesk.workflow.service import WorkingTime
from backend.types import to_epoch_ms


async def _caller(session: AsyncSession, username: str) -> Caller:
    user_id = await session.scalar(select(User.id).where(User.username == username))
    assert user_id is not None, username
    caller = await load_caller(session, user_id)
    assert caller is not None
    return caller


async def _account(session: AsyncSession, customer_number: str) -> int:
    account_id = await session.scalar(
        select(Account.id)
        .join(Customer, Customer.id == Account.customer_id)
        .where(Customer.number == customer_number)
        .order_by(Account.id)
    )
    assert account_id is not None, customer_number
    return account_id


async def seed_changes(
    factory: async_sessionmaker[AsyncSession], wt: WorkingTime, tz: ZoneInfo, *,
    customer: str, customer2: str, applied: str, rejected: str, bill: bool,
) -> int:  # fmt: skip
    """Four changes on these customers (numbers); returns how many were new."""
    now = to_epoch_ms(datetime.now(UTC))
    today = datetime.now(tz).date()
    made = 0
    async with factory() as s:
        op = await _caller(s, "operator")
        cust, cust2 = await _caller(s, "customer"), await _caller(s, "customer2")
        plan: list[tuple[str, Caller, ChangeIn, str]] = [
            ("demo-change-category-waiting", cust, CategoryChangeIn(
                account_id=await _account(s, customer), category=CustomerCategory.COMMERCIAL,
                effective_from=today, note="开了小卖部，申请改为商业用电"), ""),
            ("demo-change-closure-waiting", cust2, ClosureIn(
                account_id=await _account(s, customer2), settlement=Settlement.REFUND,
                note="房屋出售，申请销户退费"), ""),
            ("demo-change-category-applied", op, CategoryChangeIn(
                account_id=await _account(s, applied), category=CustomerCategory.COMMERCIAL,
                effective_from=today.replace(day=1), note="临街商铺 营业厅受理"), "approve"),
            ("demo-change-category-rejected", op, CategoryChangeIn(
                account_id=await _account(s, rejected),
                category=CustomerCategory.GENERAL_INDUSTRY, effective_from=today,
                note="申请改为一般工商业"), "用电性质未变：请提供营业执照后再申请"),
        ]  # fmt: skip
    for key, who, body, decision in plan:
        async with factory() as s:
            try:
                change, new = await service.request_change(s, who, key, body, wt, now, tz)
            except ServiceError:  # the account changed since (a rerun on an old database)
                continue
            made += new
            if not decision or change.status is not ChangeStatus.REQUESTED:
                continue
            op = await _caller(s, "operator")
            if decision == "approve":
                await service.approve(s, op, change.id, now, tz, bill=bill)
            else:
                await service.reject(s, op, change.id, ChangeReject(reason=decision), now)
    return made
