"""Tariff files: exact decimals in, clear errors naming the tariff and field for bad ones."""

from __future__ import annotations

from decimal import Decimal

import pytest

from backend.tariffs.loader import DEFAULT_FILE, load_file, parse_tariffs
from backend.tariffs.model import Period, TariffError, tariff_from_json, tariff_to_json

HEAD = """
[[tariff]]
code = "X"
name = "x"
category = "residential"
effective_from = 2026-01-01
"""


def test_the_shipped_example_file_loads_one_tariff_per_category() -> None:
    tariffs = load_file(DEFAULT_FILE)
    assert len({t.category for t in tariffs}) == len(tariffs) == 6


def test_prices_are_read_as_exact_decimals_not_floats() -> None:
    (t,) = parse_tariffs(HEAD + "[tariff.prices]\nflat = 0.1\n")
    assert t.prices[Period.FLAT] == (Decimal("0.1"),)
    assert tariff_from_json(tariff_to_json(t)) == t


def test_a_period_over_midnight_is_written_as_one_range() -> None:
    (t,) = parse_tariffs(
        HEAD + '[tariff.periods]\npeak = ["08:00-22:00"]\nvalley = ["22:00-08:00"]\n'
        "[tariff.prices]\npeak = 1\nvalley = 0.5\n"
    )
    assert t.boundaries() == (480, 1320)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            '[tariff.periods]\npeak = ["08:00-22:00"]\n[tariff.prices]\npeak = 1\n',
            "covered 0 times",
        ),
        (
            '[tariff.periods]\nnoon = ["00:00-24:00"]\n[tariff.prices]\nflat = 1\n',
            "unknown period 'noon'",
        ),
        ("tiers_kwh = [2880]\n[tariff.prices]\nflat = [0.4883]\n", "needs 2 (one per tier)"),
        ("tiers_kwh = [4800, 2880]\n[tariff.prices]\nflat = [1, 2, 3]\n", "ascending"),
        ("colour = 1\n[tariff.prices]\nflat = 1\n", "unknown key(s) colour"),
        ("[tariff.prices]\nflat = -1\n", "negative price"),
    ],
)
def test_a_bad_tariff_is_rejected_with_a_message_naming_it(body: str, message: str) -> None:
    with pytest.raises(TariffError, match="tariff #1 \\(X\\)") as info:
        parse_tariffs(HEAD + body, "file.toml")
    assert message in str(info.value)
