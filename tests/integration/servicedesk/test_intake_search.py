"""The 95598 intake's customer search: by the keys a caller gives, each from an index, and by
address only when asked."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from backend.accounts.models import Customer, CustomerCategory
from backend.auth.models import User
from backend.db import session_factory
from backend.field.grids.models import Grid, OrgLevel, OrgUnit
from tests.integration.servicedesk.conftest import Desk

URL = "/api/servicedesk/customers"
Auth = Callable[[str], dict[str, str]]


async def _found(client: AsyncTestClient, auth: Auth, q: str, by: str | None = None) -> list[str]:
    params = {"q": q} if by is None else {"q": q, "by": by}
    r = await client.get(URL, params=params, headers=auth("op-zhao"))
    assert r.status_code == 200, r.text
    return [hit["name"] for hit in r.json()]


@pytest.mark.parametrize(
    "q",
    ["3300001001", "A-1001", "a-1001", "13800001111", "138-0000-1111", "138 0000 1111", "建国",
     "王建国"],
)  # fmt: skip
async def test_a_caller_is_found_by_number_account_phone_or_name(
    q: str, client: AsyncTestClient, auth: Auth, desk: Desk
) -> None:
    assert await _found(client, auth, q) == ["王建国"]


async def test_the_hit_carries_the_accounts_and_the_open_orders_count(
    client: AsyncTestClient, auth: Auth, desk: Desk
) -> None:
    r = await client.get(URL, params={"q": "13900002222"}, headers=auth("op-zhao"))
    assert r.json() == [{
        "id": desk.customers["zhou"], "number": "3300001002", "name": "周丽",
        "phone": "13900002222", "address": "文三路 66 号 101",
        "transformer_area_id": desk.areas["south"],
        "accounts": [{"id": desk.accounts["zhou"], "number": "A-1002"}], "open_orders": 0,
    }]  # fmt: skip


@pytest.mark.parametrize("q", ["33000010", "0000111", "1001", "文三路", "%", "_"])
async def test_numbers_match_whole_and_addresses_only_when_asked(
    q: str, client: AsyncTestClient, auth: Auth, desk: Desk
) -> None:
    """A part of a number would match thousands of customers at a utility's size, and no index
    serves an address: the default search takes keys whole and names by their grams."""
    assert await _found(client, auth, q) == []


@pytest.mark.parametrize(
    ("q", "names"),
    [("文三路", ["周丽"]), ("66 号", ["周丽"]), ("路", ["王建国", "周丽"]), ("%", []), ("_", [])],
)
async def test_by_address_finds_addresses_holding_the_text(
    q: str, names: list[str], client: AsyncTestClient, auth: Auth, desk: Desk
) -> None:
    assert await _found(client, auth, q, "address") == names


async def test_the_search_is_for_the_back_office_and_refuses_an_unknown_mode(
    client: AsyncTestClient, auth: Auth, desk: Desk
) -> None:
    customer = await client.get(URL, params={"q": "王建国"}, headers=auth("cust-wang"))
    assert customer.status_code == 403
    bad = await client.get(URL, params={"q": "王建国", "by": "phone"}, headers=auth("op-zhao"))
    assert bad.status_code == 400


async def add_crowd(engine: AsyncEngine, n: int) -> list[int]:
    """``n`` customers named 测试… with numbers 34000000nn: their ids in number order."""
    async with session_factory(engine)() as s:
        crowd = [
            Customer(number=f"34{i:08d}", name=f"测试{'甲乙丙丁'[i % 4]}{i}",
                     phone=f"1370000{i:04d}", address=f"湖滨路 {i} 号",
                     category=CustomerCategory.RESIDENTIAL)
            for i in range(n)
        ]  # fmt: skip
        s.add_all(crowd)
        await s.commit()
        return [c.id for c in crowd]


async def _ids(
    client: AsyncTestClient, auth: Auth, user: str = "op-zhao", **params: object
) -> list[int]:
    r = await client.get(URL, params=params, headers=auth(user))
    assert r.status_code == 200, r.text
    return [hit["id"] for hit in r.json()]


async def test_the_search_pages_by_customer_number_by_name_and_by_address(
    client: AsyncTestClient, auth: Auth, desk: Desk, engine: AsyncEngine
) -> None:
    crowd = await add_crowd(engine, 24)
    assert await _ids(client, auth, q="测试") == crowd[:20]  # 20 by default, as before
    assert await _ids(client, auth, q="测试", limit=100) == crowd
    pages = [await _ids(client, auth, q="测试", limit=10, offset=o) for o in (0, 10, 20, 30)]
    assert pages == [crowd[:10], crowd[10:20], crowd[20:], []]
    by_address = [
        await _ids(client, auth, q="湖滨路", by="address", limit=7, offset=o) for o in (0, 7)
    ]
    assert by_address == [crowd[:7], crowd[7:14]]
    bad = await client.get(URL, params={"q": "测试", "limit": 0}, headers=auth("op-zhao"))
    assert bad.status_code == 400


async def test_an_operator_of_another_unit_finds_none_of_these_customers(
    client: AsyncTestClient, auth: Auth, desk: Desk, engine: AsyncEngine
) -> None:
    """Staff scoped to an organisation unit find the customers of its grids only, whatever
    the key; staff of no unit find everyone (as before)."""
    async with session_factory(engine)() as s:
        east = OrgUnit(level=OrgLevel.DISTRICT, code="D-E", name="东区")
        west = OrgUnit(level=OrgLevel.DISTRICT, code="D-W", name="西区")
        s.add_all([east, west])
        await s.flush()
        grid = Grid(code="G-E", name="东网格", org_unit_id=east.id)
        s.add(grid)
        await s.flush()
        wang = desk.customers["wang"]
        await s.execute(update(Customer).where(Customer.id == wang).values(grid_id=grid.id))
        for name, unit in (("op-qian", west.id), ("sup-sun", east.id)):
            await s.execute(update(User).where(User.username == name).values(org_unit_id=unit))
        await s.commit()
    for q, by in (("王建国", "any"), ("3300001001", "any"), ("13800001111", "any"),
                  ("A-1001", "any"), ("文一路", "address"), ("路", "address")):  # fmt: skip
        assert await _ids(client, auth, "op-qian", q=q, by=by) == [], q
        assert await _ids(client, auth, "sup-sun", q=q, by=by) == [wang], q
    assert await _ids(client, auth, q="路", by="address") == [wang, desk.customers["zhou"]]
