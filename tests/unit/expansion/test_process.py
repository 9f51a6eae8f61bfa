"""The process book and the fee table: the shipped ones load, a broken one is refused with a
reason, fees are the table's exact integer fen, and deadlines count working time."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from backend.expansion.models import SupplyType
from backend.expansion.process import (
    ProcessError,
    due,
    fee_lines,
    load_book,
    load_fees,
    shipped_book,
)
from backend.prepaid.policy import HolidayCalendar
from backend.servicedesk.workflow.service import WorkingTime
from backend.servicedesk.workflow.service import shipped_book as workflow_book


def test_the_shipped_book_has_every_type_from_acceptance_to_energise() -> None:
    book = load_book()
    assert [s.key for s in book.of(SupplyType.RESIDENTIAL).steps] == [
        "acceptance",
        "survey",
        "contract",
        "install",
        "energise",
    ]
    hv = [s.key for s in book.of(SupplyType.HIGH_VOLTAGE).steps]
    assert {"design_review", "mid_inspection", "completion", "fees"} <= set(hv)
    # the residential commitment: accepted to energised within 5 working days
    assert sum(s.deadline for s in book.of(SupplyType.RESIDENTIAL).steps) == 5


def test_a_book_with_steps_out_of_order_or_a_longer_green_limit_is_refused(tmp_path: Path) -> None:
    text = (Path(__file__).parents[3] / "backend/expansion/process.toml").read_text()
    swapped = tmp_path / "swapped.toml"
    swapped.write_text(text.replace('key = "survey"', 'key = "zz"', 1))
    with pytest.raises(ProcessError, match="residential"):
        load_book(swapped)
    greedy = tmp_path / "greedy.toml"
    greedy.write_text(
        text.replace(
            'deadline = 10, unit = "working_days", green = 7',
            'deadline = 10, unit = "working_days", green = 11',
        )
    )
    with pytest.raises(ProcessError, match="never longer"):
        load_book(greedy)
    fee = tmp_path / "fees.toml"
    fee.write_text('[[fees]]\ntype = "high_voltage"\ncode = "x"\nper_kva_fen = 1.5\n')
    with pytest.raises(ProcessError):
        load_fees(fee)


def test_fees_are_the_tables_integer_fen_and_low_voltage_pays_none() -> None:
    table = load_fees()
    [line] = fee_lines(table, SupplyType.HIGH_VOLTAGE, 630)
    assert (line.code, line.amount_fen) == ("high_reliability", 630 * 16_000)
    assert fee_lines(table, SupplyType.RESIDENTIAL, 8) == []
    assert fee_lines(table, SupplyType.LOW_VOLTAGE, 30) == []


def test_a_step_entered_on_friday_is_due_after_the_weekend_and_the_green_limit_is_shorter(
    tmp_path: Path,
) -> None:
    calendar = tmp_path / "calendar.toml"
    calendar.write_text("holidays = []\nworkdays = []\n")
    wt = WorkingTime(workflow_book(), HolidayCalendar.load(str(calendar)), "Asia/Shanghai")
    friday_10 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
    plan = shipped_book().of(SupplyType.HIGH_VOLTAGE).step("plan")
    assert due(wt, plan, friday_10, green=False) == datetime(2026, 12, 4, 2, 0, tzinfo=UTC)
    assert due(wt, plan, friday_10, green=True) == datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
