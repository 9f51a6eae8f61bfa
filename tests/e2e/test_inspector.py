"""The inspector's round: log in, the route, the nearby pop-up, capture and confirm, locked
afterwards, flags visible; and the server holds exactly what was confirmed."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import Phone, Server, log_in, shot

pytestmark = pytest.mark.e2e


def capture(page: Any, value: str) -> None:
    page.fill("input[name=reading]", value)
    page.click("button[type=submit]")
    page.get_by_role("button", name=re.compile("确认并锁定|Confirm and lock")).click()
    expect(page.get_by_test_id("locked")).to_be_visible()


def test_inspector_reads_two_meters_sees_them_locked_and_flagged(
    phone: Phone, server: Server
) -> None:
    r = server.seeded.rounds["round"]
    first, second = r.stops[0], r.stops[1]
    ctx = phone(locale="zh-CN", geolocation=(first.lat, first.lon, 8))
    page = ctx.new_page()
    log_in(page, r.inspector, "/inspector")

    expect(page.get_by_text("已完成 0 / 3")).to_be_visible()
    expect(
        page.get_by_role("list", name="按路线顺序的抄表点").get_by_role("listitem")
    ).to_have_count(3)
    shot(page, "inspector-route-zh")

    # standing at the first customer's meter: it pops up
    popup = page.get_by_test_id("nearby")
    expect(popup).to_contain_text(first.name)
    shot(page, "inspector-nearby-zh")
    popup.get_by_role("link", name="抄这块表").click()

    expect(page.get_by_test_id("gps-accuracy")).to_have_text("GPS 精度 ±8 米")
    page.fill("input[name=reading]", "1234.56")
    page.click("button[type=submit]")
    expect(page.get_by_role("heading", name="确认本次抄表")).to_be_visible()
    expect(page.get_by_text("1,234.56 kWh")).to_be_visible()
    expect(page.get_by_text("服务器检查未发现异常。")).to_be_visible()  # asked before confirming
    shot(page, "inspector-confirm-zh")
    page.get_by_role("button", name="确认并锁定").click()
    locked = page.get_by_test_id("locked")
    expect(locked).to_contain_text("示数已确认并锁定")
    expect(locked).to_contain_text("服务器已收到")  # sent at once: the phone is online
    expect(locked).to_contain_text("没有疑点")
    expect(page.locator("input[name=reading]")).to_have_count(0)
    shot(page, "inspector-locked-zh")

    # the second meter read from far away with a poor fix: the server flags it
    ctx.set_geolocation({"latitude": second.lat + 0.003, "longitude": second.lon, "accuracy": 80})
    page.goto("/inspector/meter/2")
    expect(page.get_by_test_id("gps-accuracy")).to_contain_text("±80 米")
    page.fill("input[name=reading]", "2000.5")
    page.click("button[type=submit]")
    # every finding, in Chinese, on the confirm step: before anything is locked
    findings = page.get_by_test_id("capture-findings")
    expect(findings).to_contain_text("距离电表过远")
    expect(findings).to_contain_text("GPS 精度差")
    expect(findings).to_contain_text("定位点距电表")
    assert re.findall(r"[A-Za-z]{2,}(?:[ ,:;]+[A-Za-z]{2,}){2,}", findings.inner_text()) == []
    shot(page, "inspector-confirm-findings-zh")
    page.get_by_role("button", name="确认并锁定").click()
    expect(locked).to_contain_text("GPS 精度差")
    expect(locked).to_contain_text("距离电表过远")
    shot(page, "inspector-flagged-zh")

    page.get_by_role("link", name="路线", exact=True).first.click()
    expect(page.get_by_text("已完成 2 / 3")).to_be_visible()
    expect(page.locator("li.done")).to_have_count(2)
    page.get_by_role("link", name="疑点").click()
    flags = page.get_by_test_id("flags")
    expect(flags).to_contain_text("GPS 精度差")
    expect(flags).to_contain_text("GPS 精度 80 米，超过上限")
    # each finding is worded from its code: none of the server's English detail shows
    details = [
        f["detail"]
        for f in server.api("GET", f"/field/flags?meter_id={second.meter_id}", server.token("sup"))
    ]
    assert details  # the flags the screen shows
    shown = flags.inner_text()
    assert [d for d in details if d in shown] == []
    assert re.findall(r"[A-Za-z]{2,}(?:[ ,:;]+[A-Za-z]{2,}){2,}", shown) == []

    # what the server holds: one reading per confirmation, with the values typed
    token = server.token("sup")
    for stop, wh in [(first, 1_234_560), (second, 2_000_500)]:
        readings = server.api("GET", f"/field/readings?meter_id={stop.meter_id}", token)
        assert [x["registers"] for x in readings] == [{"energy_import": wh}]


def test_inspector_sees_the_route_on_a_map_records_a_track_and_reports_a_repair_job(
    phone: Phone, server: Server
) -> None:
    r = server.seeded.rounds["track"]
    a, b = r.stops
    ctx = phone(locale="en", geolocation=(a.lat, a.lon, 5))
    page = ctx.new_page()
    log_in(page, r.inspector, "/inspector")

    # the map works with no tile server: the stops and the inspector on a blank background
    page.get_by_role("link", name="Map", exact=True).click()
    expect(page.locator("path.stop-marker")).to_have_count(2)
    expect(page.locator("path.you-marker")).to_have_count(1)
    expect(page.get_by_text("no map tiles configured")).to_be_visible()
    shot(page, "inspector-map-en")

    page.get_by_role("link", name="Route", exact=True).click()
    page.get_by_role("button", name="Start track").click()
    expect(page.get_by_text("Track recording on · 1 fixes")).to_be_visible()
    ctx.set_geolocation({"latitude": b.lat, "longitude": b.lon, "accuracy": 5})
    expect(page.get_by_text("Track recording on · 2 fixes")).to_be_visible()
    page.get_by_role("button", name="Stop track").click()
    expect(page.get_by_text("Track recording off")).to_be_visible()

    page.get_by_role("link", name="Repair job", exact=True).click()
    page.fill("textarea[name=content]", "更换 10 kV 跌落式熔断器")
    page.fill("input[name=area]", "文三路 4 号台区")
    page.fill("input[name=workers]", "张三, 李四")
    page.select_option("select[name=hours]", "4")
    page.get_by_role("button", name="Report").click()
    expect(page.get_by_role("heading", name="Repair job reported")).to_be_visible()
    shot(page, "inspector-repair-en")
    page.get_by_role("link", name="Outbox", exact=True).click()  # both went out at once
    expect(page.get_by_test_id("outbox-count")).to_have_text("0 waiting to be sent")
    expect(page.get_by_test_id("outbox-attention")).to_have_count(0)
    expect(page.get_by_test_id("outbox-badge")).to_have_count(0)

    token = server.token(r.inspector)
    day = datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
    me = server.api("GET", "/me", token)
    replay = server.api("GET", f"/field/inspectors/{me['id']}/days/{day}", token)
    assert replay["points"] == 2
    jobs = server.api("GET", "/servicedesk/repair-jobs", token)
    assert [(j["content"], j["workers"], j["area"]) for j in jobs] == [
        ("更换 10 kV 跌落式熔断器", ["张三", "李四"], "文三路 4 号台区")
    ]
    assert jobs[0]["expected_finish_at"] - jobs[0]["started_at"] == 4 * 3_600_000
