"""A postpaid customer reads their issued bills (overdue, with late fees), prints one and
downloads it as a PDF; the operator sees the account in the postpaid arrears list with its
ageing; zh-CN and English (the account: tests/e2e/seed_issued.py)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from backend.tariffs.bill import late_fee
from tests.e2e.conftest import Phone, Server, log_in, shot
from tests.e2e.seed_issued import months_back

pytestmark = pytest.mark.e2e
TZ = ZoneInfo("Asia/Shanghai")
TOTAL = 977  # 20 kWh × 0.4883 = 9.766 元


def _bill() -> tuple[str, date, int]:
    today = datetime.now(TZ).date()
    used = months_back(today, 2)
    due = months_back(today, 1) + timedelta(days=14)
    return f"{used.year:04d}-{used.month:02d}", due, late_fee(TOTAL, due, today, True)


def _yuan(fen: int) -> str:
    return f"¥{fen // 100}.{fen % 100:02d}"


def test_the_customer_reads_and_prints_an_overdue_issued_bill_in_chinese_and_english(
    phone: Phone, server: Server
) -> None:
    month, due, fee = _bill()
    page = phone(locale="zh-CN").new_page()
    log_in(page, "cust-issued", "/customer")
    page.get_by_role("navigation").get_by_role("link", name="已出账单", exact=True).click()
    rows = page.get_by_test_id("issued-row")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(month)
    expect(rows.first).to_contain_text(due.isoformat())
    expect(rows.first.get_by_test_id("issued-status")).to_have_text("未缴 ¥9.77")
    expect(rows.first).to_contain_text(f"违约金 {_yuan(fee)}")
    expect(page.get_by_test_id("issued-owed")).to_have_text(f"欠费合计 ¥9.77，违约金 {_yuan(fee)}")
    rows.first.get_by_role("button", name=month).click()
    bill = page.get_by_test_id("issued-bill")
    expect(bill.get_by_test_id("issued-line")).to_have_text(["第一档 20 kWh × 0.4883 元¥9.77"])
    expect(bill.get_by_test_id("issued-total")).to_have_text("¥9.77")
    expect(bill.get_by_test_id("issued-late-fee")).to_have_text(_yuan(fee))
    expect(bill).to_contain_text(f"缴费截止日 {due.isoformat()}")
    with page.expect_download() as got:
        bill.get_by_role("button", name="下载 PDF").click()
    download = got.value
    assert download.suggested_filename.endswith(".pdf")
    pdf = Path(download.path()).read_bytes()
    assert pdf.startswith(b"%PDF-")
    number = download.suggested_filename.removesuffix(".pdf")
    assert f"({number}) Tj".encode() in pdf  # the bill number, in the PDF's text
    print_button = bill.get_by_role("button", name="打印")
    expect(print_button).to_be_visible()
    page.emulate_media(media="print")  # the printed page: the bill alone
    expect(page.get_by_role("navigation")).to_be_hidden()
    expect(print_button).to_be_hidden()
    expect(bill.get_by_test_id("issued-total")).to_be_visible()
    shot(page, "customer-issued-bill-print-zh")

    page = phone(locale="en").new_page()
    log_in(page, "cust-issued", "/customer")
    page.get_by_role("navigation").get_by_role("link", name="Issued bills", exact=True).click()
    row = page.get_by_test_id("issued-row").first
    expect(row.get_by_test_id("issued-status")).to_have_text("¥9.77 unpaid")
    row.get_by_role("button", name=month).click()
    expect(page.get_by_test_id("issued-line").first).to_contain_text("Tier 1 20 kWh × ¥0.4883")
    expect(page.get_by_test_id("issued-bill")).to_contain_text(f"Due by {due.isoformat()}")
    shot(page, "customer-issued-bill-en")


def test_the_operator_sees_the_overdue_account_aged_in_the_postpaid_arrears(
    phone: Phone, server: Server
) -> None:
    month, due, fee = _bill()
    days = (datetime.now(TZ).date() - due).days
    bucket = 1 if days <= 30 else 2  # the column of 0–30 or 31–60 days
    page = phone(locale="zh-CN").new_page()
    log_in(page, "op-a", "/operator")
    page.get_by_role("navigation").get_by_role("link", name="后付费欠费", exact=True).click()
    rows = page.get_by_test_id("pp-arrears-row")
    expect(rows).to_have_count(1)
    row = rows.first
    expect(row).to_contain_text("周明")
    expect(row).to_contain_text(f"ACCI01 · 逾期 {days} 天")
    expect(row.locator("td").nth(bucket)).to_have_text("¥9.77")
    expect(row.locator("td").nth(5)).to_have_text(_yuan(fee))
    expect(row.locator("td").nth(6)).to_have_text(_yuan(TOTAL + fee))
    shot(page, "operator-postpaid-arrears-zh")
    row.get_by_role("link", name="ACCI01", exact=True).click()  # the account's bills
    expect(page.get_by_role("heading", name="账户账单与更正")).to_be_visible()
    bills = page.get_by_test_id("op-bills-row")
    expect(bills).to_have_count(1)
    expect(bills.first).to_contain_text(month)
    expect(bills.first.get_by_test_id("op-bills-state")).to_contain_text("未缴 ¥9.77")
    bills.first.get_by_role("button").click()
    expect(page.get_by_test_id("op-bills-lines")).to_contain_text("第一档 20 kWh × 0.4883 元 ¥9.77")
    shot(page, "operator-account-bills-zh")

    page = phone(locale="en").new_page()
    log_in(page, "op-a", "/operator")
    page.get_by_role("navigation").get_by_role("link", name="Postpaid arrears", exact=True).click()
    expect(page.get_by_test_id("pp-arrears-row").first).to_contain_text(f"{days} days overdue")
    expect(page.get_by_test_id("pp-arrears")).to_contain_text("31–60 days")


def test_the_customer_compares_their_last_year_on_time_of_use_with_advice(
    phone: Phone, server: Server
) -> None:
    """20 kWh from 10:00 to 12:00 billed flat at 0.4883 (¥9.77); on the time-of-use schedule
    that is peak at 0.5683: 11.366 → ¥11.37, ¥1.60 more."""
    page = phone(locale="zh-CN").new_page()
    log_in(page, "cust-issued", "/customer")
    page.get_by_role("navigation").get_by_role("link", name="电价比较", exact=True).click()
    expect(page.get_by_test_id("compare-current")).to_contain_text("居民 月阶梯 (e2e)（不分时）")
    tou = page.get_by_test_id("compare-option").filter(has_text="居民 峰谷 (e2e)")
    expect(tou).to_contain_text("峰谷分时")
    expect(tou.get_by_test_id("compare-billed")).to_have_text("¥9.77")
    expect(tou.get_by_test_id("compare-alternative")).to_have_text("¥11.37")
    expect(tou.get_by_test_id("compare-difference")).to_have_text("¥1.60")
    expect(tou.get_by_test_id("compare-advice")).to_have_text(
        "改用「居民 峰谷 (e2e)」，过去 12 个月要多付 ¥1.60，维持现在的电价更划算。"
    )
    shot(page, "customer-compare-zh")

    page = phone(locale="en").new_page()
    log_in(page, "cust-issued", "/customer")
    page.get_by_role("navigation").get_by_role("link", name="Compare tariffs", exact=True).click()
    tou = page.get_by_test_id("compare-option").filter(has_text="居民 峰谷 (e2e)")
    expect(tou).to_contain_text("time of use")
    expect(tou.get_by_test_id("compare-advice")).to_contain_text(
        "you would have paid ¥1.60 more in the last 12 months"
    )
    shot(page, "customer-compare-en")


def test_the_customer_sees_a_revised_bill_with_the_total_it_replaced(
    phone: Phone, server: Server
) -> None:
    """Issued at 20 kWh (¥9.77), revised by a late reading to 30 kWh (¥14.65): the month once,
    its latest revision, naming the total it replaced (tests/e2e/seed_issued.py)."""
    page = phone(locale="zh-CN").new_page()
    log_in(page, "cust-revised", "/customer")
    page.get_by_role("navigation").get_by_role("link", name="已出账单", exact=True).click()
    rows = page.get_by_test_id("issued-row")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("¥14.65")
    expect(rows.first.get_by_test_id("issued-status")).to_have_text("已缴清")
    rows.first.get_by_role("button").click()
    bill = page.get_by_test_id("issued-bill")
    expect(bill.get_by_test_id("issued-revision")).to_have_text(
        "更正账单（第 1 次更正），原金额 ¥9.77"
    )
    expect(bill.get_by_test_id("issued-line")).to_have_text(["第一档 30 kWh × 0.4883 元¥14.65"])
    expect(bill.get_by_role("heading")).to_contain_text("-1（")  # number: ACCI02-YYYYMM-1
    shot(page, "customer-revised-bill-zh")
