"""业扩报装 in Chromium: a customer applies for electricity from the app (English) and uploads
the documents; a supervisor takes it through acceptance, the site survey with a photo, the
contract, the installation and energisation (zh-CN); the customer sees it energised."""

from __future__ import annotations

import json
import re
import sqlite3
import urllib.request
from contextlib import closing

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import Phone, Server, log_in, shot

pytestmark = pytest.mark.e2e
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00"
    b"\x00\x00\x00IEND\xaeB`\x82"
)
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def area(server: Server) -> int:
    """A transformer area for the new meter to hang in (the e2e seed has none of its own)."""
    path = server.database_url.split("///", 1)[1]
    with closing(sqlite3.connect(path)) as db:
        db.execute(
            "INSERT INTO transformer_areas (code, name) VALUES ('TA-YK', '业扩台区') "
            "ON CONFLICT (code) DO NOTHING"
        )
        db.commit()
        return int(
            db.execute("SELECT id FROM transformer_areas WHERE code = 'TA-YK'").fetchone()[0]
        )


def test_a_customer_applies_staff_take_it_to_energisation_and_the_customer_sees_it(
    phone: Phone, server: Server
) -> None:
    area_id = area(server)
    customer = phone(locale="en").new_page()
    # a customer whose grid no inspector journey counts: the new meter joins its grid's book
    log_in(customer, "cust-bills", "/customer")
    customer.get_by_role("link", name="Apply for supply", exact=True).click()
    customer.get_by_test_id("yk-new").click()
    customer.fill("input[name=applicant_name]", "Lin Xin")
    customer.fill("input[name=phone]", "13700003333")
    customer.fill("input[name=address]", "10 Wenyi Road, flat 502")
    customer.get_by_role("button", name="Send application").dblclick()  # one intent: one
    customer.wait_for_url(re.compile(r".*/customer/apply/\d+$"))
    app_id = int(customer.url.rsplit("/", 1)[1])
    expect(customer.get_by_test_id("yk-state")).to_contain_text("Acceptance: due by")
    expect(customer.get_by_test_id("yk-missing")).to_contain_text("Proof of identity")
    customer.set_input_files(
        "input[name=doc-id_card]", {"name": "id.png", "mimeType": "image/png", "buffer": PNG}
    )
    expect(customer.get_by_test_id("yk-docs")).to_contain_text("Proof of identity")
    customer.set_input_files(
        "input[name=doc-property_proof]",
        {"name": "deed.pdf", "mimeType": "application/pdf", "buffer": PDF},
    )
    expect(customer.get_by_test_id("yk-docs")).to_contain_text("Proof of property")
    expect(customer.get_by_test_id("yk-steps")).to_contain_text("Site survey · 1 working days")
    shot(customer, "expansion-applied-en")

    staff = phone(locale="zh-CN").new_page()
    log_in(staff, "sup", "/operator")
    staff.get_by_role("link", name="业扩报装", exact=True).click()
    staff.get_by_test_id("yk-queue").get_by_role("link").first.click()
    expect(staff.get_by_test_id("yk-state")).to_contain_text("受理")
    staff.get_by_test_id("yk-advance").click()
    expect(staff.get_by_test_id("yk-state")).to_contain_text("现场勘查")
    staff.set_input_files(
        "input[name=site-photo]", {"name": "site.png", "mimeType": "image/png", "buffer": PNG}
    )
    staff.fill("input[name=note]", "表箱位置已定")
    staff.get_by_role("button", name="提交勘查").click()
    expect(staff.get_by_test_id("yk-state")).to_contain_text("签订合同")
    staff.get_by_test_id("yk-advance").click()
    expect(staff.get_by_test_id("yk-state")).to_contain_text("装表")
    staff.get_by_test_id("yk-advance").click()
    expect(staff.get_by_test_id("yk-state")).to_contain_text("送电")
    staff.fill("input[name=meter_id]", "m-yk-e2e-1")
    staff.fill("input[name=address]", "990000000001")
    staff.fill("input[name=agent_id]", "")
    staff.fill("input[name=transformer_area_id]", str(area_id))
    staff.get_by_test_id("yk-energise").click()
    expect(staff.get_by_test_id("yk-energised")).to_contain_text("m-yk-e2e-1")
    expect(staff.get_by_test_id("yk-timeline")).to_contain_text("现场勘查已完成")
    shot(staff, "expansion-energised-zh")

    customer.reload()
    expect(customer.get_by_test_id("yk-state")).to_have_text("Energised")
    expect(customer.get_by_test_id("yk-energised")).to_contain_text("m-yk-e2e-1")
    shot(customer, "expansion-energised-en")

    held = server.api("GET", f"/expansion/applications/{app_id}", server.token("sup"))
    assert (held["status"], held["meter_id"], held["missing_documents"]) == (
        "energised",
        "m-yk-e2e-1",
        [],
    )
    mine = server.api("GET", "/expansion/applications", server.token("cust-bills"))
    assert [a["id"] for a in mine["items"]] == [app_id]  # the double tap made one application


