"""Reading books (抄表册): what needs a person, in walking order, synced with an ETag (R6)."""

from __future__ import annotations

import itertools
import random
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts.models import Customer
from backend.field.books import view as books_view
from backend.field.geo import haversine_m
from tests.integration.field.conftest import Tokens
from tests.integration.field.district import NOW_MS, District
from tests.integration.field.helpers import MINUTE_MS, jitter, reading


async def _plan_work(client: AsyncTestClient, auth: Tokens, district: District) -> dict[str, Any]:
    """The supervisor schedules the key accounts' safety inspections and flags one AMI meter."""
    r = await client.post("/api/field/tasks/schedule-safety-inspections", headers=auth("sup-chen"))
    assert r.status_code == 200
    assert sorted(t["customer_id"] for t in r.json()) == sorted(district.key_customers)
    again = await client.post(
        "/api/field/tasks/schedule-safety-inspections", headers=auth("sup-chen")
    )
    assert again.json() == []  # idempotent
    suspect = district.in_grid("west", ami=True, kind="flat")[0]
    r = await client.post(
        "/api/field/tasks",
        json={
            "kind": "meter_check",
            "customer_id": suspect.customer_id,
            "meter_id": suspect.meter_id,
            "due_on": "2026-11-25",
            "note": "AMI 读数停走，现场核查",
        },
        headers=auth("sup-chen"),
    )
    assert r.status_code == 201
    return {"suspect": suspect, "check": r.json()}


async def test_the_book_holds_the_meters_that_need_a_person_and_the_due_visits(
    client: AsyncTestClient, auth: Tokens, district: District
) -> None:
    planned = await _plan_work(client, auth, district)
    r = await client.get("/api/field/books/current", headers=auth("insp-west"))
    assert r.status_code == 200
    book = r.json()
    assert book["cycle"] == "2026-11"
    assert book["inspector_id"] == district.inspectors["west"]
    readings = {i["meter"]["meter_id"]: i for i in book["items"] if i["kind"] == "reading"}
    expected = {m.meter_id for m in district.in_grid("west", ami=False)} | {
        planned["suspect"].meter_id
    }
    assert set(readings) == expected
    assert readings[planned["suspect"].meter_id]["reasons"] == ["meter_check"]
    assert readings[planned["suspect"].meter_id]["tasks"][0]["id"] == planned["check"]["id"]
    visits = [i for i in book["items"] if i["kind"] == "visit"]
    west_keys = [m.customer_id for m in district.in_grid("west", kind="key")]
    assert [v["customer"]["id"] for v in visits] == sorted(set(west_keys))
    assert visits[0]["reasons"] == ["safety_inspection"]
    assert [i["seq"] for i in book["items"]] == list(range(1, book["total"] + 1))


async def test_the_book_carries_everything_the_handheld_needs_offline(
    client: AsyncTestClient, auth: Tokens, district: District
) -> None:
    book = (await client.get("/api/field/books/current", headers=auth("insp-central"))).json()
    item = book["items"][0]
    meter = district.meter(item["meter"]["meter_id"])
    assert item["customer"]["name"]
    assert item["customer"]["address"].startswith("杭州市西湖区")
    assert item["customer"]["number"] == meter.customer_number
    assert (item["meter"]["latitude"], item["meter"]["longitude"]) == (meter.lat, meter.lon)
    assert item["meter"]["last"]["energy_import"] == {
        "value_wh": meter.last_value,
        "ts": meter.last_ts,
        "source": "field",
    }
    expected = item["meter"]["expected"]
    assert expected["previous_wh"] == meter.last_value
    # the app's range for a reading now holds the meter's true value now
    days = (NOW_MS - expected["previous_ts"]) / 86_400_000
    low = expected["previous_wh"] + int(expected["low_wh_per_day"] * days)
    high = expected["previous_wh"] + int(expected["high_wh_per_day"] * max(days, 1))
    assert low <= meter.value_at(NOW_MS) <= high
    assert item["done"] is None


async def test_the_route_is_walkable_meter_boxes_in_one_go(
    client: AsyncTestClient, auth: Tokens, district: District
) -> None:
    book = (await client.get("/api/field/books/current", headers=auth("insp-west"))).json()
    meters = [district.meter(i["meter"]["meter_id"]) for i in book["items"]]
    points = [(m.lat, m.lon) for m in meters]
    by_register = [(m.lat, m.lon) for m in sorted(meters, key=lambda m: m.pk)]

    def length(ps: list[tuple[float, float]]) -> float:
        return sum(haversine_m(*a, *b) for a, b in itertools.pairwise(ps))

    assert book["route_length_m"] == round(length(points))
    shuffled = points[:]
    random.Random(1).shuffle(shuffled)
    assert length(points) <= length(by_register)  # registers here already run road by road
    assert length(points) < length(shuffled) / 5
    # every meter box (same position) is read in one go: its meters are consecutive
    runs: dict[tuple[float, float], list[int]] = {}
    for n, p in enumerate(points):
        runs.setdefault(p, []).append(n)
    for seqs in runs.values():
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))


