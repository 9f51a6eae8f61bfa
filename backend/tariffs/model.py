"""Tariffs as data (R44: set by government, so configuration, never code).

A tariff applies to one customer category (R41) from a local date until the next tariff of the
same category takes over. It may have tiers (阶梯电价, R42) counted per annual or monthly cycle,
time-of-use periods (峰平谷, 尖 optional) in local time, or both; each (tier, period) has its own
price in CNY/kWh as an exact ``Decimal``. ``flat_only`` charges every kWh at the flat price
whatever the clock says (R43: catering is charged the 平段 price).

Everything here is pure: no database, no clock. Energy is integer Wh; prices are Decimals.
"""

from __future__ import annotations

import enum
import re
from datetime import date, time
from decimal import Decimal

import msgspec

from backend.accounts.models import CustomerCategory

SCHEDULE_KEY = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")


class Period(enum.StrEnum):
    """Time-of-use periods, named as the meter's tariff registers T1..T4 are."""

    SHARP = "sharp"  # 尖峰
    PEAK = "peak"  # 峰
    FLAT = "flat"  # 平
    VALLEY = "valley"  # 谷


class Cycle(enum.StrEnum):
    ANNUAL = "annual"  # 年阶梯: counters restart on the account's cycle start each year
    MONTHLY = "monthly"  # 月阶梯: counters restart on the same day each month


class TariffError(ValueError):
    """A tariff definition that cannot be used; the message names the tariff and the field."""


class Span(msgspec.Struct, frozen=True):
    """One stretch of a TOU period in local time; ``end`` 00:00 means midnight at the end."""

    period: Period
    start: time
    end: time

    @property
    def start_minute(self) -> int:
        return self.start.hour * 60 + self.start.minute

    @property
    def end_minute(self) -> int:
        m = self.end.hour * 60 + self.end.minute
        return 1440 if m == 0 else m


class Season(msgspec.Struct, frozen=True):
    """Tier thresholds for some months of the year (Guangzhou: May-October 260/600 kWh a
    month). A cycle takes the season of the month its first day falls in."""

    months: tuple[int, ...]  # 1..12
    tiers_wh: tuple[int, ...]  # as many thresholds as the tariff's own


