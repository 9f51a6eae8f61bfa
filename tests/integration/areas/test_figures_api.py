"""Line loss, voltage quality, load and meter moves over HTTP on a constructed area."""

from __future__ import annotations

from tests.integration.areas.conftest import Net
from tests.support.readings import commit_readings, ms

MIDNIGHT_2 = ms(2026, 3, 1, 16)  # local midnight opening 2 March (Asia/Shanghai)
MIDNIGHT_3 = ms(2026, 3, 2, 16)
MIDNIGHT_4 = ms(2026, 3, 3, 16)


async def test_line_loss_is_exact_and_marked_incomplete_when_a_meter_is_missing(net: Net) -> None:
    api, w = net.api, net.api.world
    # 2 March: total 2,000 Wh × CT 10 = 20,000 in; alice 9,000 + carol 8,000 + dan 1,800 out
    for meter, day2, day3 in (
        (net.total, 2_000, 2_100),
        (w.alice_meter, 9_000, 10_000),
        (net.carol_meter, 8_000, 9_000),
        (net.dan_meter, 1_800, None),
    ):
        points = [(MIDNIGHT_2, 0), (MIDNIGHT_3, day2)]
        if day3 is not None:  # dan's meter does not report on 3 March
            points.append((MIDNIGHT_4, day2 + day3))
        await commit_readings(api.engine, meter, points)  # fmt: skip
    op = await api.login("op")
    r = await api.client.get("/api/areas/loss?from=2026-03-02&to=2026-03-03", headers=op)
    ta1 = [x for x in r.json() if x["area_code"] == "TA1"]
    got = [(x["day"], x["supplied_wh"], x["billed_wh"], x["loss_wh"], x["rate"],
            x["reporting_meters"], x["expected_meters"], x["state"]) for x in ta1]  # fmt: skip
    assert got == [
        ("2026-03-02", 20_000, 18_800, 1_200, 0.06, 3, 3, "normal"),
        ("2026-03-03", 21_000, 19_000, 2_000, 0.0952, 2, 3, "incomplete"),
    ]
    abnormal = await api.client.get(
        "/api/areas/loss?from=2026-03-02&to=2026-03-03&abnormal_only=true", headers=op
    )
    assert abnormal.json() == []
    month = await api.client.get("/api/areas/loss/monthly?from=2026-03&to=2026-03", headers=op)
    (ta1,) = [x for x in month.json() if x["area_code"] == "TA1"]
    # the days of March with a total-meter figure: 41,000 Wh in, 37,800 out; 1 March (the
    # first readings: 0 Wh everywhere) and 2 March were complete, 3 March was not, and the
    # other 28 days have no total-meter reading at all
    assert (ta1["month"], ta1["supplied_wh"], ta1["billed_wh"], ta1["loss_wh"]) == (
        "2026-03", 41_000, 37_800, 3_200,
    )  # fmt: skip
    assert (ta1["days"], ta1["complete_days"], ta1["state"]) == (31, 2, "incomplete")
    bad = await api.client.get("/api/areas/loss/monthly?from=2026-13&to=2026-13", headers=op)
    assert (bad.status_code, bad.json()["extra"][0]["key"].rstrip("_")) == (400, "from")
    long = await api.client.get("/api/areas/loss/monthly?from=2026-01&to=2026-06", headers=op)
    assert (long.status_code, long.json()["code"]) == (400, "error.range_too_long")


