"""The demo's key-account portfolio: every kind of alert appears where it should, the classes
follow R90, the ledger feeds ABC, and seeding twice changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from backend.auth.guards import Caller
from backend.auth.models import Role
from backend.auth.schemas import UserCreate
from backend.auth.service import create_user
from backend.db import session_factory
from backend.keyaccounts import portfolio
from backend.keyaccounts.demo import seed_portfolio
from backend.keyaccounts.models import CustomerSegment, Visit
from backend.keyaccounts.portfolio import org_tree
from backend.keyaccounts.surveys.models import SurveyResponse
from backend.metering.models import Reading
from backend.tariffs.loader import DEFAULT_FILE, load_file
from backend.tariffs.service import store_tariffs

TZ = ZoneInfo("Asia/Shanghai")


async def seed(engine: AsyncEngine, now: datetime) -> list[str]:
    return await seed_portfolio(
        engine,
        manager="ka-manager",
        grid_code="GKA",
        prefix="KA",
        origin=(30.28, 120.13),
        phone="0571-87009999",
        tz=TZ,
        now=now,
    )


async def test_the_demo_portfolio_shows_each_alert_on_its_customer(engine: AsyncEngine) -> None:
    now = datetime.now(UTC)
    async with session_factory(engine)() as s:
        await store_tariffs(s, load_file(DEFAULT_FILE))
        await s.commit()
        user = await create_user(
            s, UserCreate(username="ka-manager", password="a-long-password-1", role=Role.INSPECTOR)
        )
    numbers = await seed(engine, now)
    caller = Caller(user_id=user.id, username="ka-manager", role=Role.INSPECTOR)
    async with session_factory(engine)() as s:
        page = await portfolio.portfolio(
            s, caller, manager_id=None, alerts_only=False, limit=50, offset=0, now=now, tz=TZ
        )
        seen = {
            i.number: ([a.code.value for a in i.alerts], i.key_account_classes) for i in page.items
        }
        assert seen == {
            numbers[0]: (["alert.contract_expiring"], [1]),
            numbers[1]: (["alert.consumption_drop"], [2, 6]),
            numbers[2]: ([], [4]),
            numbers[3]: (["alert.arrears"], [3]),
            numbers[4]: (["alert.consumption_jump"], []),
        }
        segments = {s.customer_id: s for s in await s.scalars(select(CustomerSegment))}
        assert len(segments) == 5
        assert all(seg.annual_revenue_fen > 0 for seg in segments.values())  # billed for real
        assert {seg.abc_class for seg in segments.values()} >= {"A", "C"}
        assert await s.scalar(select(func.count()).select_from(Visit)) == 1
        assert await s.scalar(select(func.count()).select_from(SurveyResponse)) == 1
        [response] = (await s.scalars(select(SurveyResponse))).all()
        assert response.satisfaction == 875  # answers 5 and 4: (100 + 75) / 2
        tagged = {i.number: (i.tags, i.service_level) for i in page.items}
        assert tagged == {
            numbers[0]: (["pays_on_time", "credit_excellent", "safety_value"], "vip"),
            numbers[1]: (
                [
                    "consumption_high",
                    "pays_on_time",
                    "credit_excellent",
                    "profit_value",
                    "potential",
                    "一厂一策",
                ],
                "vip",
            ),
            numbers[2]: (["pays_on_time", "credit_excellent", "social_value"], "priority"),
            numbers[3]: (["consumption_low", "in_arrears", "social_value"], "priority"),
            numbers[4]: (["pays_on_time", "credit_excellent", "growing", "potential"], "priority"),
        }
        sup = Caller(user_id=0, username="sup", role=Role.SUPERVISOR)
        tree = {n.code: (n.parent, n.customers, n.key_accounts) for n in await org_tree(s, sup)}
        assert [tree[c][1:] for c in ("ZJ", "ZJ-HZ", "ZJ-HZ-XH", "GKA")] == [(5, 4)] * 4
        readings = await s.scalar(select(func.count()).select_from(Reading))
    assert await seed(engine, now) == numbers
    async with session_factory(engine)() as s:
        assert await s.scalar(select(func.count()).select_from(Reading)) == readings
        assert await s.scalar(select(func.count()).select_from(Visit)) == 1
        assert await s.scalar(select(func.count()).select_from(SurveyResponse)) == 1
