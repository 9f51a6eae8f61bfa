"""Demo account changes in each state, made through the same service calls the API makes:
the demo customer's change of category waiting in the operators' queue, the second customer's
closure waiting too, a change of category applied from the first of the month and one rejected
with a reason. Idempotent: each has its own Idempotency-Key, and a decision is taken only
while its change still waits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.accounts.models import Account, AccountKind, Customer, CustomerCategory
from backend.auth.guards import Caller, load_caller
from backend.auth.models import User
from backend.errors import ServiceError
from backend.expansion.changes import service
from backend.expansion.changes.models import ChangeStatus, Settlement
from backend.expansion.changes.schemas import (
    CapacityIn,
    CategoryChangeIn,
    ChangeIn,
    ChangeReject,
    ClosureIn,
    MoveIn,
    NameChangeIn,
    ResumptionIn,
    SuspensionIn,
    TemporaryIn,
)
from backend.importer.schemas import CustomerRow
from backend.importer.service import ImportOptions, upsert_customer
from backend.servicedesk.workflow.service import WorkingTime
from backend.tariffs import service as tariffs
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


async def _demo_account(
    factory: async_sessionmaker[AsyncSession], tz: ZoneInfo, number: str, name: str,
    category: CustomerCategory, address: str, kind: AccountKind,
) -> int:  # fmt: skip
    """A demo customer of its own (no grid: no other screen's count changes), made once."""
    async with factory() as s:
        await upsert_customer(
            s, CustomerRow(number=number, name=name, category=category, address=address,
                           account_number=f"A{number}", account_kind=kind),
            ImportOptions(tz),
        )  # fmt: skip
        await s.commit()
        return await _account(s, number)


async def seed_contract_changes(
    factory: async_sessionmaker[AsyncSession], wt: WorkingTime, tz: ZoneInfo, *,
    schedule: str, bill: bool,
) -> int:  # fmt: skip
    """One of each of the other changes, on demo customers of their own: a factory on a
    two-part tariff (315 kVA) raised to 400 kVA from the 11th and suspended for 30 days from
    tomorrow (both applied), its resumption waiting; a household renamed (applied) and moving
    (waiting); a building site on a temporary supply for 90 days (applied)."""
    now = to_epoch_ms(datetime.now(UTC))
    today = datetime.now(tz).date()
    plant = await _demo_account(
        factory, tz, "DEMOLC01", "杭州恒新机械厂", CustomerCategory.LARGE_INDUSTRY,
        "余杭区良渚街道 18 号", AccountKind.POSTPAID,
    )  # fmt: skip
    home = await _demo_account(
        factory, tz, "DEMOLC02", "林晓", CustomerCategory.RESIDENTIAL, "文一路 100 号 3 幢 201",
        AccountKind.PREPAID,
    )  # fmt: skip
    site = await _demo_account(
        factory, tz, "DEMOLC03", "城西地铁站施工项目部", CustomerCategory.GENERAL_INDUSTRY,
        "西溪路 500 号", AccountKind.POSTPAID,
    )  # fmt: skip
    async with factory() as s:
        account = await s.get(Account, plant)
        assert account is not None
        if not await tariffs.assignments(s, plant):
            await tariffs.assign(
                s, account, CustomerCategory.LARGE_INDUSTRY, schedule, today.replace(day=1),
                "demo",
            )  # fmt: skip
            await tariffs.set_terms(
                s, account, cycle_start=None, household_extra_kwh_month=0, prorate_from=None,
                capacity_kva=315, actor="demo",
            )  # fmt: skip
        await s.commit()
    start = today + timedelta(days=1)
    plan: list[tuple[str, ChangeIn, bool]] = [
        ("demo-change-capacity", CapacityIn(
            account_id=plant, capacity_kva=400, effective_from=today.replace(day=11),
            note="新增一台 85 kVA 设备，申请增容"), True),
        ("demo-change-suspension", SuspensionIn(
            account_id=plant, effective_from=start, until=start + timedelta(days=30),
            note="设备检修，申请暂停"), True),
        ("demo-change-resumption", ResumptionIn(
            account_id=plant, effective_from=start + timedelta(days=20),
            note="检修提前完成，申请恢复"), False),
        ("demo-change-name", NameChangeIn(
            account_id=home, holder_name="林晓雯", id_document="330106199204150028",
            effective_from=today, note="身份证更名"), True),
        ("demo-change-move", MoveIn(
            account_id=home, address="拱墅区莫干山路 66 号 2 幢 502", note="搬家，余额转入新址"),
            False),
        ("demo-change-temporary", TemporaryIn(
            account_id=site, until=today + timedelta(days=90), note="施工临时用电 90 天"), True),
    ]  # fmt: skip
    made = 0
    for key, body, approve in plan:
        async with factory() as s:
            op = await _caller(s, "operator")
            try:
                change, new = await service.request_change(s, op, key, body, wt, now, tz)
                made += new
                if approve and change.status is ChangeStatus.REQUESTED:
                    await service.approve(s, op, change.id, now, tz, bill=bill)
            except ServiceError:  # the account changed since (a rerun on an old database)
                continue
    return made
