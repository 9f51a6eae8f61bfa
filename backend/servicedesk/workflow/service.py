"""Workflows: the book loaded and checked, and deadlines in working time. Pure: no clock, no
database; ``start`` is an argument, so tests drive time.

A node's deadline counts from the moment the order enters it:

* ``minutes``: clock minutes, day and night (a fault is repaired on Sunday too);
* ``working_hours``: only the time inside the working day (``day_start``..``day_end``, local) of
  a working day counts: an hour asked for at 17:00 on a Friday is due at 09:00 on Monday (with
  a 08:30-17:30 day), and over a public holiday on the first working day after it;
* ``working_days``: that many full working days of working time, so "within one working day"
  asked at 10:00 is due at 10:00 on the next working day.

Working days are those of the holiday calendar the prepaid policy uses
(:class:`backend.prepaid.policy.HolidayCalendar`: weekends and public holidays are not, the
make-up days 调休 are).
"""

from __future__ import annotations

import functools
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import msgspec

from backend.prepaid.policy import HolidayCalendar
from backend.servicedesk.workflow.models import DeadlineUnit, DoneBy, OrderKind
from backend.servicedesk.workflow.schemas import Node, WorkflowBook

DEFAULT_BOOK = Path(__file__).with_name("workflows.toml")
CREW_STEPS = frozenset({DoneBy.DISPATCH, DoneBy.ARRIVAL, DoneBy.REPAIR})


class WorkflowError(ValueError):
    """A workflow book that cannot be used (named in the message)."""


def load_book(path: str | Path = "") -> WorkflowBook:
    """The book from ``path`` (default: the shipped ``workflows.toml``), checked."""
    p = Path(path) if path else DEFAULT_BOOK
    try:
        book = msgspec.convert(tomllib.loads(p.read_text(encoding="utf-8")), WorkflowBook)
    except (OSError, tomllib.TOMLDecodeError, msgspec.ValidationError) as exc:
        raise WorkflowError(f"workflow book {p}: {exc}") from None
    check_book(book)
    return book


@functools.cache
def shipped_book() -> WorkflowBook:
    """The shipped book, loaded once per process."""
    return load_book()


@functools.cache
def working_time(calendar_path: str, tz: str) -> WorkingTime:
    """The working-time arithmetic for a calendar file (settings.prepaid_holiday_calendar)
    and time zone, made once per process."""
    return WorkingTime(shipped_book(), HolidayCalendar.load(calendar_path), tz)


def check_book(book: WorkflowBook) -> None:
    if book.day_end <= book.day_start:
        raise WorkflowError("day_end must be after day_start")
    kinds = [w.kind for w in book.workflows]
    missing = set(OrderKind) - set(kinds)
    if missing or len(kinds) != len(set(kinds)):
        raise WorkflowError(
            f"every kind needs exactly one workflow (missing: {sorted(missing)}, given: {kinds})"
        )
    for w in book.workflows:
        keys = [n.key for n in w.nodes]
        if len(keys) != len(set(keys)):
            raise WorkflowError(f"{w.kind}: node keys repeat: {keys}")
        closes = [n for n in w.nodes if n.done_by is DoneBy.CLOSE]
        if closes != [w.nodes[-1]]:
            raise WorkflowError(f"{w.kind}: the last node, and only it, is done_by = close")
        crew = [n.done_by for n in w.nodes if n.done_by in CREW_STEPS]
        if crew and (w.kind is not OrderKind.FAULT or crew != sorted(crew, key=_crew_order)):
            raise WorkflowError(
                f"{w.kind}: dispatch, arrival, repair belong to fault orders, in that order"
            )


def _crew_order(d: DoneBy) -> int:
    return [DoneBy.DISPATCH, DoneBy.ARRIVAL, DoneBy.REPAIR].index(d)


class WorkingTime:
    """Deadline arithmetic over one calendar, time zone and working day."""

    def __init__(self, book: WorkflowBook, calendar: HolidayCalendar, tz: str) -> None:
        self.book, self.calendar, self.tz = book, calendar, ZoneInfo(tz)

    def _day_bounds(self, local: datetime) -> tuple[datetime, datetime]:
        d = local.date()
        return (
            datetime.combine(d, self.book.day_start, self.tz),
            datetime.combine(d, self.book.day_end, self.tz),
        )

    def add_working(self, start: datetime, minutes: int) -> datetime:
        """``start`` plus ``minutes`` of working time (aware datetimes; the answer is UTC)."""
        t = start.astimezone(self.tz)
        left = timedelta(minutes=minutes)
        for _ in range(3700):  # ten years of days: a calendar without working days is a bug
            lo, hi = self._day_bounds(t)
            if not self.calendar.is_working_day(t.date()) or t >= hi:
                t = datetime.combine(t.date() + timedelta(days=1), self.book.day_start, self.tz)
                continue
            t = max(t, lo)
            if t + left <= hi:
                return (t + left).astimezone(UTC)
            left -= hi - t
            t = hi
        raise WorkflowError("no working day in ten years: check the holiday calendar")

    def working_day_minutes(self) -> int:
        start, end = self.book.day_start, self.book.day_end
        return (end.hour - start.hour) * 60 + end.minute - start.minute

    def due(self, node: Node, start: datetime, pct: int = 100) -> datetime:
        """When ``node``, entered at ``start``, must be done; ``pct`` of the deadline for a
        customer of a higher service level (docs/key-accounts.md)."""
        if node.unit is DeadlineUnit.MINUTES:
            return (start + timedelta(minutes=node.deadline * pct / 100)).astimezone(UTC)
        if node.unit is DeadlineUnit.WORKING_HOURS:
            return self.add_working(start, node.deadline * 60 * pct // 100)
        return self.add_working(start, node.deadline * self.working_day_minutes() * pct // 100)