async def test_a_moved_meter_counts_in_its_new_area_from_the_day_it_moved(net: Net) -> None:
    api, w = net.api, net.api.world
    op = await api.login("op")
    move = {"transformer_area_id": w.area2, "from_day": "2026-03-03"}
    url = f"/api/areas/meters/{net.dan_meter}/placement"
    first = await api.client.put(url, json=move, headers=op)
    assert first.status_code == 200, first.text
    again = await api.client.put(url, json=move, headers=op)  # the same move twice is one
    assert again.json() == first.json()
    assert [(p["area_code"], p["from_day"], p["to_day"]) for p in first.json()] == [
        ("TA1", "2025-01-01", "2026-03-03"), ("TA2", "2026-03-03", None),
    ]  # fmt: skip
    back = await api.client.put(url, json={**move, "from_day": "2026-03-01"}, headers=op)
    assert (back.status_code, back.json()["code"]) == (409, "error.placement_before_last")
    for meter, v in ((net.total, 2_000), (w.alice_meter, 9_000), (net.carol_meter, 9_000)):
        await commit_readings(api.engine, meter, [(MIDNIGHT_3, 0), (MIDNIGHT_4, v)])
    r = await api.client.get("/api/areas/loss?from=2026-03-02&to=2026-03-03", headers=op)
    rows = {(x["area_code"], x["day"]): x for x in r.json()}
    assert rows[("TA1", "2026-03-02")]["expected_meters"] == 3  # dan still in TA1
    day3 = rows[("TA1", "2026-03-03")]
    assert (day3["expected_meters"], day3["loss_wh"], day3["state"]) == (2, 2_000, "normal")
    assert rows[("TA2", "2026-03-03")]["expected_meters"] == 2  # bob and dan
    nowhere = await api.client.put("/api/areas/meters/999999/placement", json=move, headers=op)
    assert nowhere.status_code == 404
    garbage = await api.client.put(url, json={**move, "balance_fen": 1}, headers=op)
    assert garbage.status_code == 400


async def test_negative_loss_puts_the_area_on_the_abnormal_list(net: Net) -> None:
    api, w = net.api, net.api.world
    for meter, v in ((net.total, 1_000), (w.alice_meter, 9_000), (net.carol_meter, 1_000),
                     (net.dan_meter, 1_000)):  # fmt: skip
        await commit_readings(api.engine, meter, [(MIDNIGHT_2, 0), (MIDNIGHT_3, v)])
    r = await api.client.get(
        "/api/areas/loss?from=2026-03-02&to=2026-03-02&abnormal_only=true",
        headers=await api.login("op"),
    )
    assert [(x["area_code"], x["loss_wh"], x["state"]) for x in r.json()] == [
        ("TA1", -1_000, "negative")
    ]


async def test_voltage_quality_unbalance_and_load_of_an_area_against_hand_figures(
    net: Net,
) -> None:
    api, w = net.api, net.api.world
    hours = [ms(2026, 3, 2, h) for h in (1, 2, 3, 4)]
    # alice (single-phase, 198.0–235.4 V): 3 of 4 within; carol: 2 of 4 within
    await commit_readings(api.engine, w.alice_meter, list(zip(hours, [220_000, 236_000,
                          198_000, 230_000], strict=True)), quantity="voltage_a")  # fmt: skip
    await commit_readings(api.engine, net.carol_meter, list(zip(hours, [190_000, 240_000,
                          221_000, 219_000], strict=True)), quantity="voltage_a")  # fmt: skip
    for q, v in (("current_a", 100_000), ("current_b", 80_000), ("current_c", 60_000)):
        await commit_readings(api.engine, net.total, [(hours[0], v)], quantity=q)
    await commit_readings(api.engine, net.total, list(zip(hours, [5_000, 12_000, 9_000, 3_000],
                          strict=True)), quantity="active_power")  # fmt: skip
    op = await api.login("op")
    r = await api.client.get(f"/api/areas/{w.area1}/quality?day=2026-03-02", headers=op)
    q = r.json()
    assert (q["samples"], q["within"], q["above"], q["below"], q["rate"]) == (8, 5, 2, 1, 0.625)
    assert [(m["meter_id"], m["rate"]) for m in q["worst"]] == [("M-CAROL", 0.5),
                                                                ("M-ALICE", 0.75)]  # fmt: skip
    assert q["unbalance_max"] == 0.4
    tight = await api.client.get(
        f"/api/areas/{w.area1}/quality?day=2026-03-02&single_phase_upper=20&single_phase_lower=20",
        headers=op,
    )  # 215.6–224.4 V: 220.0, 221.0 and 219.0 within
    assert tight.json()["within"] == 3
    load = (await api.client.get(f"/api/areas/{w.area1}/load?day=2026-03-02", headers=op)).json()
    # 12,000 W × CT 10 = 120 kW on a 100 kVA transformer
    assert (load["peak_w"], load["peak_at"], load["load_rate"], load["overloaded"]) == (
        120_000, hours[1], 1.2, True,
    )  # fmt: skip
    assert [p[1] for p in load["points"]] == [50_000, 120_000, 90_000, 30_000]
    missing = await api.client.get("/api/areas/999999/quality?day=2026-03-02", headers=op)
    assert (missing.status_code, missing.json()["code"]) == (404, "error.area_not_found")
