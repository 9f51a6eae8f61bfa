"""Alibaba Cloud SMS (阿里云短信服务): ``SendSms`` over its RPC API with the HMAC-SHA1 request
signature, and its delivery reports (SmsReport, pushed to our HTTP endpoint).

Signature (RPC style, version 1.0): sort the parameters, percent-encode names and values
(RFC 3986: only ``A-Za-z0-9-_.~`` stay), join as ``k=v&…``; the string to sign is
``GET&%2F&`` + percent-encode(that query); the signature is base64(HMAC-SHA1(secret + "&",
string to sign)). The golden vector from Alibaba's documentation is in the tests.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import httpx

from backend.prepaid.channels.base import Receipt, section
from backend.prepaid.models import Notice
from backend.prepaid.notices import Delivery

ENDPOINT = "https://dysmsapi.aliyuncs.com/"
VERSION = "2017-05-25"
CHINA = ZoneInfo("Asia/Shanghai")  # report times are Beijing time, without a zone


def percent_encode(text: str) -> str:
    return quote(text, safe="-_.~")


def sign(params: Mapping[str, str], secret: str, method: str = "GET") -> str:
    query = "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in sorted(params.items()))
    to_sign = f"{method}&{percent_encode('/')}&{percent_encode(query)}"
    digest = hmac.new(f"{secret}&".encode(), to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def signed_query(
    params: Mapping[str, str], key_id: str, secret: str, *, now: datetime, nonce: str
) -> dict[str, str]:
    full = {
        "AccessKeyId": key_id, "Format": "JSON", "SignatureMethod": "HMAC-SHA1",
        "SignatureNonce": nonce, "SignatureVersion": "1.0",
        "Timestamp": now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "Version": VERSION,
        **params,
    }  # fmt: skip
    return {**full, "Signature": sign(full, secret)}


class AliyunSms:
    """``[aliyun_sms]``: access_key_id, access_key_secret, sign_name, receipt_token,
    ``[aliyun_sms.templates]`` one template code per notice kind; optional endpoint."""

    name = "aliyun_sms"
    delivers = True

    def __init__(self, config: dict[str, Any], client: httpx.AsyncClient | None = None) -> None:
        c = section(config, "aliyun_sms", "access_key_id", "access_key_secret", "sign_name",
                    "receipt_token", "templates")  # fmt: skip
        self.key_id, self.secret = str(c["access_key_id"]), str(c["access_key_secret"])
        self.sign_name, self.receipt_token = str(c["sign_name"]), str(c["receipt_token"])
        self.templates: dict[str, str] = {str(k): str(v) for k, v in c["templates"].items()}
        self.endpoint = str(c.get("endpoint", ENDPOINT))
        self.client = client or httpx.AsyncClient(timeout=10)

    async def send(self, notice: Notice) -> Delivery:
        template = self.templates.get(notice.kind.value)
        if template is None:
            return Delivery(False, error=f"no SMS template for {notice.kind.value}")
        if not notice.recipient:
            return Delivery(False, error="the customer has no phone number")
        params = {
            "Action": "SendSms", "RegionId": "cn-hangzhou", "PhoneNumbers": notice.recipient,
            "SignName": self.sign_name, "TemplateCode": template, "OutId": str(notice.id),
            "TemplateParam": json.dumps(template_params(notice), ensure_ascii=False),
        }  # fmt: skip
        query = signed_query(params, self.key_id, self.secret, now=datetime.now(UTC),
                             nonce=uuid.uuid4().hex)  # fmt: skip
        r = await self.client.get(self.endpoint, params=query)
        body = r.json()
        if body.get("Code") != "OK":  # refused: recorded as failed, with the provider's code
            return Delivery(False, error=f"{body.get('Code')}: {body.get('Message')}")
        return Delivery(False, ref=str(body["BizId"]))  # sent; delivered on the receipt


def template_params(notice: Notice) -> dict[str, str]:
    """Codes and numbers, never sentences: the template (approved by the carrier) words them."""
    fen = notice.balance_fen
    params = {"balance": f"{'-' if fen < 0 else ''}{abs(fen) // 100}.{abs(fen) % 100:02d}"}
    if notice.planned_disconnect_at is not None:
        params["time"] = f"{notice.planned_disconnect_at.astimezone(CHINA):%Y-%m-%d %H:%M}"
    return params


def receipts_from(reports: list[dict[str, Any]]) -> list[Receipt]:
    """SmsReport push: ``[{"biz_id", "success", "err_code", "report_time", …}, …]``."""
    out = []
    for r in reports:
        at = datetime.strptime(str(r["report_time"]), "%Y-%m-%d %H:%M:%S").replace(tzinfo=CHINA)
        ok = bool(r["success"])
        out.append(Receipt(str(r["biz_id"]), ok, at, None if ok else str(r.get("err_code"))))
    return out
