"""The language a customer is written to: their own choice or an operator's at their request,
scoped like every customer object, and the language their notices are worded in."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from backend.accounts.models import Customer, Language
from backend.commands import service
from backend.commands.lifecycle import Event
from backend.db import session_factory
from backend.prepaid import ledger
from backend.prepaid.models import EntryKind, Notice
from backend.settings import load_settings
from protocols.contract import CommandKind, RelayState
from tests.integration.api.conftest import Api
from tests.integration.prepaid.test_notices import ack
from tests.support.prepaid_data import make_account


async def test_a_customer_sets_their_own_language_and_nobody_elses(api: Api) -> None:
    alice = await api.login("alice")
    own = f"/api/customers/{api.world.alice}/language"
    r = await api.client.put(own, json={"language": "en"}, headers=alice)
    assert r.status_code == 200, r.text
    assert r.json()["language"] == "en"
    detail = await api.client.get(f"/api/customers/{api.world.alice}", headers=alice)
    assert detail.json()["customer"]["language"] == "en"
    other = f"/api/customers/{api.world.bob}/language"
    assert (await api.client.put(other, json={"language": "en"}, headers=alice)).status_code == 404
    bob = await api.client.get(f"/api/customers/{api.world.bob}", headers=await api.login("bob"))
    assert bob.json()["customer"]["language"] == "zh-CN"


async def test_an_operator_may_set_it_and_an_inspector_may_not(api: Api) -> None:
    path = f"/api/customers/{api.world.bob}/language"
    r = await api.client.put(path, json={"language": "en"}, headers=await api.login("op"))
    assert r.status_code == 200
    r = await api.client.put(path, json={"language": "zh-CN"}, headers=await api.login("insp1"))
    assert r.status_code == 403


async def test_an_unknown_language_or_field_is_refused_with_its_place(api: Api) -> None:
    alice = await api.login("alice")
    path = f"/api/customers/{api.world.alice}/language"
    for body in ({"language": "fr"}, {"language": "en", "extra": 1}, {"language": 5}, {}):
        r = await api.client.put(path, json=body, headers=alice)
        assert r.status_code == 400, body
        assert r.json()["code"]
    r = await api.client.get(f"/api/customers/{api.world.alice}", headers=alice)
    assert r.json()["customer"]["language"] == "zh-CN"


async def test_notices_are_worded_in_the_customers_language(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    settings = load_settings(env={}, data_dir=str(tmp_path))
    async with session_factory(engine)() as s:
        _, account, meter = await make_account(s, control_mode=2)
        customer = await s.get(Customer, account.customer_id)
        assert customer is not None
        customer.language = Language.EN
        await ledger.post(s, account.id, EntryKind.ADJUSTMENT, -800, actor="t", memo="debt")
        off = await service.create(s, meter, CommandKind.DISCONNECT, reason="arrears",
                                   actor=service.ENGINE, ttl=timedelta(minutes=10))  # fmt: skip
        await service.transition(s, off, Event.DISPATCH, "dispatcher")
        await ack(s, settings, off, RelayState.DISCONNECTED)
        await s.commit()
        texts = (await s.scalars(select(Notice.text).where(Notice.account_id == account.id))).all()
        assert texts
        assert all("¥8.00" in t and "欠费" not in t for t in texts), texts
