"""95598 in Chromium: a customer reports a fault from the app (English), an operator takes it
from the queue, dispatches a crew and closes it (zh-CN), and the customer rates it."""

from __future__ import annotations

import json
import re
import urllib.request
import uuid

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import Phone, Server, log_in, shot

pytestmark = pytest.mark.e2e
REPAIR_SAVED = "抢修已登记"


def test_a_customer_reports_a_fault_an_operator_takes_dispatches_closes_it_and_it_is_rated(
    phone: Phone, server: Server
) -> None:
    customer = phone(locale="en").new_page()
    log_in(customer, "cust-topup", "/customer")
    customer.get_by_role("link", name="Service", exact=True).click()
    customer.get_by_test_id("report-fault").click()
    customer.fill("textarea[name=description]", "No power in the whole flat since 8 pm")
    customer.get_by_role("button", name="Send").dblclick()  # one intent: one order
    customer.wait_for_url(re.compile(r".*/customer/orders/\d+$"))
    order_id = int(customer.url.rsplit("/", 1)[1])
    expect(customer.get_by_test_id("owner")).to_have_text("waiting for an operator")
    expect(customer.get_by_test_id("timeline")).to_contain_text("Order taken")
    shot(customer, "servicedesk-customer-reported-en")

    operator = phone(locale="zh-CN").new_page()
    log_in(operator, "op-a", "/operator")
    operator.get_by_role("link", name="工单", exact=True).click()
    queue = operator.get_by_test_id("queue")
    # other journeys' orders may wait in the shared queue (an area outage's fault order)
    mine = queue.get_by_role("listitem").filter(has_text="No power in the whole flat since 8 pm")
    expect(mine).to_have_count(1)  # the double tap made one order
    expect(mine).to_contain_text(f"故障报修 #{order_id}")
    shot(operator, "servicedesk-queue-zh")
    mine.get_by_role("link").click()
    operator.get_by_test_id("take").click()
    expect(operator.get_by_test_id("owner")).to_have_text("op-a")
    operator.locator("select[name=crew]").select_option(index=1)
    operator.get_by_test_id("dispatch").click()
    expect(operator.get_by_test_id("timeline")).to_contain_text("已派工")
    expect(operator.get_by_test_id("order-state")).to_contain_text("赶赴现场")
    operator.fill("textarea[name=result]", "表箱内开关跳闸，已合闸恢复供电")
    operator.get_by_test_id("close").click()
    expect(operator.get_by_test_id("order-state")).to_have_text("已办结")
    expect(operator.get_by_test_id("timeline")).to_contain_text("已办结：表箱内开关跳闸")
    shot(operator, "servicedesk-closed-zh")

    customer.reload()
    expect(customer.get_by_test_id("result")).to_contain_text("表箱内开关跳闸")
    customer.get_by_test_id("star-4").click()
    customer.get_by_test_id("rate").click()
    expect(customer.get_by_test_id("rated")).to_have_text("You rated it ★★★★")
    shot(customer, "servicedesk-rated-en")

    token = server.token("op-a")
    held = server.api("GET", f"/servicedesk/orders/{order_id}", token)
    assert (held["order"]["status"], held["order"]["satisfaction"]) == ("closed", 4)
    assert held["order"]["channel"] == "pwa"
    mine = server.api("GET", "/servicedesk/orders", server.token("cust-topup"))
    assert [o["id"] for o in mine["items"]] == [order_id]  # the double tap made one order
    codes = [e["code"] for e in held["timeline"]]
    assert codes == ["order.created", "order.taken", "order.dispatched", "order.closed",
                     "order.rated"]  # fmt: skip


