"""A customer manager works through their key-account portfolio: the alerts, one customer's
360, a note, a visit checked in on site; another manager's customer is not found; and the
customer sees their manager and writes to them."""

from __future__ import annotations

import re
import urllib.error

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import Phone, Server, log_in, shot

pytestmark = pytest.mark.e2e

ORIGIN = (30.30, 120.20)  # the first key account's position (tests/e2e/seed.py)


def test_a_manager_works_through_the_portfolio_and_the_customer_reaches_them(
    phone: Phone, server: Server
) -> None:
    numbers = server.seeded.key_accounts
    ctx = phone(locale="zh-CN", geolocation=(ORIGIN[0], ORIGIN[1], 6))
    page = ctx.new_page()
    log_in(page, "insp-ka", "/inspector")
    page.get_by_role("navigation").get_by_role("link", name="我的客户", exact=True).click()

    portfolio = page.get_by_test_id("portfolio")
    expect(portfolio.locator(":scope > li")).to_have_count(5)
    expect(page.get_by_test_id(f"customer-{numbers[1]}")).to_contain_text("用电量降至每天")
    expect(page.get_by_test_id(f"customer-{numbers[4]}")).to_contain_text("用电量升至每天")
    expect(page.get_by_test_id(f"customer-{numbers[3]}")).to_contain_text("欠费 ¥")
    expect(page.get_by_test_id(f"customer-{numbers[2]}")).to_contain_text("大客户四类")
    expect(page.get_by_test_id(f"customer-{numbers[2]}").get_by_test_id("alerts")).to_have_count(0)
    shot(page, "key-accounts-portfolio-zh")
    page.get_by_label("只看需关注的").check()
    expect(portfolio.locator(":scope > li")).to_have_count(4)

    # the shopping centre grows past 1,000 kVA: its profile now makes it a class-2 key account
    page.get_by_label("只看需关注的").uncheck()
    page.get_by_test_id(f"customer-{numbers[4]}").click()
    expect(page.get_by_test_id("c360")).to_contain_text("非大客户")
    page.get_by_role("button", name="修改档案").click()
    form = page.get_by_test_id("profile-form")
    form.locator("input[name=capacity_kva]").fill("1200")
    form.get_by_role("button", name="保存档案").click()
    expect(page.get_by_test_id("c360")).to_contain_text("大客户二类 · 大型工商企业")
    expect(page.get_by_test_id("profile")).to_contain_text("1200 kVA")
    history = server.api(
        "GET", f"/key-accounts/customers/{page.url.rsplit('/', 1)[1]}/profile/history",
        server.token("insp-ka"),
    )  # fmt: skip
    assert [h["snapshot"]["capacity_kva"] for h in history] == [800]
    page.get_by_role("navigation").get_by_role("link", name="我的客户", exact=True).click()

    # value tags (R97): the plant carries the manager's 一厂一策; filter by a computed tag
    plant = portfolio.locator(":scope > li").filter(
        has=page.get_by_test_id(f"customer-{numbers[1]}")
    )
    expect(plant.get_by_test_id("tags")).to_contain_text("潜在价值客户")
    expect(plant.get_by_test_id("tags")).to_contain_text("一厂一策")
    page.get_by_label("按标签筛选").select_option("potential")
    expect(portfolio.locator(":scope > li")).to_have_count(2)
    expect(page.get_by_test_id(f"customer-{numbers[1]}")).to_be_visible()
    expect(page.get_by_test_id(f"customer-{numbers[4]}")).to_be_visible()
    shot(page, "key-accounts-tags-zh")
    page.get_by_label("按标签筛选").select_option("")
    expect(portfolio.locator(":scope > li")).to_have_count(5)

    # the 360 of the hospital: class, profile, contract alert, planned visit; a note
    page.get_by_test_id(f"customer-{numbers[0]}").click()
    c360 = page.get_by_test_id("c360")
    expect(c360.get_by_role("heading", level=1)).to_contain_text("市第一人民医院")
    expect(c360).to_contain_text("大客户一类 · 政府机关/公共事业")
    expect(c360.get_by_test_id("alerts")).to_contain_text("供用电合同")
    expect(c360.get_by_test_id("profile")).to_contain_text("王建国")
    expect(c360.get_by_test_id("visits")).to_contain_text("季度走访")
    expect(c360.get_by_test_id("trend").locator(".bar")).to_have_count(31)
    expect(c360.get_by_test_id("service-level")).to_contain_text("VIP")
    panel = c360.get_by_test_id("tag-panel")
    expect(panel.get_by_test_id("tags")).to_contain_text("安全价值客户")
    panel.locator("input[name=tag]").fill("续签跟进")
    panel.get_by_role("button", name="添加标签").click()
    expect(panel.get_by_test_id("tags")).to_contain_text("续签跟进")
    panel.get_by_text("标签变更记录").click()
    expect(panel.get_by_test_id("tag-history")).to_contain_text("insp-ka 添加了 续签跟进")
    page.fill("textarea[name=note]", "已电话联系续签事宜")
    page.get_by_role("button", name="保存备注").click()
    expect(c360.get_by_test_id("notes")).to_contain_text("已电话联系续签事宜")
    shot(page, "key-accounts-360-zh")

    # on site: check in with the phone's position
    page.get_by_role("navigation").get_by_role("link", name="走访", exact=True).click()
    expect(page.get_by_test_id("gps-accuracy")).to_be_visible()
    page.get_by_role("button", name="现场签到").click()
    status = page.get_by_test_id("visit-status")
    expect(status).to_contain_text("已走访")
    expect(status).to_contain_text("距客户 0 米")
    expect(page.get_by_role("button", name="现场签到")).to_have_count(0)
    shot(page, "key-accounts-visit-zh")

    # another manager's customer is simply not there
    token = server.token("insp-ka")
    other = server.token("insp-round")
    outsider = server.api("GET", "/key-accounts/portfolio", other)["items"][0]["customer_id"]
    with pytest.raises(urllib.error.HTTPError) as e:
        server.api("GET", f"/key-accounts/customers/{outsider}", token)
    assert e.value.code == 404
    page.goto(f"/inspector/customer/{outsider}")
    expect(page.get_by_role("alert")).to_contain_text("未找到客户")

    # the customer (in English) sees their manager and writes to them
    cust = phone(locale="en").new_page()
    log_in(cust, "cust-ka", "/customer")
    cust.get_by_role("navigation").get_by_role("link", name="My manager", exact=True).click()
    managers = cust.get_by_test_id("managers")
    expect(managers).to_contain_text("客户经理 陈杰")
    expect(managers).to_contain_text("your key-account manager")
    expect(managers.get_by_role("link", name=re.compile("Call 0571-87009999"))).to_have_attribute(
        "href", "tel:0571-87009999"
    )
    cust.fill("textarea[name=message]", "Please call about the contract renewal")
    cust.get_by_role("button", name="Send").click()
    expect(cust.get_by_role("status").filter(has_text="Sent.")).to_be_visible()
    shot(cust, "key-accounts-my-manager-en")
    # and answers this year's questionnaire (the demo's; the community answered it by phone)
    [qn] = server.api("GET", "/key-accounts/surveys/questionnaires", server.token("cust-ka"))
    cust.get_by_role("navigation").get_by_role("link", name="Survey", exact=True).click()
    form = cust.get_by_test_id(f"survey-{qn['id']}")
    expect(form).to_contain_text("Are you satisfied with the reliability of supply?")
    for q in qn["questions"]:
        if q["kind"] == "score":
            form.locator(f"input[name=q{q['id']}][value='4']").check()
        else:
            form.locator(f"textarea[name=q{q['id']}]").fill("Faster repairs, please")
    form.get_by_role("button", name="Send answers").click()
    expect(cust.get_by_role("status").filter(has_text="Thank you.")).to_be_visible()
    expect(cust.get_by_text("No questionnaire for you right now.")).to_be_visible()
    shot(cust, "key-accounts-survey-en")
    sup = server.token("sup")
    results = server.api("GET", f"/key-accounts/surveys/questionnaires/{qn['id']}/results", sup)
    # the community's 87.5 and this 75.0: 81.25, rounded half up
    assert (results["responses"], results["satisfaction"]) == (2, 81.3)

    # the manager reads the results per question and per customer (lowest index first)
    page.get_by_role("navigation").get_by_role("link", name="我的客户", exact=True).click()
    page.get_by_role("link", name="满意度结果").click()
    expect(page.get_by_test_id("survey-index")).to_contain_text("满意度指数 81.3（2 份）")
    expect(page.get_by_test_id("survey-questions")).to_contain_text("希望停电提前通知")
    expect(page.get_by_test_id("survey-questions")).to_contain_text("Faster repairs, please")
    per_customer = page.get_by_test_id("survey-customers").locator(":scope > li")
    expect(per_customer).to_have_count(2)
    expect(per_customer.first).to_contain_text("市第一人民医院")  # 75.0 before 87.5
    shot(page, "key-accounts-survey-results-zh")

    # a supervisor sees the organisation tree with the portfolio's grid and its counts
    sup_page = phone(locale="zh-CN").new_page()
    log_in(sup_page, "sup", "/operator")
    sup_page.goto("/operator/key-accounts")
    sup_page.get_by_role("link", name="组织与网格").click()
    tree = sup_page.get_by_test_id("org-tree")
    expect(tree.get_by_test_id("org-ZJ")).to_contain_text("国网浙江省电力公司")
    district = tree.get_by_test_id("org-ZJ-HZ-XH")
    expect(district).to_contain_text("5 户 · 大客户 5 户")
    expect(district.get_by_test_id("org-GE2EKA")).to_contain_text("5 户 · 大客户 5 户")
    shot(sup_page, "key-accounts-org-tree-zh")

    items = server.api("GET", "/key-accounts/portfolio", token)["items"]
    [centre] = [i for i in items if i["number"] == numbers[4]]
    assert centre["key_account_classes"] == [2]
    [hospital] = [i for i in items if i["number"] == numbers[0]]
    assert [a["code"] for a in hospital["alerts"]] == [
        "alert.contract_expiring",
        "alert.customer_message",
    ]
