"""The customer's lifecycle in Chromium: a household asks, on its account's Changes tab (in
zh-CN), for a change of category, a transfer to a new holder and to close the account; an
operator (in English) rejects the transfer with a reason and approves the other two; the
customer sees them applied and the account closed, and the server holds a closed account that
refuses a top-up."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import Phone, Server, log_in, shot

pytestmark = pytest.mark.e2e


def test_a_customer_asks_to_change_category_and_close_and_an_operator_approves_both(
    phone: Phone, server: Server
) -> None:
    cust = phone(locale="zh-CN").new_page()
    log_in(cust, "cust-change", "/customer")
    cust.goto("/customer/changes")
    expect(cust.get_by_role("heading", name="业务变更")).to_be_visible()
    expect(cust.get_by_text("当前用电类别：居民生活")).to_be_visible()
    cust.select_option("select[name=category]", "general_industry")
    cust.get_by_test_id("request-category").dblclick()  # a double tap is one request
    expect(cust.get_by_test_id("change")).to_have_count(1)
    expect(cust.get_by_test_id("change-status").first).to_have_text("待审批")
    cust.fill("input[name=holder_name]", "周明")
    cust.get_by_test_id("request-ownership").click()
    expect(cust.get_by_test_id("change")).to_have_count(2)
    cust.get_by_test_id("request-closure").click()
    expect(cust.get_by_test_id("change")).to_have_count(3)
    shot(cust, "lifecycle-customer-requested-zh")

    op = phone(locale="en").new_page()
    log_in(op, "op-b", "/operator")
    op.get_by_role("link", name="Account changes").click()
    queue = op.get_by_test_id("change-queue")
    expect(queue.get_by_text("Change of category")).to_be_visible()
    expect(queue.get_by_text("Residential → General industry and commerce")).to_be_visible()
    # the transfer to a new holder is rejected with a reason
    ownership = queue.get_by_role("listitem").filter(has_text="Transfer of ownership")
    ownership.locator("input[name=reason]").fill("Bring the new holder's ID card")
    ownership.get_by_test_id("reject-change").click()
    expect(queue.get_by_text("Rejected: Bring the new holder's ID card")).to_be_visible()
    # the category first (the account is open), then the closure
    op.get_by_test_id("approve-change").last.click()
    expect(op.get_by_test_id("approve-change")).to_have_count(1)
    op.get_by_test_id("approve-change").click()
    expect(op.get_by_test_id("approve-change")).to_have_count(0)
    mine = queue.get_by_role("listitem").filter(has_text="ACCL01")  # other journeys share it
    expect(mine.get_by_text("Applied")).to_have_count(2)
    shot(op, "lifecycle-operator-applied-en")

    cust.reload()
    expect(cust.get_by_test_id("account-closed")).to_have_text("此账户已销户，不再接受充值。")
    expect(cust.get_by_text("已生效")).to_have_count(2)
    expect(cust.get_by_text("已驳回")).to_have_count(1)
    expect(cust.get_by_text("居民生活 → 一般工商业")).to_be_visible()
    shot(cust, "lifecycle-customer-closed-zh")

    token = server.token("op-b")
    detail = server.api("GET", "/customers?q=E2EL01", token)
    customer = detail["items"][0]
    assert customer["category"] == "general_industry"
    account = server.api("GET", f"/customers/{customer['id']}", token)["accounts"][0]
    assert account["closed_at"] is not None
    req = urllib.request.Request(
        f"{server.url}/api/accounts/{account['id']}/topups",
        data=json.dumps({"amount_fen": 100, "channel": "counter"}).encode(), method="POST",
        headers={"authorization": f"Bearer {token}", "content-type": "application/json",
                 "Idempotency-Key": "e2e-closed-topup-1"},
    )  # fmt: skip
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(req, timeout=10)
    assert refused.value.code == 409
    assert json.loads(refused.value.read())["code"] == "error.account_closed"
