"""Customer search: a whole number or any part of a name, from indexes, paged, in scope."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event, update

from backend.accounts.models import Customer, CustomerCategory
from backend.db import session_factory
from tests.integration.api.conftest import Api

NAMES = ["王伟", "王伟强", "李伟", "张王伟", "Wang Wei", "王芳", "赵磊"]


async def _customers(api: Api) -> dict[str, int]:
    ids = {}
    async with session_factory(api.engine)() as s:
        for n, name in enumerate(NAMES):
            grid = api.world.grid1 if n % 2 == 0 else api.world.grid2
            c = Customer(number=f"K{n:04d}", name=name, category=CustomerCategory.RESIDENTIAL,
                         grid_id=grid)  # fmt: skip
            s.add(c)
            await s.flush()
            ids[name] = c.id
        await s.commit()
    return ids


async def _names(api: Api, q: str, user: str = "op", **params: Any) -> list[str]:
    r = await api.client.get(
        "/api/customers", params={"q": q, **params}, headers=await api.login(user)
    )
    assert r.status_code == 200, r.text
    return [c["name"] for c in r.json()["items"]]


async def test_search_finds_any_part_of_a_name_and_a_whole_number(api: Api) -> None:
    await _customers(api)
    assert await _names(api, "王伟") == ["王伟", "王伟强", "张王伟"]
    assert await _names(api, "伟") == ["王伟", "王伟强", "李伟", "张王伟"]
    assert await _names(api, "伟强") == ["王伟强"]
    assert await _names(api, "王伟强") == ["王伟强"]
    assert await _names(api, "ang W") == ["Wang Wei"]
    assert await _names(api, "K0006") == ["赵磊"]
    assert await _names(api, "k0006") == ["赵磊"]
    assert await _names(api, "王伟伟") == []
    assert await _names(api, "%") == []


async def test_search_is_scoped_paged_and_follows_a_renamed_customer(api: Api) -> None:
    ids = await _customers(api)
    assert await _names(api, "伟", "insp1") == ["王伟", "李伟"]  # grid 1 only
    assert await _names(api, "K0001", "insp1") == []  # grid 2's customer
    r = await api.client.get(
        "/api/customers", params={"q": "伟", "limit": 2, "offset": 1},
        headers=await api.login("op"),
    )  # fmt: skip
    assert (r.json()["total"], [c["name"] for c in r.json()["items"]]) == (4, ["王伟强", "李伟"])
    async with session_factory(api.engine)() as s:
        await s.execute(update(Customer).where(Customer.id == ids["赵磊"]).values(name="钱多多"))
        await s.commit()
    assert await _names(api, "赵磊") == []
    assert await _names(api, "多多") == ["钱多多"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_search_reads_the_indexes_not_every_customer(api: Api) -> None:
    """The plan of both statements of a search (SQLite's, which reads its plans the same at
    any size) seeks the name grams; none scans the customers."""
    await _customers(api)
    seen: list[tuple[str, Any]] = []

    def keep(_c: Any, _cur: Any, statement: str, params: Any, *_: Any) -> None:
        if "customers" in statement:
            seen.append((statement, params))

    app: Any = api.client.app
    sync = app.state.engine.sync_engine
    event.listen(sync, "before_cursor_execute", keep)
    try:
        assert await _names(api, "王伟") == ["王伟", "王伟强", "张王伟"]
    finally:
        event.remove(sync, "before_cursor_execute", keep)
    searches = [(st, p) for st, p in seen if "customer_name_grams" in st]
    assert len(searches) == 2  # the count and the page
    async with api.engine.connect() as conn:
        for statement, params in searches:
            plan = (await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params)).all()
            details = [str(row[-1]) for row in plan]
            assert not any(d.startswith("SCAN customers") for d in details), details
            assert any("customer_name_grams" in d for d in details), details
