"""Tariffs over HTTP: the tariffs in force, an account's assignments, its current tier."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import msgspec

from backend.accounts.models import CustomerCategory
from backend.tariffs.model import SCHEDULE_KEY, Cycle, Period

ScheduleKey = Annotated[str, msgspec.Meta(pattern=f"^{SCHEDULE_KEY.pattern}$")]


class SeasonOut(msgspec.Struct):
    months: list[int]
    tiers_wh: list[int]


class TariffOut(msgspec.Struct):
    code: str
    name: str
    category: CustomerCategory
    schedule: str  # the schedule key accounts are assigned to
    effective_from: date
    until: date | None  # last day before the schedule's next tariff; None: open-ended
    cycle: Cycle
    tiers_wh: list[int]  # thresholds, ascending
    periods: list[Period]  # the TOU periods of the day; ["flat"] without TOU
    prices: dict[str, list[str]]  # period -> price per tier, CNY/kWh as exact decimal strings
    flat_only: bool
    seasons: list[SeasonOut] = []  # tier thresholds by month (monthly cycles)
    basic_charge_per: str = ""  # two-part: "kva" (capacity) or "kw" (demand); "" single-part
    basic_charge_price: str | None = None  # CNY per kVA or kW a month
    power_factor_target: str | None = None  # 力调电费 table: 0.90, 0.85 or 0.80


class TariffsInForce(msgspec.Struct):
    on: date  # the local day asked about
    items: list[TariffOut]


class AssignmentIn(msgspec.Struct, forbid_unknown_fields=True):
    schedule: ScheduleKey
    effective_from: date  # local day; billing switches at its 00:00 local time


class AssignmentOut(msgspec.Struct):
    id: int
    account_id: int
    schedule: str
    effective_from: date
    assigned_by: str
    assigned_at: datetime


class AssignmentsOut(msgspec.Struct):
    account_id: int
    default_schedule: str  # followed before the first assignment: the category's
    current_schedule: str  # the one in force today
    items: list[AssignmentOut]  # by effective date


class TierOut(msgspec.Struct):
    """Where the account stands in its tiers today (阶梯, R42)."""

    account_id: int
    tariff: str  # code
    tariff_name: str
    cycle: Cycle
    cycle_start: date
    cycle_end: date  # last day of this cycle
    tier: int  # 1-based: 第一档 = 1
    tiers: int  # 1 when the tariff has no tiers
    used_wh: int
    next_threshold_wh: int | None  # None on the last tier
    left_wh: int | None  # Wh left in the current tier; None on the last tier
    price: str  # CNY/kWh of the current tier, flat period (exact decimal)


class TermsIn(msgspec.Struct, forbid_unknown_fields=True):
    """The account's tier terms, all of them (PUT replaces): its 年阶梯 cycle start (null:
    calendar years), the household-size allowance (一户多人口) in kWh a month, and the day
    its first cycle is prorated from (an account opened mid-cycle; null: no proration)."""

    cycle_start: date | None = None
    household_extra_kwh_month: Annotated[int, msgspec.Meta(ge=0, le=10_000)] = 0
    prorate_from: date | None = None
    capacity_kva: Annotated[int, msgspec.Meta(ge=0, le=10_000_000)] | None = None  # 两部制


class TermsOut(msgspec.Struct):
    account_id: int
    cycle_start: date | None
    household_extra_kwh_month: int
    prorate_from: date | None
    capacity_kva: int | None = None
    rerated: bool = False  # this request changed them and the account was re-rated


class ComparisonOut(msgspec.Struct):
    """R45: the account's own billed consumption of a stretch, priced on another schedule."""

    account_id: int
    schedule: str
    from_day: date  # local, inclusive
    to_day: date  # local, inclusive
    energy_wh: int
    billed_fen: int  # as billed
    alternative_fen: int  # on ``schedule``
    difference_fen: int  # alternative - billed: negative = the other schedule is cheaper


class TariffOption(msgspec.Struct):
    """A schedule the customer may compare their own consumption on (R45)."""

    schedule: str  # the key to ask tariff-comparison with
    name: str  # the name of its tariff in force today, as the notice names it
    time_of_use: bool  # 峰谷分时: more than one period in the day
    current: bool  # the schedule the account is billed on today
    # the first day to compare from: a year back, or the schedule's first day when later
    compare_from: date


class TariffOptionsOut(msgspec.Struct):
    account_id: int
    category: str
    on: date  # the local day the options are in force
    items: list[TariffOption]
