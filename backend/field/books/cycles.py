"""Reading cycles: a local calendar month ("2026-11") in settings.timezone."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from backend.errors import ErrorCode as E
from backend.errors import Invalid
from backend.types import from_epoch_ms, local_day, midnight_ms, to_epoch_ms


def cycle_of(ts_ms: int, timezone: str) -> str:
    local = from_epoch_ms(ts_ms).astimezone(ZoneInfo(timezone))
    return f"{local.year:04d}-{local.month:02d}"


def cycle_bounds(cycle: str, timezone: str) -> tuple[int, int]:
    """The cycle's local month as [start, end) in UTC epoch ms."""
    year, month = _parts(cycle)
    tz = ZoneInfo(timezone)
    start = datetime(year, month, 1, tzinfo=tz)
    end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=tz)
    return to_epoch_ms(start), to_epoch_ms(end)


def cycle_last_day(cycle: str) -> date:
    year, month = _parts(cycle)
    return date(year + (month == 12), month % 12 + 1, 1) - timedelta(days=1)


def parse_cycle(value: str | None, now_ms: int, timezone: str) -> str:
    if value is None:
        return cycle_of(now_ms, timezone)
    _parts(value)
    return value


def local_day_bounds(day: str, timezone: str) -> tuple[int, int]:
    """A local calendar day (YYYY-MM-DD) as [start, end) in UTC epoch ms."""
    try:
        d = date.fromisoformat(day)
    except ValueError:
        raise Invalid(
            E.BAD_DATE, f"date {day!r} is not YYYY-MM-DD", field="date", value=day
        ) from None
    tz = ZoneInfo(timezone)
    return midnight_ms(d, tz), midnight_ms(d + timedelta(days=1), tz)


def local_day_of(ts_ms: int, timezone: str) -> str:
    return local_day(ts_ms, ZoneInfo(timezone)).isoformat()


def _parts(cycle: str) -> tuple[int, int]:
    if len(cycle) == 7 and cycle[4] == "-" and cycle[:4].isdigit() and cycle[5:].isdigit():
        year, month = int(cycle[:4]), int(cycle[5:])
        if 1 <= month <= 12 and year >= 2000:
            return year, month
    raise Invalid(E.BAD_CYCLE, f"cycle {cycle!r} is not YYYY-MM", field="cycle", value=cycle)


def ids(text: str) -> list[int]:
    """A comma list of ids, as book items store their tasks."""
    return [int(t) for t in text.split(",") if t]
