"""A round's charge rows are plain tuples in ``bulk.CHARGE_FIELDS``' order, built from the
billed interval's own tuple: its fields must be the first columns, in their order."""

from __future__ import annotations

from decimal import Decimal

from backend.prepaid import bulk
from backend.prepaid.billing import Interval, Priced, Rated


def test_an_intervals_fields_are_the_first_charge_columns_in_order() -> None:
    assert Interval._fields == bulk.CHARGE_FIELDS[: len(Interval._fields)]


def test_a_charge_row_carries_its_interval_amount_and_stored_lines() -> None:
    rated = Rated(Interval(7, 1_000, 901_000, 250), [], '[{"wh":250}]')
    priced = Priced([rated], [Decimal("0.1234")], Decimal("0.1234"), Decimal("0.1234"), 12)
    (row,) = priced.charges()
    assert dict(zip(bulk.CHARGE_FIELDS, row, strict=True)) == {
        "meter_pk": 7, "start_ms": 1_000, "end_ms": 901_000, "wh": 250,
        "exact_cny": "0.1234", "lines": '[{"wh":250}]',
    }  # fmt: skip
