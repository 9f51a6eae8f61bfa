"""The customer sees their tariff tier (阶梯) and what is left in it, on the home screen and
the usage screen, in zh-CN and English, from the account's assigned tariff (a monthly
200/400 kWh 阶梯 with 10 kWh billed today: tests/e2e/seed_bills.py)."""

from __future__ import annotations

import calendar
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import Phone, Server, log_in, shot

pytestmark = pytest.mark.e2e


def _month_end() -> str:
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    return today.replace(day=calendar.monthrange(today.year, today.month)[1]).isoformat()


def test_the_customer_sees_the_tier_and_what_is_left_of_it_in_chinese_and_english(
    phone: Phone, server: Server
) -> None:
    page = phone(locale="zh-CN").new_page()
    log_in(page, "cust-bills", "/customer")
    home = page.get_by_test_id("tier")
    expect(home.get_by_test_id("tier-now")).to_have_text("第 1 档 · 每千瓦时 ¥0.4883")
    expect(home).to_contain_text("本月已用 10 kWh")
    expect(home.get_by_test_id("tier-left")).to_have_text(
        f"本档还剩 190 kWh（本周期至 {_month_end()}）"
    )
    page.get_by_role("navigation").get_by_role("link", name="用电", exact=True).click()
    usage = page.locator("section").get_by_test_id("tier")
    expect(usage.get_by_test_id("tier-left")).to_contain_text("本档还剩 190 kWh")
    shot(page, "customer-tier-zh")

    page = phone(locale="en").new_page()
    log_in(page, "cust-bills", "/customer")
    expect(page.get_by_test_id("tier").get_by_test_id("tier-now")).to_be_visible()
    page.get_by_role("navigation").get_by_role("link", name="Usage", exact=True).click()
    tier = page.locator("section").get_by_test_id("tier")
    expect(tier.get_by_test_id("tier-now")).to_have_text("Tier 1 · ¥0.4883 per kWh")
    expect(tier).to_contain_text("10 kWh used this month")
    expect(tier.get_by_test_id("tier-left")).to_have_text(
        f"190 kWh left in this tier (cycle ends {_month_end()})"
    )
    shot(page, "customer-tier-en")


def _due_on() -> str:
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    y, m = (today.year + 1, 1) if today.month == 12 else (today.year, today.month + 1)
    return f"{y}-{m:02d}-15"


def test_the_customer_reads_this_months_bill_line_by_line_in_chinese_and_english(
    phone: Phone, server: Server
) -> None:
    page = phone(locale="zh-CN").new_page()
    log_in(page, "cust-bills", "/customer")
    page.get_by_role("navigation").get_by_role("link", name="账单", exact=True).click()
    lines = page.get_by_test_id("bill-line")
    expect(lines).to_have_count(1)
    # 10 kWh x 0.4883 = 4.883 -> ¥4.88
    expect(lines.first).to_contain_text("第一档 10 kWh × 0.4883 元")
    expect(lines.first).to_contain_text("¥4.88")
    expect(page.get_by_test_id("bill-total")).to_have_text("¥4.88")
    expect(page.get_by_test_id("bill-due")).to_have_text(f"缴费截止日 {_due_on()}")
    shot(page, "customer-bill-zh")

    page = phone(locale="en").new_page()
    log_in(page, "cust-bills", "/customer")
    page.get_by_role("navigation").get_by_role("link", name="Bill", exact=True).click()
    expect(page.get_by_test_id("bill-line").first).to_contain_text("Tier 1 10 kWh × ¥0.4883")
    expect(page.get_by_test_id("bill-due")).to_have_text(f"Due by {_due_on()}")
    shot(page, "customer-bill-en")
