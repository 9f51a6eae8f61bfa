"""The power-factor adjustment against the published table (功率因数调整电费办法, targets
0.90 / 0.85 / 0.80), the month's power factor from active and reactive energy, and the basic
charge of a two-part tariff."""

from __future__ import annotations

from decimal import Decimal

import pytest

from backend.tariffs.demand import adjustment_percent, basic_charge, power_factor

D = Decimal


@pytest.mark.parametrize(
    ("target", "factor", "percent"),
    [
        # 0.90 table: reductions 0.15 % a hundredth to 0.75 % at 0.95 and above
        ("0.90", "1.00", "-0.75"), ("0.90", "0.95", "-0.75"), ("0.90", "0.94", "-0.60"),
        ("0.90", "0.91", "-0.15"), ("0.90", "0.90", "0"),
        # surcharges: 0.5 % a hundredth to 0.70 (10 %), 1 % to 0.65 (15 %), then 2 %
        ("0.90", "0.89", "0.5"), ("0.90", "0.80", "5.0"), ("0.90", "0.70", "10.0"),
        ("0.90", "0.69", "11.0"), ("0.90", "0.65", "15.0"), ("0.90", "0.64", "17.0"),
        ("0.90", "0.60", "25.0"),
        # 0.85 table: 0.1 % a hundredth to 0.90 (0.5 %), then 0.15 % to 1.1 % at 0.94
        ("0.85", "0.94", "-1.1"), ("0.85", "0.99", "-1.1"), ("0.85", "0.93", "-0.95"),
        ("0.85", "0.90", "-0.5"), ("0.85", "0.86", "-0.1"), ("0.85", "0.85", "0"),
        ("0.85", "0.84", "0.5"), ("0.85", "0.65", "10.0"), ("0.85", "0.60", "15.0"),
        ("0.85", "0.59", "17.0"),
        # 0.80 table: 0.1 % a hundredth to 0.90 (1.0 %), 1.15 % at 0.91, 1.3 % from 0.92
        ("0.80", "0.92", "-1.3"), ("0.80", "0.91", "-1.15"), ("0.80", "0.90", "-1.0"),
        ("0.80", "0.81", "-0.1"), ("0.80", "0.79", "0.5"), ("0.80", "0.60", "10.0"),
        ("0.80", "0.55", "15.0"), ("0.80", "0.54", "17.0"),
    ],
)  # fmt: skip
def test_the_adjustment_is_the_published_tables_row(target: str, factor: str, percent: str) -> None:
    assert adjustment_percent(D(factor), D(target)) == D(percent)


def test_an_unknown_target_factor_is_refused() -> None:
    with pytest.raises(ValueError, match=r"0\.90, 0\.85, 0\.80"):
        adjustment_percent(D("0.90"), D("0.95"))


def test_the_months_power_factor_is_rounded_half_up_to_two_decimals() -> None:
    # P = 100,000 kWh, Q = 48,432 kvarh: cos = 100000 / sqrt(1e10 + 2,345,658,624)
    # = 100000 / 111,110.9... = 0.90000... -> 0.90
    assert power_factor(100_000_000, 48_432_000) == D("0.90")
    assert power_factor(100_000_000, 75_000_000) == D("0.80")  # 3-4-5: exactly 0.8
    assert power_factor(100_000_000, 0) == D("1.00")
    assert power_factor(0, 0) == D("1.00")
    assert power_factor(0, 5_000) == D("0.00")


def test_a_capacity_charge_is_kva_times_the_monthly_price() -> None:
    # 630 kVA transformer at 23.3 元/kVA a month = 14,679 元
    assert basic_charge(630, D("23.3")) == D("14679.0")
    # 412 kW maximum demand at 35.0 元/kW a month = 14,420 元
    assert basic_charge(412, D("35.0")) == D("14420.0")
