"""Deadlines in working time, over the holiday calendar the prepaid policy uses (pure: the
start is an argument, no clock)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import msgspec
import pytest

from backend.prepaid.policy import HolidayCalendar
from backend.servicedesk.workflow.models import OrderKind
from backend.servicedesk.workflow.schemas import WorkflowBook
from backend.servicedesk.workflow.service import (
    WorkflowError,
    WorkingTime,
    check_book,
    load_book,
    shipped_book,
)

SH = ZoneInfo("Asia/Shanghai")
WT = WorkingTime(shipped_book(), HolidayCalendar.load(), "Asia/Shanghai")


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=SH)  # type: ignore[misc]


def node(kind: OrderKind, key: str):  # type: ignore[no-untyped-def]
    return shipped_book().of(kind).node(key)


def test_an_hour_of_approval_on_a_working_morning_is_due_an_hour_later() -> None:
    review = node(OrderKind.COMPLAINT, "review")
    assert WT.due(review, local(2026, 11, 20, 10, 0)) == local(2026, 11, 20, 11, 0)


def test_an_hour_asked_late_on_friday_runs_into_monday_morning() -> None:
    review = node(OrderKind.COMPLAINT, "review")
    # 30 minutes left on Friday (day ends 17:30), the other 30 from Monday 08:30
    assert WT.due(review, local(2026, 11, 20, 17, 0)) == local(2026, 11, 23, 9, 0)


def test_an_hour_asked_before_national_day_is_due_after_the_holiday() -> None:
    review = node(OrderKind.COMPLAINT, "review")
    # 2026-10-01..07 are holidays; Thursday 10-08 is the next working day
    assert WT.due(review, local(2026, 9, 30, 17, 0)) == local(2026, 10, 8, 9, 0)


def test_a_make_up_saturday_counts_as_a_working_day() -> None:
    review = node(OrderKind.COMPLAINT, "review")
    # Friday 2026-10-09 17:00 → the make-up Saturday 10-10 is worked
    assert WT.due(review, local(2026, 10, 9, 17, 0)) == local(2026, 10, 10, 9, 0)


def test_an_appointment_is_on_site_within_one_working_day() -> None:
    on_site = node(OrderKind.APPOINTMENT, "on_site")
    assert WT.due(on_site, local(2026, 11, 20, 10, 0)) == local(2026, 11, 23, 10, 0)


def test_a_request_taken_at_night_counts_from_the_next_morning() -> None:
    review = node(OrderKind.COMPLAINT, "review")
    assert WT.due(review, local(2026, 11, 19, 22, 0)) == local(2026, 11, 20, 9, 30)


def test_fault_deadlines_run_on_the_clock_through_the_weekend() -> None:
    dispatch = node(OrderKind.FAULT, "dispatch")
    sunday_night = local(2026, 11, 22, 23, 50)
    assert WT.due(dispatch, sunday_night) == local(2026, 11, 23, 0, 20)
    assert WT.due(dispatch, sunday_night).tzinfo is UTC


def test_the_shipped_book_has_one_workflow_per_kind_ending_in_close() -> None:
    book = load_book()
    assert {w.kind for w in book.workflows} == set(OrderKind)
    assert all(w.nodes[-1].key == "close" for w in book.workflows)


def test_a_book_whose_last_node_is_not_close_is_refused() -> None:
    raw = msgspec.to_builtins(shipped_book())
    inquiry = next(w for w in raw["workflows"] if w["kind"] == "inquiry")
    inquiry["nodes"][0]["done_by"] = "person"
    with pytest.raises(WorkflowError, match="last node"):
        check_book(msgspec.convert(raw, WorkflowBook))


def test_a_book_missing_a_kind_is_refused() -> None:
    raw = msgspec.to_builtins(shipped_book())
    raw["workflows"] = [w for w in raw["workflows"] if w["kind"] != "tip_off"]
    with pytest.raises(WorkflowError, match="tip_off"):
        check_book(msgspec.convert(raw, WorkflowBook))
