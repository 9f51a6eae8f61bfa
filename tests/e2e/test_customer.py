"""The customer's top-up: one intent is one payment order whatever the taps (a double click,
an answer lost on the way back), and the balance rises exactly once, when the simulated
payment provider confirms the order — shown as pending, then confirmed, in English and
zh-CN."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import Phone, Server, log_in, shot

pytestmark = pytest.mark.e2e


def account_id(server: Server, token: str, number: str) -> int:
    me = server.api("GET", "/me", token)
    detail = server.api("GET", f"/customers/{me['customer_id']}", token)
    return next(int(a["id"]) for a in detail["accounts"] if a["number"] == number)


def orders_of(server: Server, account: int) -> list[tuple[str, int, str]]:
    path = server.database_url.split(":///", 1)[1]
    with closing(sqlite3.connect(path)) as db:
        rows = db.execute(
            "SELECT order_no, amount_fen, status FROM payment_orders WHERE account_id = ? "
            "ORDER BY id", (account,),
        ).fetchall()  # fmt: skip
    return [(str(r[0]), int(r[1]), str(r[2])) for r in rows]


def top_ups_of(server: Server, token: str, account: int) -> list[int]:
    entries = server.api("GET", f"/accounts/{account}/ledger", token)["items"]
    return sorted(e["amount_fen"] for e in entries if e["kind"] == "top_up")


def test_a_double_click_makes_one_order_credited_once_when_the_provider_confirms(
    phone: Phone, server: Server
) -> None:
    token = server.token("cust-topup")
    acc = account_id(server, token, server.seeded.topup_account)
    page = phone(locale="en").new_page()
    log_in(page, "cust-topup", "/customer")
    expect(page.get_by_test_id("balance")).to_have_text("¥0.00")
    expect(page.get_by_test_id("supply")).to_be_visible()
    shot(page, "customer-home-en")

    page.get_by_role("link", name="Top up", exact=True).first.click()
    page.fill("input[name=amount]", "50")
    page.get_by_role("button", name="Pay ¥50.00").dblclick()
    expect(page.get_by_test_id("topup-pending")).to_contain_text("waiting for the payment provider")
    shot(page, "customer-topup-pending-en")
    orders = orders_of(server, acc)
    assert [(fen, status) for _, fen, status in orders] == [(5_000, "pending")]
    assert top_ups_of(server, token, acc) == []  # nothing credited by the request

    # the provider confirms (the simulated wallet signs its notification as WeChat Pay v3)
    paid = server.api(
        "POST", f"/accounts/{acc}/payment-orders/{orders[0][0]}/simulated-payment", token
    )
    assert paid["status"] == "paid"
    expect(page.get_by_test_id("topup-done")).to_contain_text("¥50.00 confirmed and added")
    expect(page.get_by_test_id("topup-done")).to_contain_text("New balance: ¥50.00")
    shot(page, "customer-topup-confirmed-en")
    assert len(orders_of(server, acc)) == 1
    assert top_ups_of(server, token, acc) == [5_000]

    # the next intent: the server makes the order but its answer never reaches the phone
    keys: list[str] = []

    def lose_answer(route: Any) -> None:
        keys.append(route.request.headers["idempotency-key"])
        if len(keys) == 1:
            route.fetch()  # the server does the work…
            route.abort("connectionreset")  # …and the phone hears nothing
        else:
            route.continue_()

    page.route("**/api/accounts/*/payment-orders", lose_answer)
    page.fill("input[name=amount]", "20")
    page.get_by_role("button", name="Pay ¥20.00").click()
    expect(page.get_by_test_id("topup-unknown")).to_be_visible()
    page.get_by_role("button", name="Pay ¥20.00").click()
    expect(page.get_by_test_id("topup-pending")).to_be_visible()
    assert len(keys) == 2
    assert keys[0] == keys[1]
    assert [fen for _, fen, _ in orders_of(server, acc)] == [5_000, 2_000]
    page.get_by_test_id("simulated-wallet").click()  # the demo's wallet pays
    expect(page.get_by_test_id("topup-done")).to_contain_text("New balance: ¥70.00")

    page.get_by_role("navigation").get_by_role("link", name="Balance", exact=True).click()
    expect(page.get_by_test_id("balance")).to_have_text("¥70.00")
    page.get_by_role("navigation").get_by_role("link", name="Statement", exact=True).click()
    expect(page.get_by_test_id("ledger").locator("tbody tr")).to_have_count(2)
    shot(page, "customer-ledger-en")
    assert top_ups_of(server, token, acc) == [2_000, 5_000]
    assert server.api("GET", f"/accounts/{acc}/balance", token)["balance_fen"] == 7000


def test_the_customer_sees_pending_then_confirmed_in_chinese(phone: Phone, server: Server) -> None:
    token = server.token("cust-topup")
    acc = account_id(server, token, server.seeded.topup_account)
    before = server.api("GET", f"/accounts/{acc}/balance", token)["balance_fen"]
    page = phone(locale="zh-CN").new_page()
    log_in(page, "cust-topup", "/customer")
    page.goto("/customer/topup")
    page.fill("input[name=amount]", "10")
    page.get_by_role("button", name="支付 ¥10.00").click()
    expect(page.get_by_test_id("topup-pending")).to_contain_text("等待支付机构确认")
    page.get_by_test_id("simulated-wallet").click()
    expect(page.get_by_test_id("topup-done")).to_contain_text("已确认到账")
    shot(page, "customer-topup-confirmed-zh")
    assert server.api("GET", f"/accounts/{acc}/balance", token)["balance_fen"] == before + 1_000


def test_customer_sees_daily_and_monthly_usage_charts_in_chinese(
    phone: Phone, server: Server
) -> None:
    page = phone(locale="zh-CN").new_page()
    log_in(page, "cust-usage", "/customer")
    expect(page.get_by_role("heading", name="余额")).to_be_visible()
    page.get_by_role("navigation").get_by_role("link", name="用电", exact=True).click()
    daily = page.get_by_role("figure").filter(has_text="近 30 天")
    monthly = page.get_by_role("figure").filter(has_text="近 12 个月")
    expect(daily.locator(".uplot canvas")).to_have_count(1)
    expect(monthly.locator(".uplot canvas")).to_have_count(1)
    daily.get_by_text("以表格显示").click()
    rows = daily.locator("tbody tr")
    expect(rows).not_to_have_count(0)
    expect(rows.first).to_contain_text("kWh")
    shot(page, "customer-usage-zh")


def test_the_customers_language_switch_is_the_language_their_notices_are_worded_in(
    phone: Phone, server: Server
) -> None:
    token = server.token("cust-usage")
    customer = server.api("GET", "/me", token)["customer_id"]
    assert server.api("GET", f"/customers/{customer}", token)["customer"]["language"] == "zh-CN"
    page = phone(locale="zh-CN").new_page()
    log_in(page, "cust-usage", "/customer")
    expect(page.get_by_role("heading", name="余额")).to_be_visible()
    with page.expect_response(lambda r: r.url.endswith(f"/customers/{customer}/language")) as put:
        page.get_by_role("button", name="切换为英文").click()
    assert put.value.status == 200
    expect(page.get_by_role("heading", name="Balance")).to_be_visible()
    assert server.api("GET", f"/customers/{customer}", token)["customer"]["language"] == "en"
    with page.expect_response(lambda r: r.url.endswith(f"/customers/{customer}/language")):
        page.get_by_role("button", name="Switch language to Chinese").click()
    assert server.api("GET", f"/customers/{customer}", token)["customer"]["language"] == "zh-CN"
