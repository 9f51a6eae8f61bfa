"""Daily peak load against the transformer's kVA and the maximum demand per month of an area,
against hand figures (total meter behind a 10:1 CT, 100 kVA transformer, Asia/Shanghai)."""

from __future__ import annotations

from tests.integration.api.test_org_units import scope, two_cities
from tests.integration.areas.conftest import Net
from tests.support.readings import commit_readings, ms


async def test_daily_peaks_and_monthly_maximum_demand_against_hand_figures(net: Net) -> None:
    api, w = net.api, net.api.world
    points = [
        (ms(2026, 3, 2, 1), 5_000),  # 2 March 09:00 local: 50 kW
        (ms(2026, 3, 2, 2), 12_000),  # 2 March 10:00: 120 kW, the month's maximum
        (ms(2026, 3, 3, 2), 8_000),  # 3 March 10:00: 80 kW
        (ms(2026, 3, 3, 16), 11_000),  # 4 March 00:00 local closes 3 March: 110 kW
        (ms(2026, 4, 1, 3), 9_000),  # 1 April 11:00: 90 kW
        (ms(2026, 5, 1, 3), 20_000),  # 1 May: outside the range
    ]
    await commit_readings(api.engine, net.total, points, quantity="active_power")
    op = await api.login("op")
    r = await api.client.get(
        f"/api/areas/{w.area1}/demand?from=2026-03-01&to=2026-04-30", headers=op
    )
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["rated_kva"] == 100
    rows = [(p["period"], p["peak_w"], p["peak_at"], p["load_rate"], p["overloaded"])
            for p in got["days"]]  # fmt: skip
    assert rows == [
        ("2026-03-02", 120_000, points[1][0], 1.2, True),
        ("2026-03-03", 110_000, points[3][0], 1.1, True),
        ("2026-04-01", 90_000, points[4][0], 0.9, False),
    ]
    months = [(p["period"], p["peak_w"], p["load_rate"]) for p in got["months"]]
    assert months == [("2026-03", 120_000, 1.2), ("2026-04", 90_000, 0.9)]


async def test_demand_refuses_bad_ranges_other_units_and_non_staff(net: Net) -> None:
    api, w = net.api, net.api.world
    op = await api.login("op")
    url = f"/api/areas/{w.area1}/demand"
    long = await api.client.get(f"{url}?from=2025-01-01&to=2026-03-01", headers=op)
    assert (long.status_code, long.json()["code"]) == (400, "error.range_too_long")
    back = await api.client.get(f"{url}?from=2026-03-02&to=2026-03-01", headers=op)
    assert (back.status_code, back.json()["code"]) == (400, "error.end_before_start")
    bad = await api.client.get(f"{url}?from=2026-13-01&to=2026-03-01", headers=op)
    assert bad.status_code == 400
    ids = await two_cities(api)
    await scope(api, "sup", ids["city_b"])
    other = await api.client.get(
        f"{url}?from=2026-03-01&to=2026-03-02", headers=await api.login("sup")
    )
    assert (other.status_code, other.json()["code"]) == (404, "error.area_not_found")
    for user in ("insp1", "alice"):
        r = await api.client.get(
            f"{url}?from=2026-03-01&to=2026-03-02", headers=await api.login(user)
        )
        assert r.status_code == 403
