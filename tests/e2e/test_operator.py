"""The operator's disconnect review: the queue with each account's policy explanation, a bulk
disconnect requested by one operator and approved by another (four-eyes), its commands then
visible with their live state; a supervisor resolves a field flag."""

from __future__ import annotations

import re
import time
import urllib.error
import uuid

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import Phone, Server, log_in, shot
from tests.support.e2e_commands import agent_executes

pytestmark = pytest.mark.e2e

ENGLISH = re.compile(r"[A-Za-z]{2,}(?:[ ,:;]+[A-Za-z]{2,}){2,}")  # three English words in a row


def test_operators_review_the_disconnect_queue_and_approve_a_bulk_disconnect(
    phone: Phone, server: Server
) -> None:
    debtor = server.seeded.debtors[1]
    a = phone(locale="zh-CN").new_page()
    log_in(a, "op-a", "/operator")
    queue = a.get_by_test_id("queue")
    entry = queue.get_by_role("listitem").filter(has_text=debtor.account)
    expect(entry).to_contain_text(debtor.name)
    expect(entry).to_contain_text("-¥123.45")
    expect(entry.get_by_role("list", name="原因").get_by_role("listitem")).not_to_have_count(0)
    expect(entry).to_contain_text("欠费")
    why = entry.get_by_role("list", name="原因")
    expect(why).to_contain_text("余额 -¥123.45 低于停电阈值 ¥0.00")
    shot(a, "operator-queue-zh")
    # the policy's reasons are worded from their codes: none of the server's English shows
    queue_api = server.api("GET", "/prepaid/disconnect-queue?limit=100", server.token("op-a"))
    (item,) = [i for i in queue_api["items"] if i["account_number"] == debtor.account]
    shown = why.inner_text()
    assert [r["message"] for r in item["policy"]["reasons"] if r["message"] in shown] == []
    assert ENGLISH.findall(shown) == []

    entry.get_by_role("checkbox").check()
    a.fill("input[name=reason]", "欠费超过 100 元，已发停电预告")
    # no delivered warning yet: the policy blocks it, so only an override with a reason
    a.fill("input[name=override_reason]", "客户书面确认已收到停电通知")
    a.get_by_role("button", name="提交审批（1 户）").click()
    expect(a.get_by_test_id("queue-message")).to_contain_text("等待另一位操作员审批")
    approvals = a.get_by_test_id("approvals")
    expect(approvals).to_contain_text("这是您提交的批次")  # the requester cannot approve
    expect(approvals.get_by_role("button", name="批准")).to_have_count(0)

    b = phone(locale="en").new_page()
    log_in(b, "op-b", "/operator")
    batch = b.get_by_test_id("approvals").get_by_role("listitem").first
    expect(batch).to_contain_text("Disconnect × 1")
    expect(batch).to_contain_text("M-DEBT-2")
    expect(batch).to_contain_text(debtor.name)
    expect(batch).to_contain_text("学院路 2 号")
    expect(batch).to_contain_text("Owes")
    expect(batch).to_contain_text("¥123.45")
    expect(batch.get_by_test_id("verdict").first).to_contain_text("Policy blocks it")
    shot(b, "operator-approval-en")
    approve = batch.get_by_role("button", name="Approve as override")
    expect(approve).to_be_disabled()  # not without the explicit override and a comment
    batch.get_by_role("checkbox", name="I override the disconnect policy").check()
    batch.get_by_label("Why you override it").fill("Customer confirmed the notice in writing")
    approve.click()
    expect(b.get_by_test_id("approval-message")).to_have_text("Approved: 1 commands queued.")

    b.get_by_role("link", name="Arrears", exact=True).click()
    expect(b.get_by_test_id("arrears")).to_contain_text(debtor.name)
    expect(b.get_by_test_id("arrears")).to_contain_text("-¥123.45")

    b.get_by_role("link", name="Commands", exact=True).click()
    command = b.get_by_test_id("commands").get_by_role("listitem").filter(has_text="M-DEBT-2")
    expect(command).to_contain_text("Disconnect")
    expect(command.get_by_test_id("command-state")).not_to_have_text("Awaiting approval")
    shot(b, "operator-commands-en")

    token = server.token("op-b")
    commands = server.api("GET", "/commands?limit=50", token)["items"]
    mine = [c for c in commands if c["meter_id"] == "M-DEBT-2"]
    assert [(c["kind"], c["actor"], c["approver"]) for c in mine] == [
        ("disconnect", "op-a", "op-b")
    ]


