"""Payment provider adapters: each turns a provider's signed notification into a
:class:`Confirmation` or refuses it with a :class:`Rejected` naming the reason, and knows how to
answer the provider. Pure functions of (headers, body, keys, now): no database, no network.

The adapters follow the providers' published formats and use ``cryptography`` for RSA and
AES-GCM. No SDK is used: the official Alipay SDK pulls in a large generated client and
pycryptodome, and the WeChat Pay v3 SDKs on PyPI are unofficial, synchronous and fetch
certificates over the network when built; the notification checks are a few lines each.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Protocol

import msgspec

_YUAN = re.compile(r"([0-9]{1,12})(?:\.([0-9]{1,2}))?")


class RejectReason(enum.StrEnum):
    BAD_SIGNATURE = "bad_signature"  # signature, certificate serial or merchant id wrong
    STALE = "stale"  # signed too long ago (or in the future): a replay or a wrong clock
    REPLAY = "replay"  # this exact signed notification was received before
    MALFORMED = "malformed"  # not the provider's format, or cannot be decrypted
    NOT_PAID = "not_paid"  # a notification of another event or trade state
    UNKNOWN_ORDER = "unknown_order"  # no such order here
    AMOUNT_MISMATCH = "amount_mismatch"  # the provider's amount is not the order's
    EXPIRED = "expired"  # paid after the order expired
    WRONG_PROVIDER = "wrong_provider"  # the order was placed with another provider
    ALREADY_PAID = "already_paid"  # the order was paid by another transaction: reconcile


class Rejected(Exception):
    def __init__(self, reason: RejectReason, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail


class Confirmation(msgspec.Struct, frozen=True):
    """What a verified notification says: this order was paid this much at this time."""

    order_no: str  # our out_trade_no
    provider_txn_id: str  # the provider's transaction number
    amount_fen: int
    paid_at: datetime
    replay_key: str | None  # unique per signed delivery, when the format has one


class Answer(msgspec.Struct, frozen=True):
    status: int
    body: bytes
    media_type: str


class Provider(Protocol):
    def verify(self, headers: Mapping[str, str], body: bytes, now: datetime) -> Confirmation:
        """The confirmation, or raise :class:`Rejected`."""
        ...

    def accepted(self) -> Answer:
        """The answer that tells the provider to stop sending this notification."""
        ...

    def refused(self, reason: RejectReason) -> Answer:
        """The answer to a refused notification."""
        ...


class StatementLine(msgspec.Struct, frozen=True):
    """One successful payment in a provider's statement (对账单)."""

    order_no: str
    provider_txn_id: str
    amount_fen: int
    paid_at: datetime


def fen_of_yuan(text: str, field: str) -> int:
    """ "12.30" yuan → 1230 fen, exactly; anything else (more decimals, signs, exponents) is
    refused rather than rounded."""
    found = _YUAN.fullmatch(text.strip())
    if found is None:
        raise Rejected(RejectReason.MALFORMED, f"{field}: {text!r} is not an amount in yuan")
    return int(found[1]) * 100 + int((found[2] or "0").ljust(2, "0"))
