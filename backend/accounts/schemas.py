"""API shapes of customers and accounts."""

from __future__ import annotations

from datetime import date, datetime

import msgspec

from backend.accounts.models import AccountKind, CustomerCategory, Language


class CustomerOut(msgspec.Struct):
    id: int
    number: str  # 户号
    name: str
    phone: str
    category: CustomerCategory
    address: str
    latitude: float | None
    longitude: float | None
    grid_id: int | None
    transformer_area_id: int | None
    protected: bool
    key_account_class: int | None
    language: Language = Language.ZH_CN  # notices are worded in it


class CustomerPage(msgspec.Struct):
    items: list[CustomerOut]
    total: int
    limit: int
    offset: int


class AccountOut(msgspec.Struct):
    id: int
    number: str
    customer_id: int
    kind: AccountKind
    balance_fen: int
    credit_limit_fen: int
    cycle_start: date | None
    opened_at: datetime
    closed_at: datetime | None = None  # 销户


class MeterRef(msgspec.Struct):
    id: int
    meter_id: str
    status: str
    account_id: int | None


class CustomerDetail(msgspec.Struct):
    customer: CustomerOut
    accounts: list[AccountOut]
    meters: list[MeterRef]


class LanguageIn(msgspec.Struct, forbid_unknown_fields=True):
    """``PUT /api/customers/{id}/language``: the language the customer is written to."""

    language: Language
