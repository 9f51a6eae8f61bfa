"""Corrections: a new record with a reason, counted only after a supervisor approves it."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from litestar.testing import AsyncTestClient
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from backend.metering.models import ConsumptionDaily, Reading
from tests.integration.field.conftest import Tokens
from tests.integration.field.district import NOW_MS, District, MeterInfo
from tests.integration.field.helpers import MINUTE_MS, new_id, reading


async def _value(engine: AsyncEngine, meter: MeterInfo, ts: int) -> int | None:
    async with engine.connect() as conn:
        return await conn.scalar(
            sa.select(Reading.value).where(
                Reading.meter_pk == meter.pk, Reading.ts == ts, Reading.quantity == "energy_import"
            )
        )


async def _day_wh(engine: AsyncEngine, meter: MeterInfo, ts: int) -> int | None:
    async with engine.connect() as conn:
        return await conn.scalar(
            sa.select(ConsumptionDaily.wh).where(
                ConsumptionDaily.meter_pk == meter.pk,
                ConsumptionDaily.quantity == "energy_import",
                ConsumptionDaily.last_ts == ts,
            )
        )


async def _read_with_a_typo(
    client: AsyncTestClient, auth: Tokens, meter: MeterInfo
) -> dict[str, Any]:
    """The inspector keyed 10 kWh too many (a typo) and confirmed."""
    body = reading(meter, value=meter.value_at(NOW_MS - 10 * MINUTE_MS) + 10_000)
    r = await client.post("/api/field/readings", json=body, headers=auth("insp-west"))
    assert r.status_code == 201
    return body


def _correction(original: dict[str, Any], value: int, **extra: Any) -> dict[str, Any]:
    return {
        "client_id": new_id(),
        "corrects": original["client_id"],
        "registers": {"energy_import": value},
        "reason": "键入错误：多输入一位 (typo)",
        "device_at": NOW_MS - MINUTE_MS,
        **extra,
    }


async def test_a_pending_correction_does_not_count_and_an_approved_one_does(
    client: AsyncTestClient, auth: Tokens, district: District, engine: AsyncEngine
) -> None:
    meter = district.in_grid("west", ami=False)[0]
    original = await _read_with_a_typo(client, auth, meter)
    ts, wrong = original["fix"]["fix_at"], original["registers"]["energy_import"]
    right = wrong - 10_000
    body = _correction(original, right)
    r = await client.post("/api/field/corrections", json=body, headers=auth("insp-west"))
    assert r.status_code == 201
    assert r.json()["status"] == "pending_approval"
    assert r.json()["corrects"] == original["client_id"]
    assert r.json()["ts"] == ts
    assert await _value(engine, meter, ts) == wrong  # not yet
    assert await _day_wh(engine, meter, ts) == wrong - meter.last_value

    pending = await client.get("/api/field/corrections", headers=auth("sup-chen"))
    assert [c["id"] for c in pending.json()] == [body["client_id"]]
    r = await client.post(
        f"/api/field/corrections/{body['client_id']}/decision",
        json={"approved": True, "note": "照片核对无误"},
        headers=auth("sup-chen"),
    )
    assert r.status_code == 200
    assert r.json()["status"] == "approved"
    assert r.json()["decision"]["decided_by"] == district.users["sup-chen"]
    assert await _value(engine, meter, ts) == right
    assert await _day_wh(engine, meter, ts) == right - meter.last_value  # billing follows

    history = (
        await client.get(
            f"/api/field/readings/{original['client_id']}/history", headers=auth("insp-west")
        )
    ).json()
    assert history["original"]["registers"]["energy_import"] == wrong  # the original stands
    assert [c["status"] for c in history["corrections"]] == ["approved"]
    assert history["effective_registers"]["energy_import"] == right
    assert (await client.get("/api/field/corrections", headers=auth("sup-chen"))).json() == []


async def test_a_rejected_correction_changes_nothing(
    client: AsyncTestClient, auth: Tokens, district: District, engine: AsyncEngine
) -> None:
    meter = district.in_grid("west", ami=False)[1]
    original = await _read_with_a_typo(client, auth, meter)
    ts, wrong = original["fix"]["fix_at"], original["registers"]["energy_import"]
    body = _correction(original, wrong - 10_000)
    await client.post("/api/field/corrections", json=body, headers=auth("insp-west"))
    r = await client.post(
        f"/api/field/corrections/{body['client_id']}/decision",
        json={"approved": False, "note": "照片显示原读数正确"},
        headers=auth("sup-lin"),
    )
    assert r.json()["status"] == "rejected"
    assert await _value(engine, meter, ts) == wrong
    history = (
        await client.get(
            f"/api/field/readings/{body['client_id']}/history", headers=auth("sup-lin")
        )
    ).json()
    assert history["effective_registers"]["energy_import"] == wrong
    assert history["corrections"][0]["decision"]["note"] == "照片显示原读数正确"


async def test_a_decision_is_final_and_a_resend_of_it_is_harmless(
    client: AsyncTestClient, auth: Tokens, district: District
) -> None:
    original = await _read_with_a_typo(client, auth, district.in_grid("west", ami=False)[2])
    body = _correction(original, original["registers"]["energy_import"] - 10_000)
    await client.post("/api/field/corrections", json=body, headers=auth("insp-west"))
    path = f"/api/field/corrections/{body['client_id']}/decision"
    decision = {"approved": True, "note": "ok"}
    first = await client.post(path, json=decision, headers=auth("sup-chen"))
    again = await client.post(path, json=decision, headers=auth("sup-chen"))
    assert again.status_code == 200
    assert again.json() == first.json()
    r = await client.post(path, json={"approved": False, "note": "no"}, headers=auth("sup-lin"))
    assert r.status_code == 409
    assert "already approved; a decision is final" in r.json()["detail"]


async def test_corrections_are_refused_when_they_would_muddle_the_history(
    client: AsyncTestClient, auth: Tokens, district: District
) -> None:
    original = await _read_with_a_typo(client, auth, district.in_grid("west", ami=False)[3])
    value = original["registers"]["energy_import"] - 10_000
    first = _correction(original, value)
    assert (
        await client.post("/api/field/corrections", json=first, headers=auth("insp-west"))
    ).status_code == 201
    r = await client.post(
        "/api/field/corrections", json=_correction(original, value - 10), headers=auth("insp-west")
    )
    assert r.status_code == 409
    assert "still pending approval" in r.json()["detail"]
    r = await client.post(
        "/api/field/corrections",
        json={**_correction(original, value), "corrects": first["client_id"]},
        headers=auth("insp-west"),
    )
    assert r.status_code == 400
    assert "itself a correction; refer to the original reading" in r.json()["detail"]
    r = await client.post(
        "/api/field/corrections",
        json={**_correction(original, value), "reason": ""},
        headers=auth("insp-west"),
    )
    assert r.status_code == 400
    assert "reason" in r.text


async def test_nobody_approves_their_own_correction_and_inspectors_approve_none(
    client: AsyncTestClient, auth: Tokens, district: District
) -> None:
    original = await _read_with_a_typo(client, auth, district.in_grid("west", ami=False)[4])
    body = _correction(original, original["registers"]["energy_import"] - 10_000)
    await client.post("/api/field/corrections", json=body, headers=auth("sup-chen"))
    path = f"/api/field/corrections/{body['client_id']}/decision"
    r = await client.post(path, json={"approved": True}, headers=auth("sup-chen"))
    assert r.status_code == 403
    assert "another supervisor must decide it" in r.json()["detail"]
    assert (
        await client.post(path, json={"approved": True}, headers=auth("insp-west"))
    ).status_code == 403
    assert (
        await client.post(path, json={"approved": True}, headers=auth("sup-lin"))
    ).status_code == 200


async def test_an_inspector_cannot_correct_a_reading_outside_their_grid(
    client: AsyncTestClient, auth: Tokens, district: District
) -> None:
    original = await _read_with_a_typo(client, auth, district.in_grid("west", ami=False)[5])
    body = _correction(original, 1)
    r = await client.post("/api/field/corrections", json=body, headers=auth("insp-east"))
    assert r.status_code == 404


async def test_the_database_refuses_to_change_a_decision(
    client: AsyncTestClient, auth: Tokens, district: District, engine: AsyncEngine
) -> None:
    original = await _read_with_a_typo(client, auth, district.in_grid("west", ami=False)[6])
    body = _correction(original, original["registers"]["energy_import"] - 10_000)
    await client.post("/api/field/corrections", json=body, headers=auth("insp-west"))
    await client.post(
        f"/api/field/corrections/{body['client_id']}/decision",
        json={"approved": False},
        headers=auth("sup-chen"),
    )
    for sql in (
        "UPDATE field_correction_decisions SET approved = true",
        "DELETE FROM field_correction_decisions",
    ):
        with pytest.raises((IntegrityError, DBAPIError)) as info:
            async with engine.begin() as conn:
                await conn.execute(sa.text(sql))
        assert "field_correction_decisions is insert-only" in str(info.value)
