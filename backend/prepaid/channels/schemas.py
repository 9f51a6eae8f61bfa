"""Delivery reports as the providers push them (their own field names)."""

from __future__ import annotations

from typing import Annotated

import msgspec

Text = Annotated[str, msgspec.Meta(max_length=200)]


class AliyunReport(msgspec.Struct):
    """One SmsReport entry (unknown fields are the provider's and ignored)."""

    biz_id: Text
    success: bool
    report_time: Text
    err_code: Text = ""
    phone_number: Text = ""
    out_id: Text = ""


class ReceiptAnswer(msgspec.Struct):
    """What Alibaba expects back: code 0 accepts the reports."""

    code: int
    msg: str
    applied: int