async def test_the_book_is_fetched_again_only_when_it_changed(
    client: AsyncTestClient, auth: Tokens, district: District
) -> None:
    headers = auth("insp-west")
    first = await client.get("/api/field/books/current", headers=headers)
    etag = first.headers["ETag"]
    same = await client.get("/api/field/books/current", headers={**headers, "If-None-Match": etag})
    assert same.status_code == 304
    assert same.content == b""
    meter = district.meter(first.json()["items"][0]["meter"]["meter_id"])
    body = reading(meter)
    await client.post("/api/field/readings", json=body, headers=headers)
    changed = await client.get(
        "/api/field/books/current", headers={**headers, "If-None-Match": etag}
    )
    assert changed.status_code == 200
    assert changed.headers["ETag"] != etag
    assert changed.json()["items"][0]["done"] == {
        "reading_id": body["client_id"],
        "ts": body["fix"]["fix_at"],
    }
    assert changed.json()["done"] == 1
    assert changed.json()["version"] == first.json()["version"]  # same membership and order


async def test_the_nothing_changed_answer_does_not_build_the_book(
    client: AsyncTestClient, auth: Tokens, monkeypatch: pytest.MonkeyPatch
) -> None:
    headers = auth("insp-west")
    first = await client.get("/api/field/books/current", headers=headers)
    assert first.status_code == 200

    def no_build(*_: object) -> None:
        raise AssertionError("the book was built for a 304")

    monkeypatch.setattr(books_view, "_item", no_build)
    same = await client.get(
        "/api/field/books/current", headers={**headers, "If-None-Match": first.headers["ETag"]}
    )
    assert same.status_code == 304
    assert same.headers["ETag"] == first.headers["ETag"]


async def test_the_book_is_fetched_again_when_a_customer_or_task_in_it_changed(
    client: AsyncTestClient, auth: Tokens, session: AsyncSession
) -> None:
    headers = auth("insp-west")
    first = await client.get("/api/field/books/current", headers=headers)
    etag = first.headers["ETag"]
    item = first.json()["items"][-1]
    await session.execute(
        update(Customer).where(Customer.id == item["customer"]["id"]).values(phone="13900000000")
    )
    await session.commit()
    changed = await client.get(
        "/api/field/books/current", headers={**headers, "If-None-Match": etag}
    )
    assert changed.status_code == 200
    assert changed.json()["items"][-1]["customer"]["phone"] == "13900000000"
    assert changed.json()["items"][:-1] == first.json()["items"][:-1]
    again = await client.get(
        "/api/field/books/current", headers={**headers, "If-None-Match": changed.headers["ETag"]}
    )
    assert again.status_code == 304


async def test_replanning_keeps_what_was_read_and_adds_new_work(
    client: AsyncTestClient, auth: Tokens, district: District
) -> None:
    headers = auth("insp-west")
    book = (await client.get("/api/field/books/current", headers=headers)).json()
    for n, item in enumerate(book["items"][:3]):
        meter = district.meter(item["meter"]["meter_id"])
        lat, lon = jitter(meter, n)
        body = reading(meter, at=NOW_MS - (30 - n) * MINUTE_MS, lat=lat, lon=lon)
        assert (
            await client.post("/api/field/readings", json=body, headers=headers)
        ).status_code == 201
    planned = await _plan_work(client, auth, district)
    r = await client.post(f"/api/field/books/{book['id']}/replan", json={}, headers=headers)
    assert r.status_code == 200
    after = r.json()
    assert after["version"] == book["version"] + 1
    assert [i["meter"]["meter_id"] for i in after["items"][:3]] == [
        i["meter"]["meter_id"] for i in book["items"][:3]
    ]
    assert all(i["done"] is not None for i in after["items"][:3])
    ids = {i["meter"]["meter_id"] for i in after["items"] if i["meter"]}
    assert planned["suspect"].meter_id in ids
    unchanged = await client.post(f"/api/field/books/{book['id']}/replan", json={}, headers=headers)
    assert unchanged.json()["version"] == after["version"]


async def test_books_are_the_inspectors_own(
    client: AsyncTestClient, auth: Tokens, district: District
) -> None:
    west = (await client.get("/api/field/books/current", headers=auth("insp-west"))).json()
    assert (
        await client.get(f"/api/field/books/{west['id']}", headers=auth("insp-east"))
    ).status_code == 404
    assert (
        await client.get(f"/api/field/books/{west['id']}", headers=auth("sup-chen"))
    ).status_code == 200
    r = await client.post(
        f"/api/field/books/{west['id']}/replan", json={}, headers=auth("insp-east")
    )
    assert r.status_code == 404
    listed = (await client.get("/api/field/books", headers=auth("insp-east"))).json()
    assert listed == []


