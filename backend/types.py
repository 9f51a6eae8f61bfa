"""Column types that keep the project's rules on every database.

SQLite has no time zone type: SQLAlchemy would hand back naive datetimes there. ``UTCDateTime``
stores UTC and always returns timezone-aware UTC datetimes, on SQLite and PostgreSQL alike, and
refuses naive input, so local time can never sneak into storage.
"""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime, tzinfo
from typing import Any

from sqlalchemy import DateTime, Enum
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: store aware UTC datetimes only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def to_epoch_ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


def from_epoch_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def midnight_ms(day: date, tz: tzinfo) -> int:
    """UTC epoch ms of the local midnight that opens ``day`` in ``tz``."""
    return int(datetime(day.year, day.month, day.day, tzinfo=tz).timestamp()) * 1000


def local_day(ms: int, tz: tzinfo) -> date:
    """The local calendar day an instant falls in: [midnight, next midnight). (A reading's
    day is (midnight, midnight]: ``backend.metering.consumption_rules.reading_day``.)"""
    return datetime.fromtimestamp(ms / 1000, UTC).astimezone(tz).date()


def str_enum(enum_cls: type[enum.StrEnum], length: int = 32) -> Enum:
    """A portable enum column that stores the members' values ('residential'), not names."""
    return Enum(
        enum_cls,
        native_enum=False,
        length=length,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )
