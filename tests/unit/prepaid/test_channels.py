"""Notice channels: Alibaba Cloud's request signature against its documented example, a send
checked by a stand-in server that verifies the signature as Alibaba does, WeChat's push
signature, and the startup rule: no automatic disconnects without a channel that confirms."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from backend.prepaid.channels import provider_for
from backend.prepaid.channels.aliyun_sms import AliyunSms, receipts_from, sign
from backend.prepaid.channels.wechat import push_is_genuine, push_signature
from backend.prepaid.models import Notice, NoticeChannel, NoticeKind, NoticeStatus
from backend.settings import SettingsError, load_settings


def test_the_rpc_signature_matches_alibabas_documented_example() -> None:
    params = {
        "TimeStamp": "2016-02-23T12:46:24Z", "Format": "XML", "AccessKeyId": "testid",
        "Action": "DescribeRegions", "SignatureMethod": "HMAC-SHA1",
        "SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf", "Version": "2014-05-26",
        "SignatureVersion": "1.0",
    }  # fmt: skip
    assert sign(params, "testsecret") == "CT9X0VtwR86fNWSnsc6v8YGOjuE="


CONFIG = {
    "aliyun_sms": {
        "access_key_id": "LTAI-test", "access_key_secret": "s3cret", "sign_name": "国网电力",
        "receipt_token": "tok", "templates": {"disconnect_warning": "SMS_900001"},
    }
}  # fmt: skip


def notice(**kw: object) -> Notice:
    fields = dict(id=7, account_id=1, episode=1, kind=NoticeKind.DISCONNECT_WARNING,
                  channel=NoticeChannel.SMS, recipient="13800000000", text="x",
                  balance_fen=-12345, status=NoticeStatus.PENDING,
                  planned_disconnect_at=datetime(2026, 5, 6, 2, tzinfo=UTC))  # fmt: skip
    return Notice(**{**fields, **kw})


async def test_an_sms_is_sent_signed_and_counts_as_sent_until_its_receipt() -> None:
    seen: list[dict[str, str]] = []

    def alibaba(request: httpx.Request) -> httpx.Response:
        query = dict(parse_qsl(urlsplit(str(request.url)).query))
        signature = query.pop("Signature")
        assert sign(query, "s3cret") == signature  # as the server checks it
        seen.append(query)
        return httpx.Response(200, json={"Code": "OK", "Message": "OK", "BizId": "900^1"})

    sms = AliyunSms(CONFIG, client=httpx.AsyncClient(transport=httpx.MockTransport(alibaba)))
    result = await sms.send(notice())
    assert (result.delivered, result.ref, result.error) == (False, "900^1", None)
    (q,) = seen
    assert (q["Action"], q["PhoneNumbers"], q["TemplateCode"], q["OutId"]) == (
        "SendSms", "13800000000", "SMS_900001", "7",
    )  # fmt: skip
    assert json.loads(q["TemplateParam"]) == {"balance": "-123.45", "time": "2026-05-06 10:00"}


async def test_an_sms_the_provider_refuses_is_failed_with_its_code() -> None:
    def alibaba(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"Code": "isv.MOBILE_NUMBER_ILLEGAL", "Message": "bad"})

    sms = AliyunSms(CONFIG, client=httpx.AsyncClient(transport=httpx.MockTransport(alibaba)))
    result = await sms.send(notice())
    assert (result.delivered, result.error) == (False, "isv.MOBILE_NUMBER_ILLEGAL: bad")
    missing = await sms.send(notice(kind=NoticeKind.LOW_BALANCE))
    assert missing.error == "no SMS template for low_balance"


def test_sms_reports_become_receipts_in_beijing_time() -> None:
    (ok, bad) = receipts_from([
        {"biz_id": "1", "success": True, "report_time": "2026-05-05 10:00:00"},
        {"biz_id": "2", "success": False, "report_time": "2026-05-05 10:00:00",
         "err_code": "MK:0001"},
    ])  # fmt: skip
    assert (ok.ref, ok.delivered, ok.at) == ("1", True, datetime(2026, 5, 5, 2, tzinfo=UTC))
    assert (bad.delivered, bad.error) == (False, "MK:0001")


def test_a_wechat_push_is_genuine_only_with_the_right_signature() -> None:
    good = push_signature("tok", "1714900000", "nonce1")
    assert push_is_genuine("tok", good, "1714900000", "nonce1")
    assert not push_is_genuine("tok", good, "1714900001", "nonce1")
    assert not push_is_genuine("other", good, "1714900000", "nonce1")


def test_automatic_disconnects_refuse_to_start_with_the_log_provider(tmp_path: Path) -> None:
    settings = load_settings(env={}, data_dir=str(tmp_path), prepaid_auto_disconnect=True)
    with pytest.raises(SettingsError, match="cannot confirm that a disconnect warning reached"):
        provider_for(settings)
    assert provider_for(load_settings(env={}, data_dir=str(tmp_path))).delivers is False  # type: ignore[attr-defined]


def test_automatic_disconnects_start_with_a_channel_that_confirms(tmp_path: Path) -> None:
    config = tmp_path / "channels.toml"
    config.write_text(
        '[aliyun_sms]\naccess_key_id = "a"\naccess_key_secret = "b"\nsign_name = "c"\n'
        'receipt_token = "d"\n[aliyun_sms.templates]\ndisconnect_warning = "SMS_1"\n'
    )
    for name in ("simulated", "aliyun_sms"):
        settings = load_settings(
            env={}, data_dir=str(tmp_path), prepaid_auto_disconnect=True,
            notification_provider=name, notification_config=str(config),
        )  # fmt: skip
        assert provider_for(settings).delivers is True  # type: ignore[attr-defined]
    broken = load_settings(env={}, data_dir=str(tmp_path), notification_provider="wechat",
                           notification_config=str(config))  # fmt: skip
    with pytest.raises(SettingsError, match=r"a \[wechat\] section is needed"):
        provider_for(broken)
