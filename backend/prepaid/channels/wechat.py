"""WeChat subscription messages (订阅消息) and template messages (模板消息), with their delivery
events: ``subscribe_msg_sent_event`` / ``TEMPLATESENDJOBFINISH`` pushed to our endpoint, which
checks WeChat's signature (sha1 of the sorted token, timestamp and nonce).

The recipient of a WeChat notice is the customer's openid (from their subscription); a notice
without one fails with that reason rather than pretending to be sent.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from datetime import UTC, datetime
from typing import Any

import httpx

from backend.prepaid.channels.aliyun_sms import template_params
from backend.prepaid.channels.base import Receipt, section
from backend.prepaid.models import Notice
from backend.prepaid.notices import Delivery

API = "https://api.weixin.qq.com"


def push_signature(token: str, timestamp: str, nonce: str) -> str:
    joined = "".join(sorted([token, timestamp, nonce])).encode()
    return hashlib.sha1(joined).hexdigest()  # noqa: S324 - SHA-1 is what WeChat signs with


def push_is_genuine(token: str, signature: str, timestamp: str, nonce: str) -> bool:
    return hmac.compare_digest(push_signature(token, timestamp, nonce), signature)


class WeChat:
    """``[wechat]``: app_id, app_secret, token (the push token), ``[wechat.templates]`` one
    template id per notice kind; optional api base."""

    name = "wechat"
    delivers = True

    def __init__(self, config: dict[str, Any], client: httpx.AsyncClient | None = None) -> None:
        c = section(config, "wechat", "app_id", "app_secret", "token", "templates")
        self.app_id, self.app_secret, self.token = (
            str(c["app_id"]), str(c["app_secret"]), str(c["token"]),
        )  # fmt: skip
        self.templates: dict[str, str] = {str(k): str(v) for k, v in c["templates"].items()}
        self.api = str(c.get("api", API))
        self.client = client or httpx.AsyncClient(timeout=10)
        self._token: tuple[str, float] | None = None

    async def _access_token(self) -> str:
        if self._token is None or self._token[1] <= time.monotonic():
            r = await self.client.get(
                f"{self.api}/cgi-bin/token",
                params={"grant_type": "client_credential", "appid": self.app_id,
                        "secret": self.app_secret},
            )  # fmt: skip
            body = r.json()
            if "access_token" not in body:
                raise RuntimeError(f"WeChat token: {body.get('errcode')} {body.get('errmsg')}")
            ttl = int(body.get("expires_in", 7200)) - 300  # renew well before it lapses
            self._token = (str(body["access_token"]), time.monotonic() + ttl)
        return self._token[0]

    async def send(self, notice: Notice) -> Delivery:
        template = self.templates.get(notice.kind.value)
        if template is None:
            return Delivery(False, error=f"no WeChat template for {notice.kind.value}")
        if not notice.recipient or notice.recipient.isdigit():
            return Delivery(False, error="the customer has no WeChat openid")
        data = {k: {"value": v} for k, v in template_params(notice).items()}
        r = await self.client.post(
            f"{self.api}/cgi-bin/message/subscribe/send",
            params={"access_token": await self._access_token()},
            json={"touser": notice.recipient, "template_id": template, "data": data},
        )
        body = r.json()
        if body.get("errcode", 0) != 0:
            return Delivery(False, error=f"{body.get('errcode')}: {body.get('errmsg')}")
        return Delivery(False, ref=str(body["msgid"]))


def receipts_from(event: dict[str, Any]) -> list[Receipt]:
    """A pushed event (JSON): the subscription message's list, or one template message."""
    at = datetime.fromtimestamp(int(event.get("CreateTime", time.time())), UTC)
    if event.get("Event") == "subscribe_msg_sent_event":
        items = event.get("List") or []
        items = items if isinstance(items, list) else [items]
        return [
            Receipt(str(i["MsgID"]), str(i.get("ErrorCode")) == "0", at,
                    None if str(i.get("ErrorCode")) == "0" else str(i.get("ErrorStatus")))
            for i in items
        ]  # fmt: skip
    if event.get("Event") == "TEMPLATESENDJOBFINISH":
        ok = event.get("Status") == "success"
        return [Receipt(str(event["MsgID"]), ok, at, None if ok else str(event.get("Status")))]
    return []