def test_a_customer_withdraws_their_application_and_staff_withdraw_one_from_the_step_screen(
    phone: Phone, server: Server
) -> None:
    customer = phone(locale="en").new_page()
    log_in(customer, "cust-usage", "/customer")
    customer.get_by_role("link", name="Apply for supply", exact=True).click()
    customer.get_by_test_id("yk-new").click()
    customer.fill("input[name=applicant_name]", "Qian Xin")
    customer.fill("input[name=phone]", "13700004444")
    customer.fill("input[name=address]", "12 Wenyi Road, flat 101")
    customer.get_by_role("button", name="Send application").click()
    customer.wait_for_url(re.compile(r".*/customer/apply/\d+$"))
    mine = int(customer.url.rsplit("/", 1)[1])
    customer.get_by_test_id("yk-withdraw").dblclick()  # one intent: one withdrawal
    expect(customer.get_by_test_id("yk-state")).to_have_text("Withdrawn")
    expect(customer.get_by_test_id("yk-timeline")).to_contain_text(
        "Application withdrawn: Withdrawn at the customer's request"
    )
    expect(customer.get_by_test_id("yk-withdraw")).to_have_count(0)
    shot(customer, "expansion-withdrawn-en")

    token = server.token("cust-usage")
    body = {
        "supply_type": "residential",
        "category": "residential",
        "applicant_name": "钱新",
        "phone": "13700005555",
        "address": "文一路 12 号 102",
        "capacity_kva": 8,
    }
    req = urllib.request.Request(
        f"{server.url}/api/expansion/applications",
        data=json.dumps(body).encode(),
        method="POST",
        headers={
            "content-type": "application/json",
            "authorization": f"Bearer {token}",
            "idempotency-key": "yk-e2e-withdraw-2",
        },
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        theirs = json.loads(r.read())["id"]
    staff = phone(locale="zh-CN").new_page()
    log_in(staff, "sup", "/operator")
    staff.goto(f"/operator/expansion/{theirs}")
    staff.get_by_test_id("yk-withdraw-reason").select_option("duplicate")
    staff.get_by_test_id("yk-withdraw").click()
    expect(staff.get_by_test_id("yk-state")).to_have_text("已撤回")
    expect(staff.get_by_test_id("yk-timeline")).to_contain_text("申请已撤回：重复申请")
    expect(staff.get_by_test_id("yk-advance")).to_have_count(0)
    shot(staff, "expansion-withdrawn-zh")

    held = server.api("GET", "/expansion/applications", token)
    by_id = {a["id"]: a["status"] for a in held["items"]}
    assert (by_id[mine], by_id[theirs]) == ("cancelled", "cancelled")
    timeline = server.api("GET", f"/expansion/applications/{mine}", token)["timeline"]
    assert [e["code"] for e in timeline].count("expansion.cancelled") == 1


def _post(server: Server, path: str, token: str, data: bytes, headers: dict[str, str]) -> dict:
    req = urllib.request.Request(
        f"{server.url}/api{path}",
        data=data,
        method="POST",
        headers={"authorization": f"Bearer {token}", **headers},
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())  # type: ignore[no-any-return]


def test_a_customer_manager_sees_the_expansions_in_their_grid_and_records_the_site_survey(
    phone: Phone, server: Server
) -> None:
    """R113: the customer manager of grid GE2E5 applies on site for a household of their grid
    (增容) with its documents, the back office accepts it, and the manager finds it under
    业扩报装 in their own app and records the survey with a photo."""
    path = server.database_url.split("///", 1)[1]
    with closing(sqlite3.connect(path)) as db:
        customer_id = int(
            db.execute("SELECT id FROM customers WHERE number = 'E2E500'").fetchone()[0]
        )
    body = {
        "supply_type": "residential",
        "kind": "increase",
        "category": "residential",
        "applicant_name": "客户经理代办",
        "phone": "13700006666",
        "address": "文三路 501 号",
        "capacity_kva": 12,
        "customer_id": customer_id,
    }
    token = server.token("insp-held")
    head = {"content-type": "application/json", "idempotency-key": "yk-e2e-manager-1"}
    made = _post(server, "/expansion/applications", token, json.dumps(body).encode(), head)
    for kind, mime, data in (
        ("id_card", "image/png", PNG),
        ("property_proof", "application/pdf", PDF),
    ):
        made = _post(server, f"/expansion/applications/{made['id']}/documents/{kind}", token,
                     data, {"content-type": mime})  # fmt: skip
    assert made["missing_documents"] == []
    accepted = server.api(
        "POST",
        f"/expansion/applications/{made['id']}/advance",
        server.token("sup"),
        body={"step": "acceptance", "version": made["version"]},
    )
    assert accepted["step"] == "survey"

    manager = phone(locale="zh-CN").new_page()
    log_in(manager, "insp-held", "/inspector")
    manager.get_by_role("link", name="业扩报装", exact=True).click()
    queue = manager.get_by_test_id("yk-queue")
    expect(queue).to_contain_text("客户经理代办")
    queue.get_by_role("link", name=re.compile("客户经理代办")).click()
    manager.wait_for_url(re.compile(rf".*/inspector/expansion/{made['id']}$"))
    expect(manager.get_by_test_id("yk-state")).to_contain_text("现场勘查")
    manager.set_input_files(
        "input[name=site-photo]", {"name": "site.png", "mimeType": "image/png", "buffer": PNG}
    )
    manager.fill("input[name=note]", "容量核定 12 kVA")
    manager.get_by_role("button", name="提交勘查").click()
    expect(manager.get_by_test_id("yk-timeline")).to_contain_text("现场勘查已完成")
    shot(manager, "expansion-manager-survey-zh")
    held = server.api("GET", f"/expansion/applications/{made['id']}", server.token("sup"))
    assert held["step"] != "survey"
