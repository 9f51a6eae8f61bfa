"""Field readings over HTTP: counted at once, idempotent resends, grid scope, immutability."""

from __future__ import annotations

import random

import pytest
import sqlalchemy as sa
from litestar.testing import AsyncTestClient
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from backend.field.readings.corrections import ReadingImmutable
from backend.field.readings.models import FieldReading
from backend.metering.models import ConsumptionDaily, Reading
from tests.integration.field.conftest import Tokens
from tests.integration.field.district import NOW_MS, District
from tests.integration.field.helpers import MINUTE_MS, jitter, reading


async def _readings(
    engine: AsyncEngine, meter_pk: int, source: str = "field"
) -> list[tuple[int, int]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            sa.select(Reading.ts, Reading.value)
            .where(
                Reading.meter_pk == meter_pk,
                Reading.source == source,
                Reading.quantity == "energy_import",
                Reading.ts > NOW_MS - DAY,
            )
            .order_by(Reading.ts)
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]


DAY = 86_400_000


async def test_a_confirmed_reading_counts_at_once_in_readings_and_consumption(
    client: AsyncTestClient, auth: Tokens, district: District, engine: AsyncEngine
) -> None:
    meter = district.in_grid("west", ami=False)[0]
    body = reading(meter, tariffs=True)
    r = await client.post("/api/field/readings", json=body, headers=auth("insp-west"))
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["id"] == body["client_id"]
    assert out["status"] == "counted"
    assert out["ts"] == body["fix"]["fix_at"]
    assert out["received_at"] == NOW_MS
    assert out["registers"] == body["registers"]
    assert out["customer_number"] == meter.customer_number
    assert out["flags"] == []
    assert r.headers["Idempotent-Replayed"] == "false"
    total = body["registers"]["energy_import"]
    assert await _readings(engine, meter.pk) == [(body["fix"]["fix_at"], total)]
    async with engine.connect() as conn:
        day = (
            await conn.execute(
                sa.select(ConsumptionDaily.wh, ConsumptionDaily.last_value).where(
                    ConsumptionDaily.meter_pk == meter.pk,
                    ConsumptionDaily.quantity == "energy_import",
                    ConsumptionDaily.last_ts == body["fix"]["fix_at"],
                )
            )
        ).one()
    assert day == (total - meter.last_value, total)  # billed from the reading, in one pass


async def test_resending_the_same_submission_returns_the_same_reading_and_stores_it_once(
    client: AsyncTestClient, auth: Tokens, district: District, engine: AsyncEngine
) -> None:
    meter = district.in_grid("west", ami=False)[1]
    body = reading(meter)
    first = await client.post("/api/field/readings", json=body, headers=auth("insp-west"))
    again = await client.post("/api/field/readings", json=body, headers=auth("insp-west"))
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len(await _readings(engine, meter.pk)) == 1


async def test_an_offline_device_replaying_its_queue_in_another_order_stores_each_reading_once(
    client: AsyncTestClient, auth: Tokens, district: District, engine: AsyncEngine
) -> None:
    meters = district.in_grid("central", ami=False)[:8]
    bodies = []
    for n, m in enumerate(meters):
        lat, lon = jitter(m, n)
        bodies.append(reading(m, at=NOW_MS - (60 - 5 * n) * MINUTE_MS, lat=lat, lon=lon))
    headers = auth("insp-central")
    answers = {}
    for body in bodies:  # the first attempt: the answers were lost on the way back
        answers[body["client_id"]] = (
            await client.post("/api/field/readings", json=body, headers=headers)
        ).json()
    shuffled = bodies[:]
    random.Random(3).shuffle(shuffled)
    for body in [*shuffled, *reversed(bodies)]:
        r = await client.post("/api/field/readings", json=body, headers=headers)
        assert r.status_code == 201
        assert r.json() == answers[body["client_id"]]
    for m in meters:
        assert len(await _readings(engine, m.pk)) == 1
    async with engine.connect() as conn:
        stored = await conn.scalar(sa.select(sa.func.count()).select_from(FieldReading))
    assert stored == len(meters)


