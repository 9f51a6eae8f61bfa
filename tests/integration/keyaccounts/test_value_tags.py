"""Value tags (R97), service levels (R96, R99, R100) and the monthly run over HTTP and the
service (SQLite and PostgreSQL): computed and manual tags with history, the portfolio filtered
by tag, scoping, a key account's shorter work-order deadline."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from backend.accounts.models import Account
from backend.db import session_factory
from backend.errors import ServiceError
from backend.keyaccounts import service
from backend.keyaccounts.models import CustomerTagEvent, SegmentationRun
from backend.prepaid.models import EntryKind, LedgerEntry
from tests.integration.api.conftest import Api
from tests.integration.keyaccounts.test_key_accounts import KA, consumption

TZ = ZoneInfo("Asia/Shanghai")


async def make_alice_a_government_body(api: Api) -> None:
    sup = await api.login("sup")
    r = await api.client.put(
        f"{KA}/customers/{api.world.alice}/profile",
        json={"version": 0, "org_type": "government"},
        headers=sup,
    )
    assert r.status_code == 200, r.text


async def recompute(api: Api) -> dict[str, int]:
    r = await api.client.post(f"{KA}/segmentation/recompute", headers=await api.login("sup"))
    assert r.status_code == 200, r.text
    body: dict[str, int] = r.json()
    return body


async def test_the_run_computes_tags_and_a_service_level_and_a_second_run_changes_nothing(
    api: Api,
) -> None:
    await make_alice_a_government_body(api)
    await consumption(api, api.world.alice_meter, baseline_wh=10_000, recent_wh=10_000)
    await recompute(api)
    insp1 = await api.login("insp1")
    body = (await api.client.get(f"{KA}/customers/{api.world.alice}/tags", headers=insp1)).json()
    computed = [t["tag"] for t in body["tags"] if t["source"] == "computed"]
    assert computed == ["consumption_high", "pays_on_time", "credit_excellent", "safety_value"]
    assert {e["actor"] for e in body["history"]} == {"segmentation"}
    c360 = (await api.client.get(f"{KA}/customers/{api.world.alice}", headers=insp1)).json()
    assert c360["segment"]["service_level"] == "vip"
    assert [t["tag"] for t in c360["tags"]] == computed
    async with session_factory(api.engine)() as s:
        events = await s.scalar(select(func.count()).select_from(CustomerTagEvent))
    await recompute(api)
    async with session_factory(api.engine)() as s:
        assert await s.scalar(select(func.count()).select_from(CustomerTagEvent)) == events


async def test_a_tag_that_no_longer_holds_is_removed_with_history(api: Api) -> None:
    await recompute(api)
    sup = await api.login("sup")
    tags = (await api.client.get(f"{KA}/customers/{api.world.bob}/tags", headers=sup)).json()
    assert "pays_on_time" in [t["tag"] for t in tags["tags"]]
    async with session_factory(api.engine)() as s:
        s.add(
            LedgerEntry(
                account_id=api.world.bob_account,
                kind=EntryKind.CONSUMPTION_CHARGE,
                amount_fen=-1,
                balance_after_fen=-1,
                actor="test",
            )
        )
        bob = await s.get(Account, api.world.bob_account)
        assert bob is not None
        bob.balance_fen = -1
        await s.commit()
    await recompute(api)
    tags = (await api.client.get(f"{KA}/customers/{api.world.bob}/tags", headers=sup)).json()
    now = [t["tag"] for t in tags["tags"]]
    assert "pays_on_time" not in now
    assert "in_arrears" in now
    assert (tags["history"][0]["added"], tags["history"][0]["tag"]) in {
        (False, "pays_on_time"),
        (True, "in_arrears"),
    }
    assert {(e["tag"], e["added"]) for e in tags["history"]} >= {
        ("pays_on_time", True),
        ("pays_on_time", False),
        ("in_arrears", True),
    }


async def test_a_manager_labels_a_customer_once_and_removes_the_label(api: Api) -> None:
    insp1 = await api.login("insp1")
    url = f"{KA}/customers/{api.world.alice}/tags"
    first = await api.client.post(url, json={"tag": "一厂一策"}, headers=insp1)
    assert first.status_code == 201, first.text
    again = await api.client.post(url, json={"tag": "一厂一策"}, headers=insp1)
    assert again.status_code == 200
    assert again.json() == first.json()
    body = (await api.client.get(url, headers=insp1)).json()
    assert [(t["tag"], t["source"], t["added_by"]) for t in body["tags"]] == [
        ("一厂一策", "manual", "insp1")
    ]
    assert len(body["history"]) == 1
    gone = await api.client.delete(f"{url}/一厂一策", headers=insp1)
    assert gone.status_code == 204
    assert (await api.client.delete(f"{url}/一厂一策", headers=insp1)).status_code == 404
    body = (await api.client.get(url, headers=insp1)).json()
    assert body["tags"] == []
    assert [(e["tag"], e["added"]) for e in body["history"]] == [
        ("一厂一策", False),
        ("一厂一策", True),
    ]


async def test_the_same_label_sent_twice_in_parallel_is_added_once(api: Api) -> None:
    insp1 = await api.login("insp1")
    url = f"{KA}/customers/{api.world.alice}/tags"
    results = await asyncio.gather(
        *(api.client.post(url, json={"tag": "VIP"}, headers=insp1) for _ in range(4))
    )
    assert sorted(r.status_code for r in results) == [200, 200, 200, 201]
    body = (await api.client.get(url, headers=insp1)).json()
    assert [t["tag"] for t in body["tags"]] == ["VIP"]
    assert len(body["history"]) == 1


async def test_a_computed_tag_cannot_be_removed_by_hand(api: Api) -> None:
    await recompute(api)
    sup = await api.login("sup")
    r = await api.client.delete(f"{KA}/customers/{api.world.alice}/tags/pays_on_time", headers=sup)
    assert r.status_code == 404
    tags = (await api.client.get(f"{KA}/customers/{api.world.alice}/tags", headers=sup)).json()
    assert "pays_on_time" in [t["tag"] for t in tags["tags"]]


async def test_garbage_labels_are_refused(api: Api) -> None:
    insp1 = await api.login("insp1")
    url = f"{KA}/customers/{api.world.alice}/tags"
    for bad in ["", " lead", "trail ", "x" * 33, "a\nb", 7, None]:
        r = await api.client.post(url, json={"tag": bad}, headers=insp1)
        assert r.status_code == 400, (bad, r.text)
    r = await api.client.post(url, json={"tag": "ok", "extra": 1}, headers=insp1)
    assert r.status_code == 400


async def test_another_managers_customer_has_no_tags_to_see_or_set(api: Api) -> None:
    insp1 = await api.login("insp1")
    url = f"{KA}/customers/{api.world.bob}/tags"
    assert (await api.client.get(url, headers=insp1)).status_code == 404
    assert (await api.client.post(url, json={"tag": "x"}, headers=insp1)).status_code == 404
    assert (await api.client.delete(f"{url}/x", headers=insp1)).status_code == 404
    customer = await api.login("alice")
    assert (await api.client.get(url, headers=customer)).status_code == 403


async def test_the_portfolio_is_filtered_by_tag(api: Api) -> None:
    sup = await api.login("sup")
    await api.client.post(
        f"{KA}/customers/{api.world.bob}/tags", json={"tag": "重点跟进"}, headers=sup
    )
    r = await api.client.get(f"{KA}/portfolio", params={"tag": "重点跟进"}, headers=sup)
    assert r.status_code == 200, r.text
    assert [i["customer_id"] for i in r.json()["items"]] == [api.world.bob]
    assert r.json()["items"][0]["tags"] == ["重点跟进"]
    assert r.json()["total"] == 1
    insp1 = await api.login("insp1")
    mine = await api.client.get(f"{KA}/portfolio", params={"tag": "重点跟进"}, headers=insp1)
    assert mine.json() == {"items": [], "total": 0}  # bob is not in insp1's portfolio
    await recompute(api)
    both = await api.client.get(f"{KA}/portfolio", params={"tag": "pays_on_time"}, headers=sup)
    assert sorted(i["customer_id"] for i in both.json()["items"]) == sorted(
        [api.world.alice, api.world.bob]
    )


async def test_a_vip_customers_fault_order_is_due_in_half_the_time(api: Api) -> None:
    await make_alice_a_government_body(api)
    await recompute(api)
    op = await api.login("op")
    spans = {}
    for who, cid in (("alice", api.world.alice), ("bob", api.world.bob)):
        r = await api.client.post(
            "/api/servicedesk/orders",
            json={"kind": "fault", "channel": "phone", "description": "停电", "customer_id": cid},
            headers={**op, "Idempotency-Key": f"ka-sl-{who}"},
        )
        assert r.status_code == 201, r.text
        order = r.json()["order"]
        spans[who] = (order["node_due_at"] - order["node_started_at"]) // 60_000
    assert spans == {"alice": 15, "bob": 30}  # dispatch: 30 minutes, halved for vip


async def test_a_month_is_run_once_by_the_leader_and_again_by_hand(api: Api) -> None:
    now = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)
    async with session_factory(api.engine)() as s:
        first = await service.monthly_due(s, now, TZ)
        assert first is not None
        assert first.month == "2026-11"
        assert first.result.customers == 2
        assert await service.monthly_due(s, now, TZ) is None
        again = await service.run_month(s, "2026-11", TZ, "cli", now)
        assert again.result == first.result
        assert (again.tags_added, again.tags_removed) == (0, 0)
        runs = (await s.scalars(select(SegmentationRun))).all()
        assert [(r.month, r.ran_by) for r in runs] == [("2026-11", "cli")]
        with pytest.raises(ServiceError):
            await service.run_month(s, "2026-13", TZ, "cli", now)


def test_a_month_ends_at_local_midnight_of_the_next_month() -> None:
    assert service.month_end("2026-11", TZ) == datetime(2026, 11, 30, 16, 0, tzinfo=UTC)
    assert service.month_end("2026-12", TZ) == datetime(2026, 12, 31, 16, 0, tzinfo=UTC)
    assert service.last_closed_month(datetime(2026, 12, 31, 16, 30, tzinfo=UTC), TZ) == "2026-12"


async def place_grids(api: Api) -> dict[str, int]:
    """浙江 → 杭州 → 西湖 (grid 1) and 滨江 (grid 2)."""
    admin = await api.login("admin")
    ids: dict[str, int] = {}
    for code, level, parent in (
        ("ZJ", "province", None),
        ("ZJ-HZ", "city", "ZJ"),
        ("ZJ-HZ-XH", "district", "ZJ-HZ"),
        ("ZJ-HZ-BJ", "district", "ZJ-HZ"),
    ):
        body = {"level": level, "code": code, "name": code}
        if parent:
            body["parent_id"] = ids[parent]
        r = await api.client.post("/api/org-units", json=body, headers=admin)
        assert r.status_code == 201, r.text
        ids[code] = r.json()["id"]
    for grid, district in ((api.world.grid1, "ZJ-HZ-XH"), (api.world.grid2, "ZJ-HZ-BJ")):
        r = await api.client.put(
            f"/api/grids/{grid}/org-unit", json={"org_unit_id": ids[district]}, headers=admin
        )
        assert r.status_code == 200, r.text
    return ids


async def test_the_org_tree_counts_grids_customers_and_key_accounts_below_each_unit(
    api: Api,
) -> None:
    ids = await place_grids(api)
    await make_alice_a_government_body(api)
    sup = await api.login("sup")
    r = await api.client.get(f"{KA}/org-tree", headers=sup)
    assert r.status_code == 200, r.text
    seen = {
        n["key"]: (n["parent"], n["grids"], n["customers"], n["key_accounts"]) for n in r.json()
    }
    u = {code: f"unit:{i}" for code, i in ids.items()}
    assert seen[u["ZJ"]] == (None, 2, 2, 1)
    assert seen[u["ZJ-HZ"]] == (u["ZJ"], 2, 2, 1)
    assert seen[u["ZJ-HZ-XH"]] == (u["ZJ-HZ"], 1, 1, 1)
    assert seen[u["ZJ-HZ-BJ"]] == (u["ZJ-HZ"], 1, 1, 0)
    assert seen[f"grid:{api.world.grid1}"] == (u["ZJ-HZ-XH"], 1, 1, 1)
    assert [n["level"] for n in r.json()][:2] == ["province", "city"]  # parents first
    # an operator scoped to 滨江 sees only that branch
    admin = await api.login("admin")
    r = await api.client.put(
        f"/api/org-units/users/{api.world.users['op']}",
        json={"org_unit_id": ids["ZJ-HZ-BJ"]},
        headers=admin,
    )
    assert r.status_code == 204, r.text
    scoped = (await api.client.get(f"{KA}/org-tree", headers=await api.login("op"))).json()
    assert {n["key"] for n in scoped} == {
        u["ZJ"],
        u["ZJ-HZ"],
        u["ZJ-HZ-BJ"],
        f"grid:{api.world.grid2}",
    }
    assert next(n for n in scoped if n["key"] == u["ZJ"])["customers"] == 1
    insp1 = await api.login("insp1")
    assert (await api.client.get(f"{KA}/org-tree", headers=insp1)).status_code == 403


PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
AS_PDF = {"content-type": "application/pdf"}


async def test_a_contract_is_attached_listed_and_read_back_by_its_manager_only(api: Api) -> None:
    insp1 = await api.login("insp1")
    url = f"{KA}/customers/{api.world.alice}/documents"
    r = await api.client.post(
        url,
        params={"kind": "contract", "title": "供用电合同 2026"},
        content=PDF,
        headers={**insp1, **AS_PDF},
    )
    assert r.status_code == 201, r.text
    doc = r.json()
    assert (doc["kind"], doc["content_type"], doc["size_bytes"]) == (
        "contract",
        "application/pdf",
        len(PDF),
    )
    r = await api.client.post(
        url,
        params={"kind": "licence", "title": "营业执照"},
        content=PNG,
        headers={**insp1, "content-type": "image/png"},
    )
    assert r.status_code == 201, r.text
    listed = (await api.client.get(url, headers=insp1)).json()
    assert [d["title"] for d in listed] == ["营业执照", "供用电合同 2026"]
    body = await api.client.get(f"{url}/{doc['id']}", headers=insp1)
    assert body.status_code == 200
    assert body.content == PDF
    assert body.headers["content-type"].startswith("application/pdf")
    insp2 = await api.login("insp2")
    assert (await api.client.get(url, headers=insp2)).status_code == 404
    assert (await api.client.get(f"{url}/{doc['id']}", headers=insp2)).status_code == 404
    r = await api.client.post(
        url, params={"kind": "contract", "title": "x"}, content=PDF, headers=insp2
    )
    assert r.status_code == 404
    # bob's manager asks for alice's document through bob: not found either
    bob_url = f"{KA}/customers/{api.world.bob}/documents/{doc['id']}"
    assert (await api.client.get(bob_url, headers=insp2)).status_code == 404


async def test_documents_are_refused_when_too_large_not_a_pdf_or_image_or_unnamed(
    api: Api,
) -> None:
    insp1 = await api.login("insp1")
    url = f"{KA}/customers/{api.world.alice}/documents"
    ok = {"kind": "contract", "title": "合同"}
    big = await api.client.post(
        url, params=ok, content=PDF + b"0" * (5 << 20), headers={**insp1, **AS_PDF}
    )
    assert big.status_code == 413
    assert big.json()["code"] == "error.document_too_large"
    exe = await api.client.post(
        url, params=ok, content=b"MZ\x90\x00" * 10, headers={**insp1, **AS_PDF}
    )
    assert exe.status_code == 415
    assert exe.json()["code"] == "error.document_type_refused"
    empty = await api.client.post(url, params=ok, content=b"", headers={**insp1, **AS_PDF})
    assert empty.status_code == 415
    for params in ({"kind": "poster", "title": "x"}, {"kind": "contract", "title": ""}, {}):
        r = await api.client.post(url, params=params, content=PDF, headers={**insp1, **AS_PDF})
        assert r.status_code == 400, params
    assert (await api.client.get(url, headers=insp1)).json() == []