def test_a_crew_sees_the_fault_it_was_sent_to_and_its_arrival_moves_the_order_on(
    phone: Phone, server: Server
) -> None:
    r = server.seeded.rounds["retry"]
    stop = r.stops[0]
    op = server.token("op-b")
    crew_token = server.token(r.inspector)
    crew_id = server.api("GET", "/me", crew_token)["id"]
    req = urllib.request.Request(
        f"{server.url}/api/servicedesk/orders", method="POST",
        data=json.dumps({"kind": "fault", "channel": "phone", "description": "电表箱冒烟",
                         "location": "文三路 4 号"}).encode(),
        headers={"content-type": "application/json", "authorization": f"Bearer {op}",
                 "Idempotency-Key": f"e2e-{uuid.uuid4()}"},
    )  # fmt: skip
    with urllib.request.urlopen(req, timeout=10) as answer:
        order = json.loads(answer.read())["order"]
    path = f"/servicedesk/orders/{order['id']}"
    server.api("POST", f"{path}/dispatch", op, {"version": 1, "crew_id": crew_id})

    page = phone(locale="zh-CN", geolocation=(stop.lat, stop.lon, 5)).new_page()
    log_in(page, r.inspector, "/inspector")
    page.get_by_role("link", name="派工单", exact=True).click()
    item = page.get_by_test_id("crew-orders").get_by_role("listitem").filter(has_text="电表箱冒烟")
    expect(item).to_contain_text("赶赴现场")
    shot(page, "servicedesk-crew-zh")
    item.get_by_test_id("report-arrival").click()
    expect(page.get_by_test_id("repair-order")).to_have_text(f"工单 #{order['id']}")
    page.fill("textarea[name=content]", "更换表箱进线开关")
    page.fill("input[name=area]", "文三路 4 号台区")
    page.get_by_role("button", name="提交").click()
    expect(page.get_by_role("heading", name=REPAIR_SAVED)).to_be_visible()
    page.get_by_role("link", name="待发送", exact=True).click()
    expect(page.get_by_test_id("outbox-count")).to_have_text("0 条等待发送")
    held = server.api("GET", path, op)
    assert (held["order"]["node"], held["order"]["crew"]["id"]) == ("repair", crew_id)
    assert held["order"]["repair_job_id"] is not None
    assert [e["code"] for e in held["timeline"]][-1] == "order.crew_arrived"
    server.api("POST", f"{path}/close", op, {"version": held["order"]["version"], "result": "ok"})


def test_a_supervisor_writes_an_answer_and_an_operator_finds_it_while_taking_an_order(
    phone: Phone, server: Server
) -> None:
    sup = phone(locale="zh-CN").new_page()
    log_in(sup, "sup", "/operator")
    sup.get_by_role("link", name="知识库", exact=True).click()
    form = sup.get_by_test_id("kb-form")
    form.locator("input[name=title]").fill("小区整体停电怎么办")
    form.locator("textarea[name=body]").fill("先查看停电公告；无公告的，受理故障报修并派工。")
    form.locator("input[name=tags]").fill("停电，报修")
    form.get_by_role("checkbox", name="故障报修").check()
    form.get_by_role("button", name="保存").click()
    expect(sup.get_by_test_id("kb-list")).to_contain_text("小区整体停电怎么办")
    shot(sup, "servicedesk-kb-written-zh")

    operator = phone(locale="en").new_page()
    log_in(operator, "op-a", "/operator")
    operator.goto(f"{server.url}/operator/orders/new")
    operator.fill("input[name=kb-q]", "整体停电")
    operator.get_by_role("button", name="Search").last.click()
    answers = operator.get_by_test_id("answers")
    expect(answers.get_by_role("listitem")).to_have_count(1)
    expect(answers).to_contain_text("小区整体停电怎么办")
    operator.fill("input[name=kb-q]", "停电 复电 电价 电费 报修 投诉")
    operator.get_by_role("button", name="Search").last.click()
    expect(operator.get_by_role("alert")).to_contain_text("Cannot search")
    shot(operator, "servicedesk-kb-found-en")

    hits = server.api("GET", "/servicedesk/kb/articles?q=%E6%95%B4%E4%BD%93", server.token("op-a"))
    assert [h["title"] for h in hits] == ["小区整体停电怎么办"]


