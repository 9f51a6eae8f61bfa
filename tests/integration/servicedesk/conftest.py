"""A small service centre for work-order tests: two operators, a supervisor, a crew, two
customers with an account each on two transformer areas, and a clock the test drives."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from backend.accounts.models import Account, AccountKind, Customer, CustomerCategory
from backend.app import create_app
from backend.auth.guards import Caller, load_caller
from backend.auth.models import Role, User
from backend.auth.tokens import issue_access_token
from backend.db import session_factory
from backend.field.grids.models import TransformerArea
from backend.settings import Settings, load_settings

# Friday 2026-11-20 10:00 in Shanghai
NOW_MS = int(datetime(2026, 11, 20, 2, 0, tzinfo=UTC).timestamp() * 1000)
MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS

USERS = [
    ("op-zhao", Role.OPERATOR, "赵坐席"),
    ("op-qian", Role.OPERATOR, "钱坐席"),
    ("sup-sun", Role.SUPERVISOR, "孙班长"),
    ("crew-li", Role.INSPECTOR, "李师傅"),
    ("cust-wang", Role.CUSTOMER, "王先生"),
    ("cust-zhou", Role.CUSTOMER, "周女士"),
]


@dataclass
class Desk:
    users: dict[str, int]
    customers: dict[str, int]  # "wang" / "zhou" → customer id
    accounts: dict[str, int]
    areas: dict[str, int]  # "north" / "south" → transformer area id


class Clock:
    def __init__(self, ms: int) -> None:
        self.ms = ms

    def __call__(self) -> float:
        return self.ms / 1000

    def advance(self, ms: int) -> None:
        self.ms += ms


async def build_desk(engine: AsyncEngine) -> Desk:
    async with session_factory(engine)() as s:
        north = TransformerArea(code="TA-N", name="文一路北台区")
        south = TransformerArea(code="TA-S", name="文三路南台区")
        s.add_all([north, south])
        await s.flush()
        wang = Customer(
            number="3300001001",
            name="王建国",
            phone="13800001111",
            category=CustomerCategory.RESIDENTIAL,
            address="文一路 8 号 2 单元 301",
            transformer_area_id=north.id,
        )
        zhou = Customer(
            number="3300001002",
            name="周丽",
            phone="13900002222",
            category=CustomerCategory.RESIDENTIAL,
            address="文三路 66 号 101",
            transformer_area_id=south.id,
        )
        s.add_all([wang, zhou])
        await s.flush()
        a_wang = Account(number="A-1001", customer_id=wang.id, kind=AccountKind.PREPAID)
        a_zhou = Account(number="A-1002", customer_id=zhou.id, kind=AccountKind.PREPAID)
        s.add_all([a_wang, a_zhou])
        users: dict[str, int] = {}
        for name, role, display in USERS:
            cid = {"cust-wang": wang.id, "cust-zhou": zhou.id}.get(name)
            u = User(
                username=name, password_hash="x", role=role, display_name=display, customer_id=cid
            )
            s.add(u)
            await s.flush()
            users[name] = u.id
        await s.commit()
        return Desk(
            users,
            {"wang": wang.id, "zhou": zhou.id},
            {"wang": a_wang.id, "zhou": a_zhou.id},
            {"north": north.id, "south": south.id},
        )


@pytest.fixture
async def desk(engine: AsyncEngine) -> Desk:
    return await build_desk(engine)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return load_settings(
        env={},
        database_url=database_url,
        data_dir=str(tmp_path),
        ingest=False,
        auth_require_totp=False,
        prepaid_sweep_seconds=0,
    )


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW_MS)


@pytest.fixture
async def client(settings: Settings, desk: Desk, clock: Clock) -> AsyncIterator[AsyncTestClient]:
    app = create_app(settings)
    app.state.clock = clock
    async with AsyncTestClient(app) as c:
        yield c


@pytest.fixture
def auth(settings: Settings, desk: Desk) -> Callable[[str], dict[str, str]]:
    roles = {name: role for name, role, _ in USERS}

    def headers(username: str) -> dict[str, str]:
        token, _ = issue_access_token(
            settings,
            user_id=desk.users[username],
            role=roles[username].value,
            now=datetime.now(UTC),
        )
        return {"Authorization": f"Bearer {token}"}

    return headers


@pytest.fixture
async def session(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    async with session_factory(engine)() as s:
        yield s


@pytest.fixture
def caller(session: AsyncSession, desk: Desk) -> Callable[[str], object]:
    async def load(username: str) -> Caller:
        found = await load_caller(session, desk.users[username])
        assert found is not None
        return found

    return load