class Tariff(msgspec.Struct, frozen=True, kw_only=True):
    code: str
    name: str
    category: CustomerCategory
    # the schedule (a line of tariffs that follow each other by effective date) this tariff
    # belongs to; empty = the category's default schedule, named after the category. An
    # account follows its category's default unless assigned another (TariffAssignment).
    schedule: str = ""
    effective_from: date  # local date; in force from its 00:00 local time
    cycle: Cycle = Cycle.ANNUAL
    # tier thresholds in Wh, ascending: (2_880_000, 4_800_000) = tiers at 2,880 and 4,800 kWh
    tiers_wh: tuple[int, ...] = ()
    # the day's TOU spans in local time, covering 00:00-24:00 exactly once; empty = all flat
    spans: tuple[Span, ...] = ()
    # period -> price per tier (CNY/kWh), len(tiers_wh) + 1 prices each
    prices: dict[Period, tuple[Decimal, ...]] = {}
    flat_only: bool = False  # R43: charge the flat price at every hour
    # tier thresholds by month (monthly cycles only); months in no season use ``tiers_wh``
    seasons: tuple[Season, ...] = ()
    # two-part tariff (两部制): the basic charge a month per kVA of capacity ("kva") or per
    # kW of maximum demand ("kw"); "" = single-part
    basic_charge_per: str = ""
    basic_charge_price: Decimal | None = None  # CNY per kVA or kW a month
    power_factor_target: Decimal | None = None  # 力调电费 table: 0.90, 0.85 or 0.80

    def __post_init__(self) -> None:
        where = f"tariff {self.code!r}"
        if self.schedule and not SCHEDULE_KEY.fullmatch(self.schedule):
            raise TariffError(
                f"{where}: schedule {self.schedule!r} is not lower-case letters, digits, - or _"
            )
        if any(t <= 0 for t in self.tiers_wh) or list(self.tiers_wh) != sorted(set(self.tiers_wh)):
            raise TariffError(f"{where}: tier thresholds must be positive and ascending")
        self._check_prices(where)
        if self.spans:
            self._check_spans(where)
        if self.flat_only and Period.FLAT not in self.prices:
            raise TariffError(f"{where}: flat_only needs flat prices")
        if self.seasons:
            self._check_seasons(where)
        if (self.basic_charge_per == "") != (self.basic_charge_price is None) or (
            self.basic_charge_per not in ("", "kva", "kw")
        ):
            raise TariffError(f"{where}: basic_charge needs per = 'kva' or 'kw' and a price")
        if self.power_factor_target is not None and self.power_factor_target not in (
            Decimal("0.90"), Decimal("0.85"), Decimal("0.80"),
        ):  # fmt: skip
            raise TariffError(f"{where}: power_factor_target is 0.90, 0.85 or 0.80")

    def _check_seasons(self, where: str) -> None:
        if self.cycle is not Cycle.MONTHLY:
            raise TariffError(f"{where}: seasons need cycle = 'monthly'")
        months = [m for s in self.seasons for m in s.months]
        if any(not 1 <= m <= 12 for m in months) or len(set(months)) != len(months):
            raise TariffError(f"{where}: season months must be 1..12, each in one season")
        for s in self.seasons:
            if len(s.tiers_wh) != len(self.tiers_wh):
                raise TariffError(
                    f"{where}: a season has {len(s.tiers_wh)} tier thresholds, "
                    f"the tariff {len(self.tiers_wh)}"
                )
            if any(t <= 0 for t in s.tiers_wh) or list(s.tiers_wh) != sorted(set(s.tiers_wh)):
                raise TariffError(f"{where}: season thresholds must be positive and ascending")

    def _check_prices(self, where: str) -> None:
        periods = self.periods
        for period in () if self.flat_only else periods:
            if period not in self.prices:
                raise TariffError(f"{where}: no prices for period {period.value!r}")
        for period, row in self.prices.items():
            if period not in periods and not (self.flat_only and period is Period.FLAT):
                raise TariffError(f"{where}: prices for {period.value!r}, which no span uses")
            if len(row) != len(self.tiers_wh) + 1:
                raise TariffError(
                    f"{where}: period {period.value!r} has {len(row)} prices, "
                    f"needs {len(self.tiers_wh) + 1} (one per tier)"
                )
            if any(not isinstance(p, Decimal) or p < 0 or not p.is_finite() for p in row):
                raise TariffError(f"{where}: period {period.value!r} has a negative price")

    def _check_spans(self, where: str) -> None:
        """The TOU spans cover 00:00-24:00 exactly once."""
        minutes = [0] * 1440
        for s in self.spans:
            if s.end_minute <= s.start_minute:
                raise TariffError(
                    f"{where}: span {s.start:%H:%M}-{s.end:%H:%M} ends before it starts "
                    "(split a span over midnight in two)"
                )
            for m in range(s.start_minute, s.end_minute):
                minutes[m] += 1
        if any(c != 1 for c in minutes):
            first = next(i for i, c in enumerate(minutes) if c != 1)
            raise TariffError(
                f"{where}: TOU spans must cover the day exactly once; "
                f"{first // 60:02d}:{first % 60:02d} is covered {minutes[first]} times"
            )

    @property
    def schedule_key(self) -> str:
        return self.schedule or self.category.value

    @property
    def periods(self) -> frozenset[Period]:
        if not self.spans:
            return frozenset({Period.FLAT})
        return frozenset(s.period for s in self.spans)

    def period_at(self, local: time) -> Period:
        """The TOU period in force at a local wall-clock time."""
        if self.flat_only or not self.spans:
            return Period.FLAT
        minute = local.hour * 60 + local.minute
        for s in self.spans:
            if s.start_minute <= minute < s.end_minute:
                return s.period
        raise AssertionError("spans cover the day: checked in __post_init__")

    def boundaries(self) -> tuple[int, ...]:
        """Minutes after local midnight where the period may change (for splitting intervals)."""
        if self.flat_only or not self.spans:
            return ()
        return tuple(sorted({s.start_minute for s in self.spans} - {0}))

    def thresholds(self, cycle_start: date) -> tuple[int, ...]:
        """The tier thresholds of the cycle beginning ``cycle_start`` (its month's season)."""
        for season in self.seasons:
            if cycle_start.month in season.months:
                return season.tiers_wh
        return self.tiers_wh

    def tier_at(self, used_wh: int) -> int:
        """The 0-based tier that the next Wh falls in, after ``used_wh`` in this cycle."""
        return sum(1 for t in self.tiers_wh if used_wh >= t)

    def price(self, tier: int, period: Period) -> Decimal:
        return self.prices[Period.FLAT if self.flat_only else period][tier]


def tariff_to_json(tariff: Tariff) -> bytes:
    """Stored form: prices as decimal strings, so no float ever touches a rate."""
    return msgspec.json.encode(tariff)


def tariff_from_json(data: bytes | str) -> Tariff:
    return msgspec.json.decode(data, type=Tariff)
