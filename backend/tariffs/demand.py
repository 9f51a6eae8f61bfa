"""What commercial and industrial customers pay besides energy (pure, no database):

- the basic charge of a two-part tariff (两部制): a capacity charge per kVA of contracted
  transformer capacity a month, or a demand charge per kW of the month's maximum demand (from
  the meters' max-demand registers);
- the power-factor adjustment (力调电费) by the published table (功率因数调整电费办法) for
  target factors 0.90, 0.85 and 0.80: a percentage of the month's basic and energy charges,
  negative (a reduction) above the target, positive (a surcharge) below it.

Amounts are exact ``Decimal`` CNY, rounded to fen once, on the bill.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal

TARGETS = (Decimal("0.90"), Decimal("0.85"), Decimal("0.80"))
_STEP = Decimal("0.01")

# reductions above the target (percent), per factor, as the table prints them; higher factors
# than the last row get the last row's reduction
_REDUCTIONS: dict[Decimal, list[tuple[str, str]]] = {
    Decimal("0.90"): [("0.91", "0.15"), ("0.92", "0.30"), ("0.93", "0.45"), ("0.94", "0.60"),
                      ("0.95", "0.75")],
    Decimal("0.85"): [("0.86", "0.1"), ("0.87", "0.2"), ("0.88", "0.3"), ("0.89", "0.4"),
                      ("0.90", "0.5"), ("0.91", "0.65"), ("0.92", "0.8"), ("0.93", "0.95"),
                      ("0.94", "1.1")],
    Decimal("0.80"): [("0.81", "0.1"), ("0.82", "0.2"), ("0.83", "0.3"), ("0.84", "0.4"),
                      ("0.85", "0.5"), ("0.86", "0.6"), ("0.87", "0.7"), ("0.88", "0.8"),
                      ("0.89", "0.9"), ("0.90", "1.0"), ("0.91", "1.15"), ("0.92", "1.3")],
}  # fmt: skip


def power_factor(active_wh: int, reactive_varh: int) -> Decimal:
    """The month's average power factor cos φ = P / √(P² + Q²), to two decimals, half up
    (as the bill prints it). No energy at all: 1.00 (nothing to adjust)."""
    if active_wh < 0 or reactive_varh < 0:
        raise ValueError("energies are not negative")
    if active_wh == 0 and reactive_varh == 0:
        return Decimal("1.00")
    # exact to far below the second decimal: integer square root of scaled squares
    scale = 10**12
    root = math.isqrt((active_wh * active_wh + reactive_varh * reactive_varh) * scale * scale)
    value = Decimal(active_wh * scale * scale) / Decimal(root) / Decimal(scale)
    return value.quantize(_STEP, rounding=ROUND_HALF_UP)


def adjustment_percent(factor: Decimal, target: Decimal) -> Decimal:
    """The table's adjustment in percent for a factor (two decimals) against a target:
    negative reduces the bill, positive raises it."""
    if target not in _REDUCTIONS:
        raise ValueError(f"target power factor {target} is not one of 0.90, 0.85, 0.80")
    factor = factor.quantize(_STEP, rounding=ROUND_HALF_UP)
    if factor >= target:
        table = _REDUCTIONS[target]
        got = Decimal(0)
        for at, row_pct in table:
            if factor >= Decimal(at):
                got = Decimal(row_pct)
        return -got
    steps = int((target - factor) / _STEP)  # hundredths below the target
    pct = Decimal("0.5") * min(steps, 20)  # to target - 0.20: +0.5 % a hundredth (+10 %)
    if steps > 20:
        pct += Decimal(1) * min(steps - 20, 5)  # to target - 0.25: +1 % a hundredth (+15 %)
    if steps > 25:
        pct += Decimal(2) * (steps - 25)  # below: +2 % a hundredth
    return pct


def basic_charge(quantity: int, price: Decimal) -> Decimal:
    """Capacity (kVA) or maximum demand (kW) × the monthly price per unit, exact CNY."""
    if quantity < 0:
        raise ValueError("a capacity or demand is not negative")
    return Decimal(quantity) * price
