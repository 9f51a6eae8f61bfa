"""The 95598 intake's customer search: by the keys a caller gives, each from an index, and by
address only when asked."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from litestar.testing import AsyncTestClient

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