def test_an_operator_makes_a_field_task_from_an_order_and_the_timeline_says_so(
    phone: Phone, server: Server
) -> None:
    token = server.token("op-b")
    hits = server.api("GET", "/servicedesk/customers?q=E2E800", token)
    body = {"kind": "fault", "channel": "phone", "description": "电表烧焦味",
            "customer_id": hits[0]["id"], "meter_id": "M-USAGE-1"}  # fmt: skip
    req = urllib.request.Request(
        f"{server.url}/api/servicedesk/orders", data=json.dumps(body).encode(), method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json",
                 "Idempotency-Key": uuid.uuid4().hex},
    )  # fmt: skip
    with urllib.request.urlopen(req) as r:
        order_id = json.loads(r.read())["order"]["id"]
    operator = phone(locale="zh-CN").new_page()
    log_in(operator, "op-b", "/operator")
    operator.goto(f"{server.url}/operator/orders/{order_id}")
    operator.get_by_test_id("field-task").click()
    expect(operator.get_by_test_id("followup-done")).to_contain_text("已生成现场任务")
    expect(operator.get_by_test_id("timeline")).to_contain_text("已生成现场任务")
    shot(operator, "servicedesk-field-task-zh")
    held = server.api("GET", f"/servicedesk/orders/{order_id}", token)
    assert held["timeline"][-1]["code"] == "order.field_task"


def _png() -> bytes:
    import struct
    import zlib

    def chunk(tag: bytes, data: bytes) -> bytes:
        body = tag + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def test_a_customer_reports_a_fault_with_a_photo_and_the_operator_sees_it(
    phone: Phone, server: Server
) -> None:
    customer = phone(locale="zh-CN").new_page()
    log_in(customer, "cust-topup", "/customer")
    customer.goto(f"{server.url}/customer/orders/new")
    customer.fill("textarea[name=description]", "电表冒烟，见照片")
    image = {"name": "meter.png", "mimeType": "image/png", "buffer": _png()}
    customer.set_input_files("input[name=photo]", image)  # type: ignore[arg-type]
    customer.locator("form button.primary").click()
    customer.wait_for_url(re.compile(r".*/customer/orders/\d+$"))
    order_id = int(customer.url.rsplit("/", 1)[1])
    expect(customer.get_by_test_id("order-photo")).to_be_visible()

    operator = phone(locale="en").new_page()
    log_in(operator, "op-a", "/operator")
    operator.goto(f"{server.url}/operator/orders/{order_id}")
    expect(operator.get_by_test_id("order-photo")).to_be_visible()
    shot(operator, "servicedesk-report-photo-en")
    held = server.api("GET", f"/servicedesk/orders/{order_id}", server.token("op-a"))
    assert len(held["order"]["photo_sha256"]) == 64


def test_an_operator_finds_a_caller_by_phone_number_or_by_address(
    phone: Phone, server: Server
) -> None:
    operator = phone(locale="zh-CN").new_page()
    log_in(operator, "op-a", "/operator")
    operator.goto(f"{server.url}/operator/orders/new")
    search = operator.get_by_role("button", name="查找", exact=True).first  # the answers' is last
    operator.fill("input[name=q]", "E2E800")
    search.click()
    hits = operator.get_by_test_id("hits")
    expect(hits.get_by_role("listitem")).to_have_count(1)
    expect(hits).to_contain_text("周婷 · E2E800")
    operator.fill("input[name=q]", "天目山路 8")  # an address is searched only when asked
    search.click()
    expect(operator.get_by_text("未找到客户。")).to_be_visible()
    operator.locator("select[name=by]").select_option(label="地址")
    expect(operator.locator("input[name=q]")).to_have_attribute("placeholder", "地址中的文字")
    search.click()
    expect(hits.get_by_role("listitem")).to_have_count(1)
    expect(hits).to_contain_text("周婷 · E2E800")
    expect(hits).to_contain_text("天目山路 8 号")
    shot(operator, "servicedesk-intake-by-address-zh")
