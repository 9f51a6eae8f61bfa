"""Alipay (支付宝) asynchronous notifications, RSA2.

Alipay POSTs ``application/x-www-form-urlencoded`` parameters to the notify_url. To verify: drop
``sign`` and ``sign_type``, URL-decode the rest, sort by name, join as ``k=v&k=v`` (empty values
left out) and check ``sign`` (base64) with SHA256withRSA against Alipay's public key
(``sign_type=RSA2``; the old RSA-SHA1 is refused). Then check ``app_id`` is ours and
``trade_status`` is ``TRADE_SUCCESS`` or ``TRADE_FINISHED``; ``total_amount`` is yuan with at
most two decimals; ``gmt_payment`` is Beijing time. A processed notification is answered with
the seven characters ``success``; anything else makes Alipay send it again (8 times in 25 h).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from backend.prepaid.payments.providers import (
    Answer,
    Confirmation,
    Rejected,
    RejectReason,
    fen_of_yuan,
)

BEIJING = ZoneInfo("Asia/Shanghai")
PAID = ("TRADE_SUCCESS", "TRADE_FINISHED")


def content_to_sign(params: Mapping[str, str]) -> bytes:
    pairs = sorted((k, v) for k, v in params.items() if k not in ("sign", "sign_type") and v)
    return "&".join(f"{k}={v}" for k, v in pairs).encode()


class AlipayRSA2:
    def __init__(self, *, alipay_public_key: rsa.RSAPublicKey, app_id: str) -> None:
        self.key = alipay_public_key
        self.app_id = app_id

    def verify(self, headers: Mapping[str, str], body: bytes, now: datetime) -> Confirmation:
        try:
            pairs = parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=True)
        except (UnicodeDecodeError, ValueError):
            raise Rejected(RejectReason.MALFORMED, "not a form-encoded body") from None
        params = dict(pairs)
        if len(params) != len(pairs):
            raise Rejected(RejectReason.MALFORMED, "a parameter appears twice")
        if params.get("sign_type") != "RSA2":
            raise Rejected(RejectReason.BAD_SIGNATURE, "sign_type must be RSA2")
        try:
            self.key.verify(
                base64.b64decode(params.get("sign", ""), validate=True),
                content_to_sign(params), padding.PKCS1v15(), hashes.SHA256(),
            )  # fmt: skip
        except (InvalidSignature, binascii.Error, ValueError):
            raise Rejected(RejectReason.BAD_SIGNATURE, "signature does not verify") from None
        if params.get("app_id") != self.app_id:
            raise Rejected(RejectReason.BAD_SIGNATURE, f"app_id {params.get('app_id')} not ours")
        if params.get("trade_status") not in PAID:
            raise Rejected(RejectReason.NOT_PAID, f"trade_status {params.get('trade_status')}")
        for name in ("out_trade_no", "trade_no", "total_amount", "gmt_payment"):
            if not params.get(name):
                raise Rejected(RejectReason.MALFORMED, f"{name} missing")
        try:
            local = datetime.strptime(params["gmt_payment"], "%Y-%m-%d %H:%M:%S")  # noqa: DTZ007
        except ValueError:
            raise Rejected(RejectReason.MALFORMED, "gmt_payment is not a time") from None
        return Confirmation(
            order_no=params["out_trade_no"], provider_txn_id=params["trade_no"],
            amount_fen=fen_of_yuan(params["total_amount"], "total_amount"),
            paid_at=local.replace(tzinfo=BEIJING).astimezone(UTC),
            replay_key=None,  # Alipay re-sends the same signed parameters: the order decides
        )  # fmt: skip

    def accepted(self) -> Answer:
        return Answer(200, b"success", "text/plain")

    def refused(self, reason: RejectReason) -> Answer:
        return Answer(400, b"failure", "text/plain")
