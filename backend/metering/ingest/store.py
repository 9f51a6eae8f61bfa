"""Where a batch goes: one writer per database driver, behind one small interface.

The hot path bypasses the ORM on purpose: a batch of readings is one statement (PostgreSQL:
``INSERT … SELECT FROM unnest($1::int4[], …)``; SQLite: ``INSERT OR IGNORE … SELECT FROM
json_each(?)``), so its cost is the database's, not Python's. Everything else in a batch —
events, dead letters, sequence gaps, liveness — is a handful of small statements, written
once in ``statements.py``. ``service.open_store`` picks the writer for a database URL.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from backend.metering.derived import AffectedInterval
from backend.metering.ingest.plan import MeterRef, Plan


@dataclass(slots=True)
class WriteResult:
    inserted: int = 0  # readings stored
    events_inserted: int = 0
    states: int = 0
    gaps: int = 0  # new missing ranges
    gaps_filled: int = 0
    intervals: list[AffectedInterval] = field(default_factory=list)
    data_done: bool = False  # the readings/events/dead letters part has committed


class PermanentError(Exception):
    """The database refused the data itself (not a transient failure): retrying cannot help."""


class Store(abc.ABC):
    """The ingestion writer's view of the database. ``write`` commits a whole plan or nothing
    (PostgreSQL: data first, then bookkeeping, each atomic; a retry resumes after the part that
    committed)."""

    @abc.abstractmethod
    async def open(self) -> None: ...

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    async def ensure_agents(self, ids: Sequence[str]) -> None: ...

    @abc.abstractmethod
    async def resolve_meters(
        self, agent: str, wanted: Mapping[str, tuple[str, str]]
    ) -> tuple[dict[str, MeterRef], int]:
        """Meter refs for ``wanted`` (meter id → (protocol, address)), registering unknown
        meters as pending under ``agent``; a meter that exists keeps its agent, or its lack of
        one (only the registry assigns meters). Returns the refs and how many were created."""

    @abc.abstractmethod
    async def write(self, plan: Plan, result: WriteResult, *, intervals: bool) -> None: ...

    @abc.abstractmethod
    def is_permanent(self, exc: BaseException) -> bool: ...


def utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def sqlite_time(ms: int) -> str:
    """The text SQLAlchemy's SQLite DateTime writes (UTC, naive), so comparisons sort right."""
    return utc(ms).strftime("%Y-%m-%d %H:%M:%S.%f")
