"""Moving and suspension in Chromium: a shop's holder (in zh-CN) asks on the Changes tab to
suspend its 200 kVA supply for a month and to move to a new address; an operator (in English)
approves both; the customer sees them applied, the old account closed, the new address's
account named, and the server holds the new account for the same customer."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import Phone, Server, log_in, shot

pytestmark = pytest.mark.e2e


def test_a_shop_suspends_its_supply_and_moves_and_an_operator_approves_both(
    phone: Phone, server: Server
) -> None:
    start = datetime.now(ZoneInfo("Asia/Shanghai")).date() + timedelta(days=1)
    until = start + timedelta(days=30)
    cust = phone(locale="zh-CN").new_page()
    log_in(cust, "cust-move", "/customer")
    cust.goto("/customer/changes")
    expect(cust.get_by_role("heading", name="业务变更")).to_be_visible()
    form = cust.get_by_test_id("contract-form")
    form.locator("select[name=contract_kind]").select_option("suspension")
    form.locator("input[name=contract_effective_from]").fill(start.isoformat())
    form.locator("input[name=until]").fill(until.isoformat())
    form.get_by_test_id("request-contract").dblclick()  # a double tap is one request
    expect(cust.get_by_test_id("change")).to_have_count(1)
    expect(cust.get_by_text(f"暂停至 {until.isoformat()} 恢复")).to_be_visible()
    form = cust.get_by_test_id("contract-form")
    form.locator("select[name=contract_kind]").select_option("move")
    form.locator("input[name=address]").fill("莫干山路 88 号")
    form.get_by_test_id("request-contract").click()
    expect(cust.get_by_test_id("change")).to_have_count(2)
    shot(cust, "lifecycle-move-requested-zh")

    op = phone(locale="en").new_page()
    log_in(op, "op-b", "/operator")
    op.get_by_role("link", name="Account changes", exact=True).click()
    queue = op.get_by_test_id("change-queue")
    mine = queue.get_by_role("listitem").filter(has_text="ACCL02")
    suspension = mine.filter(has_text="Suspension")
    expect(suspension.get_by_text(f"Suspended until {until.isoformat()}")).to_be_visible()
    suspension.get_by_test_id("approve-change").click()
    expect(suspension.get_by_test_id("approve-change")).to_have_count(0)
    moving = mine.filter(has_text="Moving out and in")
    moving.get_by_test_id("approve-change").click()
    expect(moving.get_by_test_id("approve-change")).to_have_count(0)
    expect(moving.get_by_text("New account ACCL02-M", exact=False)).to_be_visible()
    shot(op, "lifecycle-move-applied-en")

    cust.reload()  # the app turns to the new address's account, the changes still in sight
    expect(cust.get_by_text("宋磊 · 账户 ACCL02-M", exact=False)).to_be_visible()
    expect(cust.get_by_text("已生效")).to_have_count(2)
    expect(cust.get_by_test_id("change-move")).to_contain_text("迁往 莫干山路 88 号")
    expect(cust.get_by_test_id("change-move")).to_contain_text("新账户 ACCL02-M")
    shot(cust, "lifecycle-move-applied-zh")

    token = server.token("op-b")
    customer = server.api("GET", "/customers?q=E2EL02", token)["items"][0]
    accounts = server.api("GET", f"/customers/{customer['id']}", token)["accounts"]
    held = sorted((a["number"].startswith("ACCL02-M"), a["closed_at"] is None) for a in accounts)
    assert held == [(False, False), (True, True)]  # the old one closed, the new one open
