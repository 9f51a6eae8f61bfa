"""Read tariffs from a TOML file (``meterline tariffs load FILE.toml``).

Numbers are read as exact decimals (``tomllib`` with ``parse_float=Decimal``), so ``0.4883``
in the file is exactly 0.4883 CNY/kWh, never a binary float. The example file shipped with the
project is ``backend/tariffs/default_tariffs.toml``; ``docs/prepaid.md`` explains the format.
"""

from __future__ import annotations

import tomllib
from datetime import date, time
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from backend.accounts.models import CustomerCategory
from backend.tariffs.model import Cycle, Period, Season, Span, Tariff, TariffError

DEFAULT_FILE = Path(__file__).with_name("default_tariffs.toml")
_KEYS = {
    "code",
    "name",
    "category",
    "schedule",
    "effective_from",
    "cycle",
    "tiers_kwh",
    "periods",
    "prices",
    "flat_only",
    "seasons",
    "basic_charge",
    "power_factor_target",
}


def _hhmm(text: str, where: str) -> time:
    try:
        hh, mm = text.strip().split(":")
        h, m = int(hh), int(mm)
    except ValueError:
        raise TariffError(f"{where}: {text!r} is not HH:MM") from None
    if h == 24 and m == 0:
        return time(0, 0)
    if not (0 <= h < 24 and 0 <= m < 60):
        raise TariffError(f"{where}: {text!r} is not a time of day")
    return time(h, m)


def _spans(periods: dict[str, Any], where: str) -> list[Span]:
    spans: list[Span] = []
    for name, ranges in periods.items():
        try:
            period = Period(name)
        except ValueError:
            raise TariffError(
                f"{where}.periods: unknown period {name!r} "
                f"(one of {', '.join(p.value for p in Period)})"
            ) from None
        if not isinstance(ranges, list):
            raise TariffError(f'{where}.periods.{name}: a list of "HH:MM-HH:MM" strings')
        for text in ranges:
            if not isinstance(text, str) or text.count("-") != 1:
                raise TariffError(f'{where}.periods.{name}: {text!r} is not "HH:MM-HH:MM"')
            a, b = (_hhmm(x, f"{where}.periods.{name}") for x in text.split("-"))
            if b != time(0) and b <= a:  # over midnight: 22:00-08:00 is two spans
                spans.append(Span(period, a, time(0)))
                if b != time(0):
                    spans.append(Span(period, time(0), b))
            else:
                spans.append(Span(period, a, b))
    return spans


def _decimal(value: Any, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, Decimal, str)):
        raise TariffError(f"{where}: {value!r} is not a number")
    try:
        return Decimal(value)
    except InvalidOperation:
        raise TariffError(f"{where}: {value!r} is not a number") from None


def parse_tariff(raw: dict[str, Any], where: str) -> Tariff:
    if "code" in raw:
        where = f"{where} ({raw['code']})"
    _check_keys(raw, where)
    if not isinstance(raw["effective_from"], date):
        raise TariffError(f"{where}.effective_from: a date like 2026-01-01 (no quotes)")
    category = _category(raw["category"], where)
    try:
        cycle = Cycle(raw.get("cycle", "annual"))
    except ValueError:
        raise TariffError(f"{where}.cycle: 'annual' or 'monthly'") from None
    tiers_wh = _tiers_wh(raw.get("tiers_kwh", []), where)
    spans = _spans(raw.get("periods", {}), where)
    prices = _prices(raw["prices"], where)
    seasons = _seasons(raw.get("seasons", []), where)
    try:
        return _build(raw, category, cycle, tiers_wh, spans, prices, seasons)
    except TariffError as exc:
        raise TariffError(f"{where}: {exc}") from None


def _check_keys(raw: dict[str, Any], where: str) -> None:
    unknown = set(raw) - _KEYS
    if unknown:
        raise TariffError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    for key in ("code", "name", "category", "effective_from", "prices"):
        if key not in raw:
            raise TariffError(f"{where}: missing {key!r}")


