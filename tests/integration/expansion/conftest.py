"""Business expansion over HTTP, on the service centre of the work-order tests plus a grid
with its customer manager, a key-account customer, the tariffs and the demo's agent."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from backend.accounts.models import Customer
from backend.auth.models import Role, User
from backend.auth.tokens import issue_access_token
from backend.db import session_factory
from backend.field.grids.models import Grid, TransformerArea
from backend.metering.models import Agent
from backend.settings import Settings
from backend.tariffs.loader import DEFAULT_FILE, load_file
from backend.tariffs.service import store_tariffs
from tests.integration.servicedesk import conftest as desk_fixtures
from tests.integration.servicedesk.conftest import NOW_MS, Desk, build_desk

# the work-order tests' fixtures, used as they are
settings = desk_fixtures.settings
client = desk_fixtures.client
clock = desk_fixtures.clock
session = desk_fixtures.session

Auth = Callable[[str], dict[str, str]]
BASE = "/api/expansion"
AGENT = "agent-yk"
# a one-pixel PNG: what an applicant's phone uploads as a photo of a paper
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00"
    b"\x00\x00\x00IEND\xaeB`\x82"
)
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
ROLES = {
    "op-zhao": Role.OPERATOR,
    "op-qian": Role.OPERATOR,
    "sup-sun": Role.SUPERVISOR,
    "crew-li": Role.INSPECTOR,
    "cust-wang": Role.CUSTOMER,
    "cust-zhou": Role.CUSTOMER,
    "mgr-chen": Role.INSPECTOR,
    "cust-new": Role.CUSTOMER,
}


@pytest.fixture
async def desk(engine: AsyncEngine) -> Desk:
    """The work-order desk, and: grid G-1 of customer manager mgr-chen holding the north area
    and Wang (a key account, class 2); a customer user without a customer yet (cust-new); the
    tariffs; an agent."""
    d = await build_desk(engine)
    async with session_factory(engine)() as s:
        mgr = User(
            username="mgr-chen", password_hash="x", role=Role.INSPECTOR, display_name="陈经理"
        )
        new = User(username="cust-new", password_hash="x", role=Role.CUSTOMER, display_name="新户")
        s.add_all([mgr, new])
        await s.flush()
        grid = Grid(code="G-1", name="文一网格", inspector_id=mgr.id)
        s.add(grid)
        await s.flush()
        await s.execute(
            update(TransformerArea)
            .where(TransformerArea.id == d.areas["north"])
            .values(grid_id=grid.id)
        )
        await s.execute(
            update(Customer)
            .where(Customer.id == d.customers["wang"])
            .values(grid_id=grid.id, key_account_class=2)
        )
        s.add(Agent(id=AGENT, name="集中器"))
        await store_tariffs(s, load_file(DEFAULT_FILE))
        await s.commit()
        d.users.update({"mgr-chen": mgr.id, "cust-new": new.id})
        d.areas["grid"] = grid.id
    return d


@pytest.fixture
def auth(settings: Settings, desk: Desk) -> Auth:
    def headers(username: str) -> dict[str, str]:
        token, _ = issue_access_token(
            settings,
            user_id=desk.users[username],
            role=ROLES[username].value,
            now=datetime.now(UTC),
        )
        return {"Authorization": f"Bearer {token}"}

    return headers


def key() -> dict[str, str]:
    return {"Idempotency-Key": f"yk-{uuid.uuid4()}"}


def residential(**over: Any) -> dict[str, Any]:
    return {
        "supply_type": "residential",
        "category": "residential",
        "applicant_name": "林新户",
        "phone": "13700003333",
        "address": "文一路 10 号 502",
        "capacity_kva": 8,
        **over,
    }


async def apply(c: AsyncTestClient, auth: Auth, who: str, body: dict[str, Any]) -> dict[str, Any]:
    r = await c.post(f"{BASE}/applications", json=body, headers={**auth(who), **key()})
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def attach(
    c: AsyncTestClient,
    auth: Auth,
    who: str,
    app_id: int,
    kind: str,
    data: bytes = PNG,
    content_type: str = "image/png",
) -> dict[str, Any]:
    r = await c.post(
        f"{BASE}/applications/{app_id}/documents/{kind}",
        content=data,
        headers={**auth(who), "Content-Type": content_type},
    )
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def move(c: AsyncTestClient, auth: Auth, who: str, app: dict[str, Any]) -> dict[str, Any]:
    r = await c.post(
        f"{BASE}/applications/{app['id']}/advance",
        json={"step": app["step"], "version": app["version"]},
        headers=auth(who),
    )
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def photo(c: AsyncTestClient, auth: Auth, who: str) -> str:
    r = await c.post(
        "/api/field/photos", content=PNG, headers={**auth(who), "Content-Type": "image/png"}
    )
    assert r.status_code == 201, r.text
    return r.json()["sha256"]  # type: ignore[no-any-return]


async def surveyed(c: AsyncTestClient, auth: Auth, who: str, app: dict[str, Any]) -> dict[str, Any]:
    sha = await photo(c, auth, who)
    fix = {"latitude": 30.28, "longitude": 120.13, "accuracy_m": 8, "fix_at": NOW_MS}
    body = {"version": app["version"], "photos": [sha], "note": "表箱位置已定", "fix": fix}
    r = await c.post(f"{BASE}/applications/{app['id']}/survey", json=body, headers=auth(who))
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def energise_body(app: dict[str, Any], **over: Any) -> dict[str, Any]:
    return {
        "version": app["version"],
        "meter_id": "m-999999000001",
        "protocol": "dlt645",
        "address": "999999000001",
        "agent_id": AGENT,
        **over,
    }
