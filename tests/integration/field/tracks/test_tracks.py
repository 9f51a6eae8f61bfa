"""Tracks (R5): idempotent uploads, the replay of a day, and coverage of a book (漏抄)."""

from __future__ import annotations

from typing import Any

from litestar.testing import AsyncTestClient

from tests.integration.field.conftest import Tokens
from tests.integration.field.district import NOW_MS, District
from tests.integration.field.helpers import MINUTE_MS, jitter, reading

START = NOW_MS - 90 * MINUTE_MS  # 08:30 local


def _walk(
    points: list[tuple[float, float]], start: int, step_ms: int = 15_000
) -> list[dict[str, Any]]:
    return [
        {"ts": start + n * step_ms, "latitude": lat, "longitude": lon, "accuracy_m": 5.0}
        for n, (lat, lon) in enumerate(points)
    ]


async def test_track_uploads_are_idempotent_per_instant(
    client: AsyncTestClient, auth: Tokens, district: District
) -> None:
    points = _walk([(30.2654 + i * 0.00005, 120.1430) for i in range(40)], START)
    headers = auth("insp-west")
    r = await client.post("/api/field/tracks", json={"points": points[:30]}, headers=headers)
    assert r.json() == {"accepted": 30, "duplicates": 0}
    r = await client.post("/api/field/tracks", json={"points": points}, headers=headers)  # overlap
    assert r.json() == {"accepted": 10, "duplicates": 30}
    r = await client.post(
        "/api/field/tracks", json={"points": list(reversed(points))}, headers=headers
    )
    assert r.json() == {"accepted": 0, "duplicates": 40}
    day = (
        await client.get(
            f"/api/field/inspectors/{district.inspectors['west']}/days/2026-11-20",
            headers=auth("sup-chen"),
        )
    ).json()
    assert day["points"] == 40
    bad = [{**points[0], "ts": NOW_MS + 3_600_000}]
    r = await client.post("/api/field/tracks", json={"points": bad}, headers=headers)
    assert r.status_code == 400
    assert "points[0].ts is in the future" in r.json()["detail"]
    assert (
        await client.post("/api/field/tracks", json={"points": points}, headers=auth("sup-chen"))
    ).status_code == 403


async def _walk_and_read(
    client: AsyncTestClient, auth: Tokens, district: District
) -> tuple[dict[str, Any], list[str]]:
    """insp-west walks the first eight stops of the book, reads seven (one twice out of order,
    skipping one), one of them from across the street."""
    headers = auth("insp-west")
    book = (await client.get("/api/field/books/current", headers=headers)).json()
    items = [i for i in book["items"] if i["kind"] == "reading"][:8]
    meters = [district.meter(i["meter"]["meter_id"]) for i in items]
    order = [0, 1, 4, 2, 3, 5, 7]  # 4 read before 2 and 3; 6 skipped (漏抄)
    path = [(meters[k].lat, meters[k].lon) for k in order]
    await client.post(
        "/api/field/tracks", json={"points": _walk(path, START, 60_000)}, headers=headers
    )
    read_ids = []
    for n, k in enumerate(order):
        m = meters[k]
        lat, lon = jitter(m, n)
        if k == 5:
            lat = m.lat - 0.0015  # 167 m away: read from across the street?
        body = reading(m, at=START + n * 60_000 + 30_000, lat=lat, lon=lon)
        assert (
            await client.post("/api/field/readings", json=body, headers=headers)
        ).status_code == 201
        read_ids.append(body["client_id"])
    return book, [i["meter"]["meter_id"] for i in items]


async def test_a_supervisor_replays_the_inspectors_day_on_one_timeline(
    client: AsyncTestClient, auth: Tokens, district: District
) -> None:
    await _walk_and_read(client, auth, district)
    path = f"/api/field/inspectors/{district.inspectors['west']}/days/2026-11-20"
    for who in ("sup-chen", "op-95598", "insp-west"):
        assert (await client.get(path, headers=auth(who))).status_code == 200
    assert (await client.get(path, headers=auth("insp-east"))).status_code == 404
    day = (await client.get(path, headers=auth("op-95598"))).json()
    assert (day["points"], day["readings"]) == (7, 7)
    times = [e["ts"] for e in day["timeline"]]
    assert times == sorted(times)
    kinds = [e["type"] for e in day["timeline"]]
    assert kinds[:3] == ["point", "reading", "point"]
    far = [e for e in day["timeline"] if e["type"] == "reading" and "far_from_meter" in e["flags"]]
    assert len(far) == 1
    assert day["walked_m"] > 0
    other_day = (
        await client.get(path.replace("2026-11-20", "2026-11-19"), headers=auth("sup-chen"))
    ).json()
    assert other_day["timeline"] == []


async def test_coverage_shows_missed_out_of_order_and_far_readings(
    client: AsyncTestClient, auth: Tokens, district: District
) -> None:
    book, meter_ids = await _walk_and_read(client, auth, district)
    r = await client.get(f"/api/field/books/{book['id']}/coverage", headers=auth("sup-chen"))
    assert r.status_code == 200
    cov = r.json()
    assert cov["read"] == 7
    assert cov["total"] == book["total"]
    missed = [c["meter_id"] for c in cov["missed"]]
    assert meter_ids[6] in missed
    assert len(missed) == book["total"] - 7
    assert [c["meter_id"] for c in cov["out_of_order"]] == [meter_ids[4]]
    assert [c["meter_id"] for c in cov["far_from_meter"]] == [meter_ids[5]]
    assert cov["days"] == ["2026-11-20"]
    assert cov["time_spent_ms"] == cov["last_read_at"] - cov["first_read_at"]
    assert cov["walked_m"] > 0
    assert (
        await client.get(f"/api/field/books/{book['id']}/coverage", headers=auth("insp-east"))
    ).status_code == 404