async def test_the_same_client_id_with_a_different_body_is_a_conflict_naming_the_id(
    client: AsyncTestClient, auth: Tokens, district: District
) -> None:
    meter = district.in_grid("west", ami=False)[2]
    body = reading(meter)
    await client.post("/api/field/readings", json=body, headers=auth("insp-west"))
    changed = {**body, "registers": {"energy_import": body["registers"]["energy_import"] + 10}}
    r = await client.post("/api/field/readings", json=changed, headers=auth("insp-west"))
    assert r.status_code == 409
    assert body["client_id"] in r.json()["detail"]
    assert "different reading" in r.json()["detail"]
    assert r.json()["extra"][0]["key"] == "client_id"


async def test_an_inspector_cannot_read_or_write_outside_their_grid(
    client: AsyncTestClient, auth: Tokens, district: District
) -> None:
    east = district.in_grid("east", ami=False)[0]
    r = await client.post("/api/field/readings", json=reading(east), headers=auth("insp-west"))
    assert r.status_code == 404
    assert east.meter_id in r.json()["detail"]
    body = reading(east)
    assert (
        await client.post("/api/field/readings", json=body, headers=auth("insp-east"))
    ).status_code == 201
    rid = body["client_id"]
    for path in (f"/api/field/readings/{rid}", f"/api/field/readings/{rid}/history"):
        assert (await client.get(path, headers=auth("insp-west"))).status_code == 404
        assert (await client.get(path, headers=auth("insp-east"))).status_code == 200
        assert (await client.get(path, headers=auth("sup-chen"))).status_code == 200
    listed = await client.get(
        "/api/field/readings", params={"meter_id": east.meter_id}, headers=auth("insp-west")
    )
    assert listed.json() == []
    # reusing the other inspector's client_id reveals nothing about that reading
    r = await client.post(
        "/api/field/readings",
        json={**reading(district.in_grid("west")[0]), "client_id": rid},
        headers=auth("insp-west"),
    )
    assert r.status_code == 409
    assert east.meter_id not in r.json()["detail"]


async def test_a_customer_cannot_submit_or_see_field_readings(
    client: AsyncTestClient, auth: Tokens, district: District, session: AsyncSession
) -> None:
    from backend.auth.models import User

    session.add(
        User(
            id=50,
            username="cust-1",
            password_hash="!",
            role="customer",
            customer_id=district.meters[0].customer_id,
        )
    )
    await session.commit()
    district.users["cust-1"] = 50
    headers = auth("cust-1")
    r = await client.post("/api/field/readings", json=reading(district.meters[0]), headers=headers)
    assert r.status_code == 403
    assert (await client.get("/api/field/readings", headers=headers)).status_code == 403
    assert (
        await client.post("/api/field/readings", json=reading(district.meters[0]))
    ).status_code == 401


BAD_SUBMISSIONS = [  # (what changes, the field the answer must name, words it must say)
    (
        {"registers": {"energy_import_t1": 100}},
        "registers",
        "energy_import (the total, in Wh) is required",
    ),
    (
        {"registers": {"energy_import": 1, "voltage_a": 220_000}},
        "registers",
        "voltage_a not readable",
    ),
    ({"registers": {"energy_import": -5}}, "registers", ">= 0"),
    ({"registers": {"energy_import": 12.5}}, "registers", "Expected `int`"),
    (
        {"fix": {"latitude": 91, "longitude": 120, "accuracy_m": 5, "fix_at": NOW_MS}},
        "fix",
        "<= 90",
    ),
    (
        {
            "fix": {
                "latitude": 30.27,
                "longitude": 120.15,
                "accuracy_m": 5,
                "fix_at": NOW_MS + 3_600_000,
            }
        },
        "fix.fix_at",
        "60 min in the future",
    ),
    ({"meter_id": "no-such-meter"}, "meter_id", "not found"),
    ({"inspector_id": 6}, "inspector_id", "unknown field"),
    ({"client_id": "not-a-uuid"}, "client_id", "Invalid UUID"),
    ({"photo_sha256": "ab" * 32}, "photo_sha256", "upload it first"),
]


