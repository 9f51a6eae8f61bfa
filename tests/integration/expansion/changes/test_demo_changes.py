"""The demo's account changes: two waiting, one applied, one rejected — seeded through the
service and idempotent across runs."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from backend.auth.models import Role, User
from backend.db import session_factory
from backend.expansion.changes.demo import seed_changes, seed_contract_changes
from backend.expansion.changes.models import AccountChange, ChangeStatus
from backend.servicedesk.orders.models import OrderStatus, WorkOrder
from backend.servicedesk.workflow.service import working_time
from backend.tariffs.loader import DEFAULT_FILE, load_file
from backend.tariffs.service import store_tariffs
from tests.support.prepaid_data import TZ, load_default_tariffs, make_account

TWO_PART = DEFAULT_FILE.parent / "examples" / "large_industry_two_part_2026.toml"


async def test_the_demo_seeds_waiting_applied_and_rejected_changes_once(
    engine: AsyncEngine,
) -> None:
    factory = session_factory(engine)
    async with factory() as s:
        await load_default_tariffs(s)
        made = [await make_account(s) for _ in range(4)]
        for name, role, customer in [
            ("operator", Role.OPERATOR, None),
            ("customer", Role.CUSTOMER, made[0][0].id),
            ("customer2", Role.CUSTOMER, made[1][0].id),
        ]:
            s.add(User(username=name, password_hash="x", role=role, customer_id=customer))
        numbers = [c.number for c, _a, _m in made]
        await s.commit()
    wt = working_time("", "Asia/Shanghai")
    kwargs = {"customer": numbers[0], "customer2": numbers[1], "applied": numbers[2],
              "rejected": numbers[3], "bill": True}  # fmt: skip
    assert await seed_changes(factory, wt, TZ, **kwargs) == 4  # type: ignore[arg-type]
    assert await seed_changes(factory, wt, TZ, **kwargs) == 0  # type: ignore[arg-type]
    async with factory() as s:
        changes = list(await s.scalars(select(AccountChange).order_by(AccountChange.id)))
        orders = list(await s.scalars(select(WorkOrder)))
    assert [(c.kind.value, c.status) for c in changes] == [
        ("category", ChangeStatus.REQUESTED),
        ("closure", ChangeStatus.REQUESTED),
        ("category", ChangeStatus.APPLIED),
        ("category", ChangeStatus.REJECTED),
    ]
    assert Counter(o.status for o in orders) == {OrderStatus.OPEN: 2, OrderStatus.CLOSED: 2}


async def test_the_demo_seeds_one_of_each_other_change_on_customers_of_its_own_once(
    engine: AsyncEngine,
) -> None:
    factory = session_factory(engine)
    async with factory() as s:
        await load_default_tariffs(s)
        await store_tariffs(s, load_file(TWO_PART))
        s.add(User(username="operator", password_hash="x", role=Role.OPERATOR))
        await s.commit()
    wt = working_time("", "Asia/Shanghai")
    schedule = "large-industry-two-part"
    assert await seed_contract_changes(factory, wt, TZ, schedule=schedule, bill=True) == 6
    assert await seed_contract_changes(factory, wt, TZ, schedule=schedule, bill=True) == 0
    async with factory() as s:
        changes = list(await s.scalars(select(AccountChange).order_by(AccountChange.id)))
    assert [(c.kind.value, c.status) for c in changes] == [
        ("capacity", ChangeStatus.APPLIED),
        ("suspension", ChangeStatus.APPLIED),
        ("resumption", ChangeStatus.REQUESTED),
        ("name", ChangeStatus.APPLIED),
        ("move", ChangeStatus.REQUESTED),
        ("temporary", ChangeStatus.APPLIED),
    ]
