"""WeChat Pay API v3 (微信支付 APIv3): payment notifications and the trade bill.

A notification is a JSON body whose ``resource`` is AEAD_AES_256_GCM ciphertext under the
merchant's 32-byte APIv3 key (nonce and associated data in the clear beside it). The request is
signed by WeChat Pay's platform private key: headers ``Wechatpay-Timestamp``, ``-Nonce``,
``-Signature`` (base64 SHA256withRSA) and ``-Serial`` (which platform certificate or public key
signed it); the signed message is ``timestamp\\nnonce\\nbody\\n`` over the raw body bytes. Verify
first, then decrypt; refuse a timestamp more than five minutes away. A verified notification is
answered HTTP 200 with ``{"code": "SUCCESS", "message": "成功"}``; anything else makes WeChat
Pay send it again (15 s, 15 s, 30 s, 3 min, … over about 24 h).

The trade bill (交易账单, ``GET /v3/bill/tradebill``) is CSV: a header row, detail rows whose
every field starts with a backtick, then a summary header (总交易单数, …) and summary row.
Amounts are yuan with two decimals; times are Beijing time.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

import msgspec
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from backend.prepaid.payments.providers import (
    Answer,
    Confirmation,
    Rejected,
    RejectReason,
    StatementLine,
    fen_of_yuan,
)

MAX_SKEW = timedelta(minutes=5)
BEIJING = ZoneInfo("Asia/Shanghai")
SUCCESS_EVENT = "TRANSACTION.SUCCESS"

Short = Annotated[str, msgspec.Meta(max_length=128)]


class Resource(msgspec.Struct, frozen=True):
    algorithm: Short
    ciphertext: Annotated[str, msgspec.Meta(max_length=16_384)]
    nonce: Short
    associated_data: Short = ""
    original_type: Short = ""


class Envelope(msgspec.Struct, frozen=True):
    id: Short
    create_time: Short
    event_type: Short
    resource_type: Short
    resource: Resource
    summary: Short = ""


class Amount(msgspec.Struct, frozen=True):
    total: int  # fen
    payer_total: int | None = None
    currency: Short = "CNY"
    payer_currency: Short = "CNY"


class Transaction(msgspec.Struct, frozen=True):
    """The decrypted ``resource`` of a payment notification (only the fields we use)."""

    mchid: Short
    out_trade_no: Short
    transaction_id: Short
    trade_state: Short
    success_time: Short
    amount: Amount
    appid: Short = ""


def signed_message(timestamp: str, nonce: str, body: bytes) -> bytes:
    return timestamp.encode() + b"\n" + nonce.encode() + b"\n" + body + b"\n"


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name) or headers.get(name.lower())
    if not value:
        raise Rejected(RejectReason.BAD_SIGNATURE, f"header {name} missing")
    return value


class WeChatPayV3:
    """Verifies notifications signed by one platform key (public key or certificate's key)."""

    def __init__(
        self, *, platform_key: rsa.RSAPublicKey, serial: str, apiv3_key: bytes, mchid: str
    ) -> None:
        if len(apiv3_key) != 32:
            raise ValueError("the WeChat Pay APIv3 key is 32 bytes")
        self.platform_key = platform_key
        self.serial = serial
        self.aead = AESGCM(apiv3_key)
        self.mchid = mchid

    def verify(self, headers: Mapping[str, str], body: bytes, now: datetime) -> Confirmation:
        timestamp = _header(headers, "Wechatpay-Timestamp")
        nonce = _header(headers, "Wechatpay-Nonce")
        signature = _header(headers, "Wechatpay-Signature")
        serial = _header(headers, "Wechatpay-Serial")
        if serial != self.serial:
            raise Rejected(RejectReason.BAD_SIGNATURE, f"unknown platform serial {serial[:40]!r}")
        try:
            raw_signature = base64.b64decode(signature, validate=True)
            self.platform_key.verify(
                raw_signature, signed_message(timestamp, nonce, body),
                padding.PKCS1v15(), hashes.SHA256(),
            )  # fmt: skip
        except (InvalidSignature, binascii.Error, ValueError):
            raise Rejected(RejectReason.BAD_SIGNATURE, "signature does not verify") from None
        if not timestamp.isascii() or not timestamp.isdigit():
            raise Rejected(RejectReason.MALFORMED, "Wechatpay-Timestamp is not a number")
        signed_at = datetime.fromtimestamp(int(timestamp), UTC)
        if abs(now - signed_at) > MAX_SKEW:
            raise Rejected(RejectReason.STALE, f"signed at {signed_at:%Y-%m-%dT%H:%M:%SZ}")
        try:
            envelope = msgspec.json.decode(body, type=Envelope)
        except msgspec.DecodeError as exc:
            raise Rejected(RejectReason.MALFORMED, str(exc)) from None
        if envelope.event_type != SUCCESS_EVENT:
            raise Rejected(RejectReason.NOT_PAID, f"event {envelope.event_type}")
        txn = self.decrypt(envelope.resource)
        if txn.mchid != self.mchid:
            raise Rejected(RejectReason.BAD_SIGNATURE, f"merchant {txn.mchid} is not ours")
        if txn.trade_state != "SUCCESS":
            raise Rejected(RejectReason.NOT_PAID, f"trade_state {txn.trade_state}")
        if txn.amount.currency != "CNY":
            raise Rejected(RejectReason.AMOUNT_MISMATCH, f"currency {txn.amount.currency}")
        try:
            paid_at = datetime.fromisoformat(txn.success_time).astimezone(UTC)
        except ValueError:
            raise Rejected(RejectReason.MALFORMED, "success_time is not RFC 3339") from None
        return Confirmation(
            order_no=txn.out_trade_no, provider_txn_id=txn.transaction_id,
            amount_fen=txn.amount.total, paid_at=paid_at,
            replay_key=f"{timestamp}:{nonce}"[:160],
        )  # fmt: skip

    def decrypt(self, resource: Resource) -> Transaction:
        if resource.algorithm != "AEAD_AES_256_GCM":
            raise Rejected(RejectReason.MALFORMED, f"algorithm {resource.algorithm}")
        try:
            plain = self.aead.decrypt(
                resource.nonce.encode(),
                base64.b64decode(resource.ciphertext, validate=True),
                resource.associated_data.encode() or None,
            )
            return msgspec.json.decode(plain, type=Transaction)
        except (InvalidTag, binascii.Error, ValueError, msgspec.DecodeError):
            raise Rejected(RejectReason.MALFORMED, "resource does not decrypt") from None

    def accepted(self) -> Answer:
        body = msgspec.json.encode({"code": "SUCCESS", "message": "成功"})
        return Answer(200, body, "application/json")

    def refused(self, reason: RejectReason) -> Answer:
        body = msgspec.json.encode({"code": "FAIL", "message": reason.value})
        status = 401 if reason in (RejectReason.BAD_SIGNATURE, RejectReason.STALE) else 400
        return Answer(status, body, "application/json")


# -- the trade bill (交易账单) ------------------------------------------------------------------

ORDER_NO, TXN_ID, TIME, STATE, TOTAL = (
    "商户订单号",
    "微信订单号",
    "交易时间",
    "交易状态",
    "订单金额",
)
SETTLED = "应结订单金额"  # older bills have 总金额 instead
SUMMARY = "总交易单数"


class BillError(ValueError):
    """The file is not a WeChat Pay trade bill; the message says where."""


def _field(value: str) -> str:
    value = value.strip()
    return value[1:] if value.startswith("`") else value


def parse_trade_bill(text: str) -> tuple[list[StatementLine], int]:
    """The successful payments of a trade bill (ALL or SUCCESS), and how many other detail
    rows (refunds, other states) were skipped."""
    lines = [ln for ln in text.lstrip("\ufeff").splitlines() if ln.strip()]
    if not lines:
        raise BillError("the file is empty")
    header = [h.strip() for h in lines[0].split(",")]
    total_col = TOTAL if TOTAL in header else SETTLED if SETTLED in header else "总金额"
    for needed in (ORDER_NO, TXN_ID, TIME, STATE, total_col):
        if needed not in header:
            raise BillError(f"line 1: column {needed} missing: not a WeChat Pay trade bill")
    col = {name: i for i, name in enumerate(header)}
    found: list[StatementLine] = []
    skipped = 0
    for number, line in enumerate(lines[1:], start=2):
        if line.lstrip().startswith(SUMMARY):
            break
        cells = [_field(c) for c in line.split(",")]
        if len(cells) < len(header):
            raise BillError(f"line {number}: {len(cells)} fields, the header has {len(header)}")
        if cells[col[STATE]] != "SUCCESS":
            skipped += 1
            continue
        try:
            local = datetime.strptime(cells[col[TIME]], "%Y-%m-%d %H:%M:%S")  # noqa: DTZ007
            amount = fen_of_yuan(cells[col[total_col]], total_col)
        except (ValueError, Rejected) as exc:
            raise BillError(f"line {number}: {exc}") from None
        found.append(
            StatementLine(
                order_no=cells[col[ORDER_NO]], provider_txn_id=cells[col[TXN_ID]],
                amount_fen=amount, paid_at=local.replace(tzinfo=BEIJING).astimezone(UTC),
            )
        )  # fmt: skip
    return found, skipped