async def test_a_bad_submission_is_refused_with_a_message_naming_the_field(
    client: AsyncTestClient, auth: Tokens, district: District, engine: AsyncEngine
) -> None:
    meter = district.in_grid("west", ami=False)[0]
    for change, key, words in BAD_SUBMISSIONS:
        r = await client.post(
            "/api/field/readings", json={**reading(meter), **change}, headers=auth("insp-west")
        )
        assert r.status_code in (400, 404), (change, r.text)
        assert words in r.text, (change, r.text)
        assert key.split(".")[0] in r.text, (change, r.text)
    assert await _readings(engine, meter.pk) == []  # nothing half-stored


async def test_a_second_reading_of_a_meter_at_the_same_instant_is_refused(
    client: AsyncTestClient, auth: Tokens, district: District
) -> None:
    meter = district.in_grid("west", ami=False)[3]
    await client.post("/api/field/readings", json=reading(meter), headers=auth("insp-west"))
    r = await client.post("/api/field/readings", json=reading(meter), headers=auth("insp-west"))
    assert r.status_code == 409
    assert "already has a field reading" in r.json()["detail"]


async def test_a_confirmed_reading_cannot_be_changed_through_the_api(
    client: AsyncTestClient, auth: Tokens, district: District
) -> None:
    body = reading(district.in_grid("west", ami=False)[4])
    await client.post("/api/field/readings", json=body, headers=auth("insp-west"))
    path = f"/api/field/readings/{body['client_id']}"
    for method in ("PUT", "PATCH", "DELETE"):
        r = await client.request(
            method, path, json={"registers": {"energy_import": 1}}, headers=auth("sup-chen")
        )
        assert r.status_code == 405
        assert "cannot be changed or deleted (R8)" in r.json()["detail"]
        assert "POST /api/field/corrections" in r.json()["detail"]
    after = await client.get(path, headers=auth("insp-west"))
    assert after.json()["registers"] == body["registers"]


async def test_the_database_refuses_to_update_or_delete_a_confirmed_reading(
    client: AsyncTestClient, auth: Tokens, district: District, engine: AsyncEngine
) -> None:
    body = reading(district.in_grid("west", ami=False)[5])
    await client.post("/api/field/readings", json=body, headers=auth("insp-west"))
    statements = [
        "UPDATE field_readings SET registers = '{\"energy_import\": 1}'",
        "UPDATE field_readings SET note = 'edited'",
        "DELETE FROM field_readings",
    ]
    if engine.dialect.name == "postgresql":  # TRUNCATE skips row triggers: a statement trigger
        statements.append("TRUNCATE field_readings CASCADE")
    for sql in statements:
        with pytest.raises((IntegrityError, DBAPIError)) as info:
            async with engine.begin() as conn:
                await conn.execute(sa.text(sql))
        assert "field_readings is insert-only" in str(info.value)
    async with engine.connect() as conn:
        assert await conn.scalar(sa.select(FieldReading.note)) == ""


async def test_the_orm_refuses_to_change_a_confirmed_reading(
    client: AsyncTestClient, auth: Tokens, district: District, session: AsyncSession
) -> None:
    body = reading(district.in_grid("west", ami=False)[6])
    await client.post("/api/field/readings", json=body, headers=auth("insp-west"))
    row = await session.scalar(sa.select(FieldReading))
    assert row is not None
    row.note = "changed"
    with pytest.raises(ReadingImmutable, match="cannot be changed"):
        await session.commit()
    await session.rollback()
    await session.delete(row)
    with pytest.raises(ReadingImmutable, match="cannot be changed"):
        await session.commit()
