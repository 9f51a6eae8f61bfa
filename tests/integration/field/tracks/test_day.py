"""A whole day of field work through the API, as the handheld and the supervisor do it.

Set FIELD_DAY_TRANSCRIPT=path to write every request and response to a JSON file (the
examples in docs/field.md come from it)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.models import User
from backend.auth.passwords import hash_password
from tests.integration.field.district import NOW_MS, District
from tests.integration.field.helpers import JPEG, MINUTE_MS, jitter, new_id, reading

START = NOW_MS - 120 * MINUTE_MS  # 08:00 in Hangzhou


class Transcript:
    def __init__(self, client: AsyncTestClient) -> None:
        self.client = client
        self.entries: list[dict[str, Any]] = []
        self.token = ""

    async def __call__(self, method: str, path: str, body: Any = None, **kw: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        headers |= kw.pop("headers", {})
        if isinstance(body, bytes):
            r = await self.client.request(method, path, content=body, headers=headers, **kw)
        else:
            r = await self.client.request(method, path, json=body, headers=headers, **kw)
        self.entries.append(
            {
                "request": f"{method} {path}",
                "params": kw.get("params"),
                "body": body if not isinstance(body, bytes) else f"<{len(body)} bytes>",
                "status": r.status_code,
                "etag": r.headers.get("etag"),
                "response": r.json()
                if r.content and r.headers.get("content-type", "").startswith("application/json")
                else None,
            }
        )
        return r

    def save(self) -> None:
        target = os.environ.get("FIELD_DAY_TRANSCRIPT")
        if target:
            Path(target).write_text(json.dumps(self.entries, ensure_ascii=False, indent=1))


async def test_a_day_of_reading_in_the_central_grid_and_its_review(
    client: AsyncTestClient, district: District, session: AsyncSession, cheap_argon2: None
) -> None:
    for username in ("insp-central", "sup-chen"):
        await session.execute(
            sa.update(User)
            .where(User.username == username)
            .values(password_hash=hash_password("西湖-2026"))
        )
    await session.commit()
    api = Transcript(client)

    # 07:55 the inspector logs in and fetches the book over the air (R6)
    login = await api(
        "POST", "/api/auth/login", {"username": "insp-central", "password": "西湖-2026"}
    )
    api.token = login.json()["access_token"]
    r = await api("GET", "/api/field/books/current")
    book, etag = r.json(), r.headers["ETag"]
    assert book["total"] > 20
    stops = [i for i in book["items"] if i["kind"] == "reading"][:6]
    meters = [district.meter(i["meter"]["meter_id"]) for i in stops]
    r = await api("GET", "/api/field/books/current", headers={"If-None-Match": etag})
    assert r.status_code == 304

    # 08:00 walking: the phone uploads its track in batches (R5)
    track = [
        {
            "ts": START + n * 60_000,
            "latitude": m.lat + 0.00002,
            "longitude": m.lon,
            "accuracy_m": 6.0,
        }
        for n, m in enumerate(meters)
    ]
    assert (await api("POST", "/api/field/tracks", {"points": track[:3]})).json()["accepted"] == 3

    # at the first stop the app asks who is here (R3) and pops the meter box up
    first = meters[0]
    r = await api(
        "GET",
        "/api/field/nearby",
        params={"lat": first.lat + 0.00002, "lon": first.lon, "accuracy_m": 6, "radius_m": 150},
    )
    assert first.meter_id in [m["meter_id"] for m in r.json()["here"]["meters"]]

    # a photo of the register, then the confirmed reading; billed at once (R4, R7)
    photo = await api("POST", "/api/field/photos", JPEG, headers={"Content-Type": "image/jpeg"})
    assert photo.json()["sha256"] == hashlib.sha256(JPEG).hexdigest()
    lat, lon = jitter(first, 0)
    body = reading(
        first,
        at=START + 30_000,
        lat=lat,
        lon=lon,
        tariffs=True,
        photo_sha256=photo.json()["sha256"],
    )
    r = await api("POST", "/api/field/readings", body)
    assert (r.status_code, r.json()["status"]) == (201, "counted")

    # 08:05–08:20 in a basement without signal: four readings queue on the phone ...
    queued = []
    for n, m in enumerate(meters[1:5], 1):
        lat, lon = jitter(m, n)
        queued.append(reading(m, at=START + n * 60_000 + 30_000, lat=lat, lon=lon))
    right = queued[2]["registers"]["energy_import"]
    queued[2]["registers"]["energy_import"] = right * 10  # a slip of the finger: an extra 0
    # ... and are sent when the signal returns; the answer to the last is lost, so the
    # outbox sends it again: the same reading comes back, nothing is stored twice
    for q in queued:
        assert (await api("POST", "/api/field/readings", q)).status_code == 201
    r = await api("POST", "/api/field/readings", queued[-1])
    assert r.headers["Idempotent-Replayed"] == "true"
    assert (await api("POST", "/api/field/tracks", {"points": track})).json() == {
        "accepted": 3,
        "duplicates": 3,
    }

    # the slip was flagged; the inspector notices and files a correction with a reason (R8)
    slip = queued[2]
    flagged = (await api("GET", f"/api/field/readings/{slip['client_id']}")).json()
    assert [f["kind"] for f in flagged["flags"]] == ["consumption_out_of_range"]
    correction = {
        "client_id": new_id(),
        "corrects": slip["client_id"],
        "registers": {"energy_import": right},
        "reason": "多按了一个 0 (an extra zero keyed)",
        "device_at": START + 10 * 60_000,
    }
    assert (await api("POST", "/api/field/corrections", correction)).json()[
        "status"
    ] == "pending_approval"
    assert (await api("PUT", f"/api/field/readings/{slip['client_id']}", {})).status_code == 405

    # 17:30 the supervisor reviews the day
    login = await api("POST", "/api/auth/login", {"username": "sup-chen", "password": "西湖-2026"})
    api.token = login.json()["access_token"]
    flags = (await api("GET", "/api/field/flags")).json()
    assert [f["reading_id"] for f in flags] == [slip["client_id"]]
    pending = (await api("GET", "/api/field/corrections")).json()
    assert [c["id"] for c in pending] == [correction["client_id"]]
    r = await api(
        "POST",
        f"/api/field/corrections/{correction['client_id']}/decision",
        {"approved": True, "note": "照片与更正一致"},
    )
    assert r.json()["status"] == "approved"
    r = await api(
        "POST", f"/api/field/flags/{flags[0]['id']}/resolve", {"note": "键入错误，已按更正处理"}
    )
    assert r.json()["status"] == "resolved"
    history = (await api("GET", f"/api/field/readings/{slip['client_id']}/history")).json()
    assert (
        history["effective_registers"]["energy_import"] == correction["registers"]["energy_import"]
    )
    day = (
        await api("GET", f"/api/field/inspectors/{district.inspectors['central']}/days/2026-11-20")
    ).json()
    assert (day["points"], day["readings"]) == (6, 5)
    coverage = (await api("GET", f"/api/field/books/{book['id']}/coverage")).json()
    assert coverage["read"] == 5
    assert meters[5].meter_id in [c["meter_id"] for c in coverage["missed"]]
    api.save()
