"""A monthly bill (pure): the month's priced energy grouped into lines, the basic charge of a
two-part tariff, the power-factor adjustment; every line a code with parameters (the PWA words
it: "第一档 2,880 kWh × 0.4883 元"), exact, and its fen.

Rounding: each line's exact amount joins a running exact total and the line gets
``round(total so far) - fen given so far`` (half up, away from zero for negatives), so the
lines always sum to the bill's total, which is its exact amount rounded once.
Late fees (违约金) at the published daily rate: :func:`late_fee`.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from datetime import date, timedelta
from decimal import Decimal

import msgspec

from backend.tariffs.demand import adjustment_percent, basic_charge, power_factor
from backend.tariffs.model import Period, Tariff
from backend.tariffs.rating import Line, round_fen
from backend.texts import TextCode

DUE_DAYS = 15  # a month's bill is due on the 15th of the next month


class BillText(TextCode):
    ENERGY = "bill.energy"  # {tier} {period} {energy_wh} {price}
    CAPACITY = "bill.basic.capacity"  # {kva} {price}
    CAPACITY_DAYS = "bill.basic.capacity_days"  # {kva} {price} {days} {month_days}: by days
    DEMAND = "bill.basic.demand"  # {demand_w} {price}
    POWER_FACTOR = "bill.power_factor"  # {factor} {target} {percent} {base}


class BillLine(msgspec.Struct):
    code: BillText
    params: dict[str, str | int]
    exact_cny: str
    amount_fen: int


class Bill(msgspec.Struct):
    month: str  # YYYY-MM, local
    lines: list[BillLine]
    exact_cny: str
    total_fen: int
    due_on: date
    energy_wh: int
    power_factor: str | None = None  # the month's, when the tariff adjusts for it


class Meterage(msgspec.Struct, frozen=True):
    """What the month's meters say besides the billed energy."""

    capacity_kva: int | None = None  # contracted transformer capacity
    # (kVA, days) of the month when it changed (增容/减容, 暂停): the charge by days
    capacity_days: tuple[tuple[int, int], ...] = ()
    max_demand_w: int | None = None  # the month's maximum demand
    reactive_varh: int = 0  # the month's reactive energy


def month_days(month: str) -> tuple[date, date]:
    """First day of the month and first day of the next."""
    y, m = (int(x) for x in month.split("-"))
    first = date(y, m, 1)
    return first, first + timedelta(days=calendar.monthrange(y, m)[1])


def _energy(lines: Iterable[Line]) -> list[tuple[int, Period, Decimal, int, Decimal]]:
    grouped: dict[tuple[int, Period, Decimal], list[int | Decimal]] = {}
    for ln in lines:
        acc = grouped.setdefault((ln.tier, ln.period, ln.price), [0, Decimal(0)])
        acc[0] = int(acc[0]) + ln.wh
        acc[1] = Decimal(acc[1]) + ln.amount
    order = list(Period)
    return [
        (tier, period, price, int(v[0]), Decimal(v[1]))
        for (tier, period, price), v in sorted(
            grouped.items(), key=lambda kv: (kv[0][0], order.index(kv[0][1]), kv[0][2])
        )
    ]


def compose(month: str, tariff: Tariff | None, lines: Iterable[Line], meterage: Meterage) -> Bill:
    """The bill of a month from its priced energy (the charges' lines) and its meterage."""
    items: list[tuple[BillText, dict[str, str | int], Decimal]] = []
    energy_wh = 0
    for tier, period, price, wh, exact in _energy(lines):
        energy_wh += wh
        params: dict[str, str | int] = {
            "tier": tier, "period": period.value, "energy_wh": wh, "price": str(price),
        }  # fmt: skip
        items.append((BillText.ENERGY, params, exact))
    factor: Decimal | None = None
    if tariff is not None and tariff.basic_charge_price is not None:
        price = tariff.basic_charge_price
        if tariff.basic_charge_per == "kva":
            kva = meterage.capacity_kva or 0
            first, nxt = month_days(month)
            n = (nxt - first).days
            stretches = meterage.capacity_days or ((kva, n),)
            if len(stretches) == 1:  # one capacity all month (a changed one: its own)
                kva = stretches[0][0]
                items.append(
                    (BillText.CAPACITY, {"kva": kva, "price": str(price)}, basic_charge(kva, price))
                )
            else:  # changed in the month: kVA × price × days / the month's days, per stretch
                for k, days in stretches:
                    if k:
                        params = {"kva": k, "price": str(price), "days": days, "month_days": n}
                        exact = basic_charge(k, price) * days / n
                        items.append((BillText.CAPACITY_DAYS, params, exact))
        else:
            w = meterage.max_demand_w or 0
            amount = Decimal(w).scaleb(-3) * price
            items.append((BillText.DEMAND, {"demand_w": w, "price": str(price)}, amount))
    if tariff is not None and tariff.power_factor_target is not None:
        factor = power_factor(energy_wh, meterage.reactive_varh)
        pct = adjustment_percent(factor, tariff.power_factor_target)
        base = sum((x for _, _, x in items), Decimal(0))
        params = {
            "factor": str(factor), "target": str(tariff.power_factor_target),
            "percent": str(pct), "base": str(base),
        }  # fmt: skip
        items.append((BillText.POWER_FACTOR, params, base * pct / 100))
    out: list[BillLine] = []
    total, given = Decimal(0), 0
    for code, params, exact in items:
        total += exact
        fen = round_fen(total) - given
        given += fen
        out.append(BillLine(code, params, str(exact), fen))
    _first, nxt = month_days(month)
    return Bill(
        month=month, lines=out, exact_cny=str(total), total_fen=given,
        due_on=nxt + timedelta(days=DUE_DAYS - 1), energy_wh=energy_wh,
        power_factor=None if factor is None else str(factor),
    )  # fmt: skip


def late_fee(owed_fen: int, due_on: date, paid_on: date, residential: bool) -> int:
    """违约金 (供电营业规则): from the day after ``due_on`` to ``paid_on``, residential 1‰ of
    the amount owed a day; others 2‰ a day within the year the bill fell due and 3‰ a day
    for the days in later years. Rounded half up to the fen once."""
    if owed_fen <= 0 or paid_on <= due_on:
        return 0
    days = (paid_on - due_on).days
    if residential:
        permille = Decimal(days)
    else:
        year_end = date(due_on.year, 12, 31)
        this_year = max(0, min(days, (year_end - due_on).days))
        permille = Decimal(2 * this_year + 3 * (days - this_year))
    return round_fen(Decimal(owed_fen) * permille / 1000 / 100)