def _category(value: Any, where: str) -> CustomerCategory:
    try:
        return CustomerCategory(value)
    except ValueError:
        raise TariffError(
            f"{where}.category: {value!r} is not one of "
            f"{', '.join(c.value for c in CustomerCategory)}"
        ) from None


def _tiers_wh(values: list[Any], where: str) -> list[int]:
    tiers_wh = []
    for kwh in values:
        wh = _decimal(kwh, f"{where}.tiers_kwh") * 1000
        if wh != wh.to_integral_value():
            raise TariffError(f"{where}.tiers_kwh: {kwh} kWh is finer than 1 Wh")
        tiers_wh.append(int(wh))
    return tiers_wh


def _seasons(items: Any, where: str) -> tuple[Season, ...]:
    if not isinstance(items, list):
        raise TariffError(f"{where}.seasons: a list of [[tariff.seasons]] tables")
    out = []
    for i, raw in enumerate(items):
        at = f"{where}.seasons #{i + 1}"
        if not isinstance(raw, dict) or set(raw) - {"name", "months", "tiers_kwh"}:
            raise TariffError(f"{at}: only name, months and tiers_kwh")
        months = raw.get("months")
        if not isinstance(months, list) or not all(
            isinstance(m, int) and not isinstance(m, bool) for m in months
        ):
            raise TariffError(f"{at}.months: a list of month numbers, e.g. [5, 6, 7, 8, 9, 10]")
        out.append(Season(tuple(months), tuple(_tiers_wh(raw.get("tiers_kwh", []), at))))
    return tuple(out)


def _prices(table: dict[str, Any], where: str) -> dict[Period, tuple[Decimal, ...]]:
    prices: dict[Period, tuple[Decimal, ...]] = {}
    for name, row in table.items():
        try:
            period = Period(name)
        except ValueError:
            raise TariffError(f"{where}.prices: unknown period {name!r}") from None
        if not isinstance(row, list):
            row = [row]
        prices[period] = tuple(_decimal(p, f"{where}.prices.{name}") for p in row)
    return prices


def _build(
    raw: dict[str, Any],
    category: CustomerCategory,
    cycle: Cycle,
    tiers_wh: list[int],
    spans: list[Span],
    prices: dict[Period, tuple[Decimal, ...]],
    seasons: tuple[Season, ...] = (),
) -> Tariff:
    basic = raw.get("basic_charge", {})
    if not isinstance(basic, dict) or set(basic) - {"per", "price"}:
        raise TariffError("basic_charge: a table with per ('kva' or 'kw') and price")
    return Tariff(
        code=str(raw["code"]),
        name=str(raw["name"]),
        category=category,
        schedule=str(raw.get("schedule", "")),
        effective_from=raw["effective_from"],
        cycle=cycle,
        tiers_wh=tuple(tiers_wh),
        spans=tuple(spans),
        prices=prices,
        flat_only=bool(raw.get("flat_only", False)),
        seasons=seasons,
        basic_charge_per=str(basic.get("per", "")),
        basic_charge_price=(
            _decimal(basic["price"], "basic_charge.price") if "price" in basic else None
        ),
        power_factor_target=(
            _decimal(raw["power_factor_target"], "power_factor_target")
            if "power_factor_target" in raw
            else None
        ),
    )


def parse_tariffs(text: str, source: str = "<text>") -> list[Tariff]:
    try:
        data = tomllib.loads(text, parse_float=Decimal)
    except tomllib.TOMLDecodeError as exc:
        raise TariffError(f"{source}: {exc}") from None
    items = data.get("tariff")
    if not isinstance(items, list) or not items:
        raise TariffError(f"{source}: no [[tariff]] tables")
    tariffs = [parse_tariff(raw, f"{source}: tariff #{i + 1}") for i, raw in enumerate(items)]
    codes = [t.code for t in tariffs]
    dupes = sorted({c for c in codes if codes.count(c) > 1})
    if dupes:
        raise TariffError(f"{source}: tariff code(s) {', '.join(dupes)} appear twice")
    return tariffs


def load_file(path: str | Path) -> list[Tariff]:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise TariffError(f"{p}: {exc.strerror}") from None
    return parse_tariffs(text, str(p))
