"""What the issued-bill and arrears endpoints answer."""

from __future__ import annotations

from datetime import date, datetime

import msgspec

from backend.tariffs.bill import BillLine


class IssuedBillOut(msgspec.Struct):
    id: int
    number: str
    account_id: int
    month: str
    revision: int
    lines: list[BillLine]
    exact_cny: str
    total_fen: int
    energy_wh: int
    due_on: date
    issued_at: datetime
    paid_fen: int  # allocated to this bill from the account's payments, oldest bill first
    owed_fen: int  # total - paid
    paid: bool
    late_fee_fen: int  # 违约金 posted for this bill so far
    superseded: bool = False  # a later revision of the month replaced it (owed there)
    previous_fen: int | None = None  # a revision: the total of the revision it replaced


class IssuedBillsOut(msgspec.Struct):
    items: list[IssuedBillOut]
    owed_fen: int
    late_fee_fen: int


class Ageing(msgspec.Struct):
    """Unpaid bill amounts by days past due: 1–30, 31–60, 61–90, over 90."""

    d0_30_fen: int = 0
    d31_60_fen: int = 0
    d61_90_fen: int = 0
    over_90_fen: int = 0
    late_fee_fen: int = 0
    total_fen: int = 0


class ArrearsRow(msgspec.Struct):
    account_id: int
    account_number: str
    customer_name: str
    grid_id: int | None
    transformer_area_id: int | None
    oldest_due_on: date
    days_past_due: int
    ageing: Ageing


class ArrearsGroup(msgspec.Struct):
    id: int | None  # the grid's or transformer area's id; null: accounts without one
    accounts: int
    ageing: Ageing


class ArrearsOut(msgspec.Struct):
    on: date
    items: list[ArrearsRow]
    total: int
    limit: int
    offset: int
    by_grid: list[ArrearsGroup]
    by_area: list[ArrearsGroup]
    ageing: Ageing


class IssueOut(msgspec.Struct):
    month: str
    issued: int
    already: int
