"""Where a batch goes: one database-specific writer per dialect, behind one small interface.

The hot path bypasses the ORM on purpose: a batch of readings is one statement (PostgreSQL:
``INSERT … SELECT FROM unnest($1::int4[], …)``; SQLite: ``INSERT OR IGNORE … SELECT FROM
json_each(?)``), so its cost is the database's, not Python's. Everything else in a batch —
events, dead letters, sequence gaps, liveness — is a handful of small statements.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.engine import make_url

from backend.db import is_sqlite
from backend.metering.ingest.hooks import AffectedInterval
from backend.metering.ingest.plan import Advance, MeterRef, Plan, advance
from protocols.contract import RelayState

RELAY_CODES = frozenset(int(s) for s in RelayState)
SEQ_COLUMNS = {"readings": "last_reading_seq", "events": "last_event_seq"}
TOPIC_MAX = 256  # dead_letters.topic


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


def open_store(database_url: str, *, offline_after_s: int) -> Store:
    if is_sqlite(database_url):
        from backend.metering.ingest.sqlite_store import SqliteStore

        return SqliteStore(make_url(database_url).database or ":memory:", offline_after_s)
    from backend.metering.ingest.postgres_store import PostgresStore

    url = make_url(database_url).set(drivername="postgresql")
    return PostgresStore(url.render_as_string(hide_password=False), offline_after_s)


def utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def sqlite_time(ms: int) -> str:
    """The text SQLAlchemy's SQLite DateTime writes (UTC, naive), so comparisons sort right."""
    return utc(ms).strftime("%Y-%m-%d %H:%M:%S.%f")


def sequence_keys(plan: Plan) -> dict[str, dict[str, list[int]]]:
    """agent → channel → seqs, for the agents whose marks this plan moves."""
    out: dict[str, dict[str, list[int]]] = {}
    for (agent, channel), seqs in plan.seqs.items():
        out.setdefault(agent, {})[channel] = seqs
    return out


def advances(
    plan: Plan, marks: Mapping[str, Mapping[str, int | None]]
) -> dict[tuple[str, str], Advance]:
    return {
        (agent, channel): advance(marks.get(agent, {}).get(channel), seqs)
        for (agent, channel), seqs in plan.seqs.items()
    }


def relay_updates(plan: Plan) -> list[tuple[int, int, int]]:
    """(meter_pk, ts, state) of relay_changed events carrying a valid RelayState code."""
    return [
        (pk, ts, value)
        for pk, ts, kind, value, _text, _r in plan.events
        if kind == "relay_changed" and value is not None and value in RELAY_CODES
    ]


def presence_events(plan: Plan, kind: str) -> list[tuple[int, int]]:
    return [(pk, ts) for pk, ts, k, _v, _t, _r in plan.events if k == kind]
