"""Paging and time-range parameters shared by the list endpoints.

Lists are paged by ``limit`` (1..500, default 50) and ``offset``, and answer the ``total`` so a
client can draw a pager. Readings, the largest table, are paged by a cursor instead (see
``backend.metering.service.list_readings``). Times are ISO 8601 with an offset (``…Z``), days and
months are local (settings.timezone) calendar dates.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

from litestar.params import PathParameter, QueryParameter
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.errors import ErrorCode as E
from backend.errors import Invalid

MAX_LIMIT = 500
Limit = Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT, description="page size, at most 500")]
Offset = Annotated[int, QueryParameter(ge=0, le=10_000_000, description="rows to skip")]
SearchText = Annotated[str, QueryParameter(min_length=1, max_length=64)]
FromDay = Annotated[date, QueryParameter(name="from", description="first local day, inclusive")]
ToDay = Annotated[date, QueryParameter(name="to", description="last local day, inclusive")]
MONTH = r"^(19[7-9][0-9]|2[0-9]{3})-(0[1-9]|1[0-2])$"
FromMonth = Annotated[str, QueryParameter(name="from", pattern=MONTH, description="YYYY-MM, local")]
ToMonth = Annotated[str, QueryParameter(name="to", pattern=MONTH, description="YYYY-MM, inclusive")]
# times are taken as text and parsed strictly here: a bare number is not a time
_TIME = dict(format="date-time", min_length=10, max_length=40)
FromTime = Annotated[
    str | None, QueryParameter(name="from", description="ISO 8601 with offset, inclusive", **_TIME)
]
ToTime = Annotated[
    str | None, QueryParameter(name="to", description="ISO 8601 with offset, exclusive", **_TIME)
]
RequiredFrom = Annotated[
    str, QueryParameter(name="from", description="ISO 8601 with offset, inclusive", **_TIME)
]
RequiredTo = Annotated[
    str, QueryParameter(name="to", description="ISO 8601 with offset, exclusive", **_TIME)
]
Id = Annotated[int, PathParameter(ge=1, le=2**31 - 1)]
OptId = Annotated[int | None, QueryParameter(ge=1, le=2**31 - 1)]


async def fetch_page(
    session: AsyncSession, stmt: Any, limit: int, offset: int, *, count: Any = None
) -> tuple[list[Any], int]:
    """The rows of one page and the total number of rows the statement selects: counted by
    ``count`` when given (a leaner statement selecting as many rows, e.g. without the joins
    that only add columns), else over the statement itself."""
    counted = stmt.order_by(None) if count is None else count
    total = await session.scalar(select(func.count()).select_from(counted.subquery()))
    rows = (await session.execute(stmt.limit(limit).offset(offset))).all()
    return list(rows), int(total or 0)


EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2999, 12, 31, tzinfo=UTC)


def parse_time(text: str, field: str) -> datetime:
    """An ISO 8601 time with an offset (``…Z`` or ``+08:00``); anything else is a 400."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise Invalid(
            E.BAD_TIME, f"{text!r} is not an ISO 8601 time", field=field, value=text
        ) from None
    if value.tzinfo is None:
        raise Invalid(
            E.TIME_ZONE_MISSING, "give the time zone, e.g. 2026-01-31T16:00:00Z", field=field
        )
    if not EARLIEST <= value <= LATEST:
        raise Invalid(E.YEAR_OUT_OF_RANGE, "must lie between 1970 and 2999", field=field)
    return value.astimezone(UTC)


def utc_ms(value: str | None, field: str) -> int | None:
    """Epoch ms of a time query parameter (see :func:`parse_time`), None when absent."""
    if value is None:
        return None
    return int(parse_time(value, field).timestamp() * 1000)
