"""The customer's top-up: the balance rises exactly once, after a double tap and after an answer
lost on the way back (the retry carries the same Idempotency-Key)."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import Phone, Server, log_in, shot

pytestmark = pytest.mark.e2e


def account_id(server: Server, token: str, number: str) -> int:
    me = server.api("GET", "/me", token)
    detail = server.api("GET", f"/customers/{me['customer_id']}", token)
    return next(int(a["id"]) for a in detail["accounts"] if a["number"] == number)


def test_customer_tops_up_once_despite_a_double_tap_and_a_lost_answer(
    phone: Phone, server: Server
) -> None:
    page = phone(locale="en").new_page()
    log_in(page, "cust-topup", "/customer")
    expect(page.get_by_test_id("balance")).to_have_text("¥0.00")
    expect(page.get_by_test_id("supply")).to_be_visible()
    shot(page, "customer-home-en")

    page.get_by_role("link", name="Top up", exact=True).first.click()
    page.fill("input[name=amount]", "50")
    page.get_by_role("button", name="Pay ¥50.00").dblclick()
    expect(page.get_by_test_id("topup-done")).to_contain_text("¥50.00 added")
    expect(page.get_by_test_id("topup-done")).to_contain_text("New balance: ¥50.00")
    shot(page, "customer-topup-done-en")

    # the server takes the second payment but its answer never reaches the phone
    keys: list[str] = []

    def lose_answer(route: Any) -> None:
        keys.append(route.request.headers["idempotency-key"])
        if len(keys) == 1:
            route.fetch()  # the server does the work…
            route.abort("connectionreset")  # …and the phone hears nothing
        else:
            route.continue_()

    page.route("**/api/accounts/*/topups", lose_answer)
    page.fill("input[name=amount]", "20")
    page.get_by_role("button", name="Pay ¥20.00").click()
    expect(page.get_by_test_id("topup-unknown")).to_be_visible()
    shot(page, "customer-topup-unknown-en")
    page.get_by_role("button", name="Pay ¥20.00").click()
    expect(page.get_by_test_id("topup-done")).to_contain_text("New balance: ¥70.00")
    assert len(keys) == 2
    assert keys[0] == keys[1]

    page.get_by_role("navigation").get_by_role("link", name="Balance").click()
    expect(page.get_by_test_id("balance")).to_have_text("¥70.00")
    page.get_by_role("navigation").get_by_role("link", name="Statement").click()
    expect(page.get_by_test_id("ledger").locator("tbody tr")).to_have_count(2)
    shot(page, "customer-ledger-en")

    token = server.token("cust-topup")
    acc = account_id(server, token, server.seeded.topup_account)
    entries = server.api("GET", f"/accounts/{acc}/ledger", token)["items"]
    assert sorted((e["kind"], e["amount_fen"]) for e in entries) == [
        ("top_up", 2000),
        ("top_up", 5000),
    ]
    assert server.api("GET", f"/accounts/{acc}/balance", token)["balance_fen"] == 7000


def test_customer_sees_daily_and_monthly_usage_charts_in_chinese(
    phone: Phone, server: Server
) -> None:
    page = phone(locale="zh-CN").new_page()
    log_in(page, "cust-usage", "/customer")
    expect(page.get_by_role("heading", name="余额")).to_be_visible()
    page.get_by_role("navigation").get_by_role("link", name="用电").click()
    daily = page.get_by_role("figure").filter(has_text="近 30 天")
    monthly = page.get_by_role("figure").filter(has_text="近 12 个月")
    expect(daily.locator(".uplot canvas")).to_have_count(1)
    expect(monthly.locator(".uplot canvas")).to_have_count(1)
    daily.get_by_text("以表格显示").click()
    rows = daily.locator("tbody tr")
    expect(rows).not_to_have_count(0)
    expect(rows.first).to_contain_text("kWh")
    shot(page, "customer-usage-zh")