def test_operator_sees_offline_meters_and_the_collection_rate(phone: Phone, server: Server) -> None:
    page = phone(locale="en").new_page()
    log_in(page, "op-a", "/operator")
    page.get_by_role("link", name="Offline meters", exact=True).click()
    expect(page.get_by_test_id("offline-meters")).to_contain_text("M-DEBT-1")
    page.get_by_role("link", name="Collection", exact=True).click()
    expect(page.get_by_test_id("rate")).to_be_visible()
    shot(page, "operator-rate-en")


def test_supervisor_resolves_a_field_flag(phone: Phone, server: Server) -> None:
    stop = server.seeded.rounds["track"].stops[1]
    now = int(time.time() * 1000)
    reading = {
        "client_id": str(uuid.uuid4()),
        "meter_id": stop.meter_id,
        "registers": {"energy_import": 1_000_000},
        "fix": {"latitude": stop.lat, "longitude": stop.lon, "accuracy_m": 95.0, "fix_at": now},
        "device_at": now,
    }
    sent = server.api("POST", "/field/readings", server.token("insp-track"), reading)
    assert [f["kind"] for f in sent["flags"]] == ["poor_accuracy"]

    page = phone(locale="en").new_page()
    log_in(page, "sup", "/operator")
    page.get_by_role("link", name="Field flags", exact=True).click()
    flag = (
        page.get_by_test_id("review-flags").get_by_role("listitem").filter(has_text=stop.meter_id)
    )
    expect(flag).to_contain_text("Poor GPS accuracy")
    shot(page, "supervisor-flags-en")
    flag.get_by_label("What you found").fill("Met the inspector: cellar, no sky view")
    flag.get_by_role("button", name="Resolve").click()
    expect(page.get_by_test_id("review-flags").filter(has_text=stop.meter_id)).to_have_count(0)

    open_flags = server.api("GET", f"/field/flags?meter_id={stop.meter_id}", server.token("sup"))
    assert open_flags == []


def test_one_meter_disconnect_is_ordered_approved_by_a_second_operator_and_executed(
    phone: Phone, server: Server
) -> None:
    debtor = server.seeded.debtors[0]
    a = phone(locale="zh-CN").new_page()
    log_in(a, "op-a", "/operator")
    a.get_by_role("link", name="指令", exact=True).click()
    a.fill("input[name=meter]", "M-DEBT-1")
    a.select_option("select[name=kind]", "disconnect")
    a.fill("input[name=reason]", "欠费 50 元，客户拒不缴费")
    a.get_by_role("button", name="下发").click()
    expect(a.get_by_test_id("order-message")).to_contain_text("越权理由")  # the policy blocks it
    a.fill("input[name=override_reason]", "客户书面同意停电检修")
    a.get_by_role("button", name="下发").click()
    expect(a.get_by_test_id("order-message")).to_contain_text("等待另一人审批")
    shot(a, "operator-order-zh")

    # four-eyes: the requester sees the card but cannot approve it, in the app or the API
    a.get_by_role("link", name="停电审核", exact=True).click()
    own = a.get_by_test_id("command-approvals").get_by_role("listitem").filter(has_text="M-DEBT-1")
    expect(own).to_contain_text("需要另一位操作员审批")
    # the policy's verdict in the operator's language, from its codes: no English sentence
    expect(own.get_by_test_id("verdict")).to_contain_text("尚未送达停电预警")
    expect(own.get_by_test_id("verdict")).not_to_contain_text("warning")
    expect(own.get_by_role("button")).to_have_count(0)
    (cmd,) = [
        c for c in server.api("GET", "/commands?state=awaiting_approval", server.token("op-a"))[
            "items"] if c["meter_id"] == "M-DEBT-1"
    ]  # fmt: skip
    with pytest.raises(urllib.error.HTTPError) as refused:
        server.api("POST", f"/commands/{cmd['id']}/approve", server.token("op-a"),
                   {"comment": "my own", "override": True})  # fmt: skip
    assert refused.value.code == 403

    b = phone(locale="en").new_page()
    log_in(b, "op-b", "/operator")
    card = b.get_by_test_id("command-approvals").get_by_role("listitem").filter(has_text="M-DEBT-1")
    expect(card).to_contain_text(debtor.name)
    expect(card).to_contain_text("学院路 1 号")
    expect(card).to_contain_text("¥50.00")
    expect(card.get_by_test_id("verdict")).to_contain_text("Warning given")
    expect(card.get_by_test_id("verdict")).to_contain_text("No disconnect warning delivered yet")
    expect(card).to_contain_text("Override requested: 客户书面同意停电检修")
    shot(b, "operator-command-approval-en")
    card.get_by_role("checkbox", name="I override the disconnect policy").check()
    card.get_by_label("Why you override it").fill("Checked the written consent")
    card.get_by_role("button", name="Approve as override").click()
    expect(b.get_by_test_id("approval-message")).to_have_text("Approved: 1 commands queued.")

    agent_executes(server.database_url, str(cmd["id"]))  # the concentrator's acks
    b.goto(f"/operator/commands/{cmd['id']}")
    expect(b.get_by_test_id("detail-state")).to_have_text("Verified")
    timeline = b.get_by_test_id("audit")
    expect(timeline.get_by_role("listitem")).to_have_count(5)  # ordered … verified
    expect(timeline).to_contain_text("Approved · op-b")
    expect(timeline).to_contain_text("Executed")
    # the approver's own words are shown; the log's English detail is not
    expect(timeline).to_contain_text("Checked the written consent")
    expect(timeline).not_to_contain_text("override approved")
    shot(b, "operator-command-detail-en")


def test_an_operator_sees_a_held_reading_in_chinese_and_rejects_it(
    phone: Phone, server: Server
) -> None:
    stop = server.seeded.rounds["held"].stops[0]
    now = int(time.time() * 1000)
    reading = {
        "client_id": str(uuid.uuid4()),
        "meter_id": stop.meter_id,
        "registers": {"energy_import": 10**13},  # ten trillion Wh: no register counts so far
        "fix": {"latitude": stop.lat, "longitude": stop.lon, "accuracy_m": 5.0, "fix_at": now},
        "device_at": now,
    }
    server.api("POST", "/field/readings", server.token("insp-held"), reading)

    page = phone(locale="zh-CN").new_page()
    log_in(page, "op-a", "/operator")
    page.get_by_role("link", name="待审读数", exact=True).click()
    held = (
        page.get_by_test_id("held-readings").get_by_role("listitem").filter(has_text=stop.meter_id)
    )
    expect(held).to_contain_text("超出任何寄存器的量程")
    expect(held).to_contain_text("现场抄表")
    assert ENGLISH.findall(held.inner_text()) == []
    shot(page, "operator-held-zh")
    held.get_by_label("原因（必填）").fill("多输入了几个 0，已通知抄表员重抄")
    held.get_by_role("button", name="驳回（不计费）").click()
    expect(page.get_by_test_id("held-readings").filter(has_text=stop.meter_id)).to_have_count(0)

    token = server.token("op-a")
    decided = server.api("GET", f"/quarantine?status=rejected&meter_id={stop.meter_id}", token)
    assert [(h["value"], h["status"]) for h in decided] == [(10**13, "rejected")]
