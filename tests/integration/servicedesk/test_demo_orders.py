"""The demo's work orders: open, overdue (escalated by the sweep) and closed ones, seeded
through the service and idempotent across runs."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from backend.auth.models import Role, User
from backend.db import session_factory
from backend.servicedesk.orders.demo import seed_orders
from backend.servicedesk.orders.models import OrderStatus, WorkOrder
from backend.servicedesk.workflow.service import working_time
from tests.integration.servicedesk.conftest import Desk


async def test_the_demo_seeds_open_overdue_and_closed_orders_once(
    engine: AsyncEngine, desk: Desk
) -> None:
    factory = session_factory(engine)
    async with factory() as s:
        for name, role, cid in [
            ("operator", Role.OPERATOR, None),
            ("operator2", Role.OPERATOR, None),
            ("inspector", Role.INSPECTOR, None),
            ("customer", Role.CUSTOMER, desk.customers["wang"]),
        ]:
            s.add(User(username=name, password_hash="x", role=role, customer_id=cid))
        await s.commit()
    wt = working_time("", "Asia/Shanghai")
    numbers = ["3300001001", "3300001002"]
    assert await seed_orders(factory, wt, numbers) == 7
    assert await seed_orders(factory, wt, numbers) == 0
    async with factory() as s:
        orders = list(await s.scalars(select(WorkOrder)))
    assert len(orders) == 7
    assert Counter(o.status for o in orders) == {OrderStatus.CLOSED: 3, OrderStatus.OPEN: 4}
    assert sorted(o.kind.value for o in orders if o.escalated) == ["business", "fault"]
    assert sorted(o.satisfaction for o in orders if o.satisfaction) == [3, 4, 5]
    assert [o.first_contact_resolved for o in orders if o.kind.value == "inquiry"] == [True]
