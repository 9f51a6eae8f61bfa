"""Plausibility flags raised by real submissions, and their review by a supervisor (R10)."""

from __future__ import annotations

from typing import Any

from litestar.testing import AsyncTestClient

from backend.field.geo import haversine_m
from tests.integration.field.conftest import Tokens
from tests.integration.field.district import HOUR_MS, NOW_MS, District, MeterInfo
from tests.integration.field.helpers import MINUTE_MS, jitter, reading


def _neighbours(district: District) -> tuple[MeterInfo, MeterInfo]:
    """Two meters in neighbouring buildings of the central grid, 80–130 m apart."""
    ms = district.in_grid("central", ami=False)
    for a in ms:
        for b in ms:
            if 80 < haversine_m(a.lat, a.lon, b.lat, b.lon) < 130:
                return a, b
    raise AssertionError("no neighbouring buildings")


def _scenarios(district: District) -> list[tuple[str, dict[str, Any], set[str]]]:
    """(what happens, the submission, the flags it must raise — and no others)."""
    manual = [m for m in district.in_grid("central", ami=False) if m.kind == "flat"]
    ami = district.in_grid("central", ami=True, kind="flat")
    a, b = _neighbours(district)
    mid = ((a.lat + b.lat) / 2, (a.lon + b.lon) / 2)
    t = [NOW_MS - (15 + 35 * i) * MINUTE_MS for i in range(10)]  # half an hour apart

    def at(m: MeterInfo, i: int, **kw: Any) -> dict[str, Any]:
        lat, lon = jitter(m, i)
        return reading(m, at=t[i], lat=kw.pop("lat", lat), lon=kw.pop("lon", lon), **kw)

    ami_m = ami[0]
    return [
        ("a clean reading", at(manual[0], 0), set()),
        (
            "the register went backwards",
            at(manual[1], 1, value=manual[1].last_value - 50_000),
            {"value_below_previous"},
        ),
        (
            "five times the usual use",
            at(manual[2], 2, value=manual[2].value_at(t[2]) + manual[2].usual_wh * 120),
            {"consumption_out_of_range"},
        ),
        ("read from 220 m away", at(manual[3], 3, lat=manual[3].lat + 0.002), {"far_from_meter"}),
        ("an 80 m fix", at(manual[4], 4, accuracy_m=80.0), {"poor_accuracy"}),
        ("a kilometre in ten seconds", at(manual[5], 5), {"impossible_speed"}),
        ("one fix for two buildings (1)", at(a, 6, lat=mid[0], lon=mid[1], accuracy_m=45.0), set()),
        (
            "one fix for two buildings (2)",
            at(b, 7, lat=mid[0], lon=mid[1], accuracy_m=45.0),
            {"repeated_coordinates"},
        ),
        (
            "uploaded thirty hours later",
            reading(manual[6], at=NOW_MS - 30 * HOUR_MS, lat=manual[6].lat, lon=manual[6].lon),
            {"late_submission"},
        ),
        (
            "above the AMI reading taken after it",
            reading(
                ami_m,
                at=ami_m.last_ts - HOUR_MS,
                value=ami_m.last_value + 20_000,
                lat=ami_m.lat,
                lon=ami_m.lon,
            ),
            {"ami_disagreement"},
        ),
        (
            "the phone clock 45 minutes ahead",
            at(manual[7], 8, device_at=t[8] + 45 * MINUTE_MS),
            {"clock_skew"},
        ),
        (
            "the phone clock set to tomorrow: still accepted",
            at(manual[8], 9, device_at=NOW_MS + 24 * HOUR_MS),
            {"clock_skew"},
        ),
    ]


async def test_each_plausibility_flag_is_raised_by_the_submission_that_deserves_it(
    client: AsyncTestClient, auth: Tokens, district: District
) -> None:
    headers = auth("insp-central")
    scenarios = _scenarios(district)
    speedy = next(body for what, body, _ in scenarios if what == "a kilometre in ten seconds")
    elsewhere = {
        "ts": speedy["fix"]["fix_at"] - 10_000,
        "latitude": speedy["fix"]["latitude"] + 0.009,
        "longitude": speedy["fix"]["longitude"],
        "accuracy_m": 5.0,
    }
    await client.post("/api/field/tracks", json={"points": [elsewhere]}, headers=headers)
    for what, body, expected in scenarios:
        r = await client.post("/api/field/readings", json=body, headers=headers)
        assert r.status_code == 201, (what, r.text)
        out = r.json()
        assert {f["kind"] for f in out["flags"]} == expected, (what, out["flags"])
        # a flag is a question, never a penalty; only a disagreement with AMI holds the reading
        # for review before billing (quarantine: docs/prepaid.md)
        held = "ami_disagreement" in expected
        assert out["status"] == ("held" if held else "counted"), what
        assert all(f["detail"] for f in out["flags"])
        # for people: the finding as a code of its kind's family, with its parameters
        assert all(f["code"].startswith("check.") and f["params"] for f in out["flags"]), what


async def test_a_supervisor_reviews_and_resolves_flags(
    client: AsyncTestClient, auth: Tokens, district: District
) -> None:
    central, east = (
        district.in_grid("central", ami=False)[0],
        district.in_grid("east", ami=False)[0],
    )
    for who, m in (("insp-central", central), ("insp-east", east)):
        body = reading(m, lat=m.lat + 0.003)
        assert (
            await client.post("/api/field/readings", json=body, headers=auth(who))
        ).status_code == 201
    flags = (await client.get("/api/field/flags", headers=auth("sup-chen"))).json()
    assert sorted(f["meter_id"] for f in flags) == sorted([central.meter_id, east.meter_id])
    assert {f["kind"] for f in flags} == {"far_from_meter"}
    mine = (await client.get("/api/field/flags", headers=auth("insp-central"))).json()
    assert [f["meter_id"] for f in mine] == [central.meter_id]
    by_kind = await client.get(
        "/api/field/flags", params={"kind": "clock_skew"}, headers=auth("sup-chen")
    )
    assert by_kind.json() == []
    flag = next(f for f in flags if f["meter_id"] == central.meter_id)
    path = f"/api/field/flags/{flag['id']}/resolve"
    note = {"note": "表箱在小区后门，读数照片核对无误"}
    assert (await client.post(path, json=note, headers=auth("insp-central"))).status_code == 403
    first = await client.post(path, json=note, headers=auth("sup-chen"))
    assert first.status_code == 200
    assert (first.json()["status"], first.json()["resolution"]) == ("resolved", note["note"])
    assert (await client.post(path, json=note, headers=auth("sup-chen"))).json() == first.json()
    r = await client.post(path, json={"note": "另一结论"}, headers=auth("sup-lin"))
    assert r.status_code == 409
    still_open = (await client.get("/api/field/flags", headers=auth("sup-chen"))).json()
    assert [f["meter_id"] for f in still_open] == [east.meter_id]
    resolved = await client.get(
        "/api/field/flags", params={"status": "resolved"}, headers=auth("op-95598")
    )
    assert [f["id"] for f in resolved.json()] == [flag["id"]]
    r = await client.get("/api/field/flags", params={"kind": "guessing"}, headers=auth("sup-chen"))
    assert r.status_code == 400
    assert "kind" in r.text
