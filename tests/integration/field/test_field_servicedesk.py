"""Repair crews report jobs from the PDA (R50–R51); the service centre sees them at once;
customers see outage notices."""

from __future__ import annotations

from typing import Any

from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.models import User
from tests.integration.field.conftest import Tokens
from tests.integration.field.district import HOUR_MS, NOW_MS, District
from tests.integration.field.helpers import MINUTE_MS, new_id


def _job(**extra: Any) -> dict[str, Any]:
    return {
        "client_id": new_id(),
        "workers": ["周师傅", "吴师傅"],
        "content": "文二路 10kV 电缆分支箱故障抢修",
        "area": "文二路 central 台区",
        "transformer_area_id": 5,
        "started_at": NOW_MS - 20 * MINUTE_MS,
        "expected_finish_at": NOW_MS + 3 * HOUR_MS,
        "fix": {
            "latitude": 30.2702,
            "longitude": 120.1498,
            "accuracy_m": 8,
            "fix_at": NOW_MS - 20 * MINUTE_MS,
        },
        **extra,
    }


async def test_a_crew_report_reaches_the_service_centre_at_once_and_only_once(
    client: AsyncTestClient, auth: Tokens, district: District
) -> None:
    body = _job()
    first = await client.post(
        "/api/servicedesk/repair-jobs", json=body, headers=auth("insp-central")
    )
    again = await client.post(
        "/api/servicedesk/repair-jobs", json=body, headers=auth("insp-central")
    )
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    job = first.json()
    assert job["status"] == "active"
    assert job["workers"] == ["周师傅", "吴师傅"]
    active = (await client.get("/api/servicedesk/repair-jobs", headers=auth("op-95598"))).json()
    assert [(j["id"], j["area"], j["expected_finish_at"]) for j in active] == [
        (job["id"], body["area"], body["expected_finish_at"])
    ]
    other = await client.get("/api/servicedesk/repair-jobs", headers=auth("insp-west"))
    assert other.json() == []  # crews see their own jobs; the centre sees all
    r = await client.post(
        "/api/servicedesk/repair-jobs",
        json={**body, "content": "别的"},
        headers=auth("insp-central"),
    )
    assert r.status_code == 409


async def test_a_job_is_extended_then_finished_and_leaves_the_active_list(
    client: AsyncTestClient, auth: Tokens, district: District
) -> None:
    job = (
        await client.post("/api/servicedesk/repair-jobs", json=_job(), headers=auth("insp-east"))
    ).json()
    path = f"/api/servicedesk/repair-jobs/{job['id']}"
    later = NOW_MS + 5 * HOUR_MS
    r = await client.post(
        f"{path}/extend", json={"expected_finish_at": later}, headers=auth("insp-east")
    )
    assert r.json()["expected_finish_at"] == later
    done = {"finished_at": NOW_MS - MINUTE_MS, "note": "已恢复送电"}
    assert (
        await client.post(f"{path}/finish", json=done, headers=auth("insp-west"))
    ).status_code == 404
    r = await client.post(f"{path}/finish", json=done, headers=auth("insp-east"))
    assert r.json()["status"] == "finished"
    assert (
        await client.post(f"{path}/finish", json=done, headers=auth("insp-east"))
    ).json() == r.json()
    assert (await client.get("/api/servicedesk/repair-jobs", headers=auth("op-95598"))).json() == []
    everything = await client.get(
        "/api/servicedesk/repair-jobs", params={"active": False}, headers=auth("op-95598")
    )
    assert [j["id"] for j in everything.json()] == [job["id"]]


async def test_a_bad_job_report_names_the_field(
    client: AsyncTestClient, auth: Tokens, district: District
) -> None:
    for change, words in (
        ({"expected_finish_at": NOW_MS - HOUR_MS}, "expected_finish_at must be after started_at"),
        ({"workers": []}, "workers"),
        ({"transformer_area_id": 999}, "transformer area 999 does not exist"),
        (
            {"started_at": NOW_MS + 2 * HOUR_MS, "expected_finish_at": NOW_MS + 3 * HOUR_MS},
            "report a job on arrival",
        ),
    ):
        r = await client.post(
            "/api/servicedesk/repair-jobs", json=_job(**change), headers=auth("insp-east")
        )
        assert r.status_code == 400, change
        assert words in r.text, (change, r.text)


async def test_customers_see_current_outage_notices_and_only_the_centre_publishes_them(
    client: AsyncTestClient, auth: Tokens, district: District, session: AsyncSession
) -> None:
    notice = {
        "kind": "planned",
        "area": "文三路 east 台区",
        "transformer_area_id": 9,
        "starts_at": NOW_MS + 24 * HOUR_MS,
        "expected_end_at": NOW_MS + 30 * HOUR_MS,
        "reason": "配电变压器增容改造",
    }
    assert (
        await client.post("/api/servicedesk/outages", json=notice, headers=auth("insp-east"))
    ).status_code == 403
    r = await client.post("/api/servicedesk/outages", json=notice, headers=auth("op-95598"))
    assert r.status_code == 201
    planned = r.json()
    assert planned["status"] == "upcoming"
    past = {
        **notice,
        "kind": "unplanned",
        "starts_at": NOW_MS - 5 * HOUR_MS,
        "expected_end_at": NOW_MS - HOUR_MS,
    }
    await client.post("/api/servicedesk/outages", json=past, headers=auth("op-95598"))
    session.add(
        User(
            id=60,
            username="cust-9",
            password_hash="!",
            role="customer",
            customer_id=district.meters[-1].customer_id,
        )
    )
    await session.commit()
    district.users["cust-9"] = 60
    current = (await client.get("/api/servicedesk/outages", headers=auth("cust-9"))).json()
    assert [(o["id"], o["reason"]) for o in current] == [(planned["id"], "配电变压器增容改造")]
    r = await client.post(
        f"/api/servicedesk/outages/{planned['id']}/cancel", headers=auth("op-95598")
    )
    assert r.json()["status"] == "cancelled"
    assert (await client.get("/api/servicedesk/outages", headers=auth("cust-9"))).json() == []
