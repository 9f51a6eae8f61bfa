"""The category in force on a day, from an account's applied category changes (改类)."""

from __future__ import annotations

from datetime import date

from backend.accounts.models import CustomerCategory as C
from backend.expansion.changes.history import CategoryMove, category_on

MOVES = [
    CategoryMove(date(2026, 3, 1), C.RESIDENTIAL, C.COMMERCIAL, 1),
    CategoryMove(date(2026, 6, 1), C.COMMERCIAL, C.GENERAL_INDUSTRY, 2),
]


def test_an_account_that_never_changed_follows_its_current_category() -> None:
    assert category_on([], C.AGRICULTURAL, date(2026, 1, 1)) == "agricultural"


def test_before_the_first_change_the_account_follows_the_category_it_had_then() -> None:
    # the customer's current category is the latest; the history says what it was before
    assert category_on(MOVES, C.GENERAL_INDUSTRY, date(2026, 2, 28)) == "residential"


def test_a_change_takes_effect_on_its_day_and_lasts_until_the_next() -> None:
    assert category_on(MOVES, C.GENERAL_INDUSTRY, date(2026, 3, 1)) == "commercial"
    assert category_on(MOVES, C.GENERAL_INDUSTRY, date(2026, 5, 31)) == "commercial"
    assert category_on(MOVES, C.GENERAL_INDUSTRY, date(2026, 6, 1)) == "general_industry"