async def test_a_supervisor_makes_a_book_once_per_inspector_and_cycle(
    client: AsyncTestClient, auth: Tokens, district: District
) -> None:
    body = {
        "inspector_id": district.inspectors["east"],
        "cycle": "2026-11",
        "start": {"latitude": 30.2705, "longitude": 120.1600},
    }
    made = await client.post("/api/field/books", json=body, headers=auth("sup-chen"))
    again = await client.post("/api/field/books", json=body, headers=auth("sup-chen"))
    assert (made.status_code, again.status_code) == (201, 200)
    assert made.json()["id"] == again.json()["id"]
    first = made.json()["items"][0]["meter"]
    nearest = min(
        district.in_grid("east", ami=False),
        key=lambda m: haversine_m(30.2705, 120.1600, m.lat, m.lon),
    )
    assert haversine_m(30.2705, 120.1600, first["latitude"], first["longitude"]) == haversine_m(
        30.2705, 120.1600, nearest.lat, nearest.lon
    )
    r = await client.post(
        "/api/field/books",
        json={**body, "inspector_id": district.users["op-95598"]},
        headers=auth("sup-chen"),
    )
    assert r.status_code == 404
    assert (
        await client.post("/api/field/books", json=body, headers=auth("insp-east"))
    ).status_code == 403
    summaries = (
        await client.get("/api/field/books", params={"cycle": "2026-11"}, headers=auth("sup-chen"))
    ).json()
    assert [(s["inspector_id"], s["total"]) for s in summaries] == [
        (district.inspectors["east"], made.json()["total"])
    ]


async def test_field_tasks_are_completed_once_within_the_grid(
    client: AsyncTestClient, auth: Tokens, district: District
) -> None:
    planned = await _plan_work(client, auth, district)
    task = planned["check"]
    done = {
        "result": "表计正常，采集模块松动已紧固",
        "fix": {"latitude": 30.27, "longitude": 120.14, "accuracy_m": 5, "fix_at": NOW_MS - 60_000},
    }
    path = f"/api/field/tasks/{task['id']}/complete"
    assert (await client.post(path, json=done, headers=auth("insp-east"))).status_code == 404
    first = await client.post(path, json=done, headers=auth("insp-west"))
    assert first.status_code == 200
    assert first.json()["status"] == "done"
    assert first.json()["completed_at"] == NOW_MS - 60_000
    assert (await client.post(path, json=done, headers=auth("insp-west"))).json() == first.json()
    r = await client.post(path, json={**done, "result": "另一个结果"}, headers=auth("insp-west"))
    assert r.status_code == 409
    open_west = (await client.get("/api/field/tasks", headers=auth("insp-west"))).json()
    assert task["id"] not in [t["id"] for t in open_west]
    assert {t["kind"] for t in open_west} == {"safety_inspection"}
    r = await client.post(
        "/api/field/tasks",
        json={"kind": "meter_check", "customer_id": district.meters[0].customer_id},
        headers=auth("sup-chen"),
    )
    assert r.status_code == 400
    assert "meter_id" in r.json()["detail"]


async def test_a_key_account_is_inspected_again_only_after_the_interval(
    client: AsyncTestClient, auth: Tokens, district: District
) -> None:
    """R14: safety inspections recur every field_safety_inspection_days (180 by default)."""
    tasks = (
        await client.post("/api/field/tasks/schedule-safety-inspections", headers=auth("sup-chen"))
    ).json()
    west_key = next(
        t for t in tasks if t["customer_id"] in {m.customer_id for m in district.in_grid("west")}
    )
    recent = {
        "result": "配电室设备正常",
        "fix": {
            "latitude": 30.2654,
            "longitude": 120.1453,
            "accuracy_m": 5,
            "fix_at": NOW_MS - 10 * 86_400_000,
        },
    }
    long_ago = {**recent, "fix": {**recent["fix"], "fix_at": NOW_MS - 200 * 86_400_000}}
    others = [t for t in tasks if t["id"] != west_key["id"]]
    r = await client.post(
        f"/api/field/tasks/{west_key['id']}/complete", json=recent, headers=auth("insp-west")
    )
    assert r.json()["status"] == "done"
    again = await client.post(
        "/api/field/tasks/schedule-safety-inspections", headers=auth("sup-chen")
    )
    assert again.json() == []  # done ten days ago: not due
    r = await client.post(
        f"/api/field/tasks/{others[0]['id']}/complete", json=long_ago, headers=auth("sup-chen")
    )
    assert r.json()["completed_at"] == NOW_MS - 200 * 86_400_000
    due = await client.post(
        "/api/field/tasks/schedule-safety-inspections", headers=auth("sup-chen")
    )
    assert [t["customer_id"] for t in due.json()] == [others[0]["customer_id"]]
