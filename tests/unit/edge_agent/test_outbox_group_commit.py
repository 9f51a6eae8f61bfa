"""Group commit: polls of many buses that finish together share one fsynced transaction, and
each poll still returns only once its own rows are committed."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_agent.config import DropPolicy
from edge_agent.config import Outbox as Limits
from edge_agent.database import Database
from edge_agent.outbox import Outbox, Stored
from protocols.contract import Channel, Quantity, Value


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(tmp_path / "agent.db")
    yield database
    database.close()


def poll(meter: str, n: int = 10) -> list[Value]:
    return [Value(meter, 1_763_800_000_000 + i, Quantity.VOLTAGE_A, 230_000 + i) for i in range(n)]


def count_commits(db: Database) -> list[str]:
    statements: list[str] = []
    db.call(lambda c: c.set_trace_callback(statements.append))
    return statements


def committed_rows(db: Database) -> int:
    return int(db.call(lambda c: c.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]))


async def test_fifty_polls_finishing_together_share_one_commit(db: Database) -> None:
    box = Outbox(db, Limits())
    statements = count_commits(db)
    results = await asyncio.gather(*(box.put_readings(poll(f"m{i}")) for i in range(50)))
    assert results == [Stored(10, 0)] * 50
    assert statements.count("COMMIT") == 1
    assert committed_rows(db) == 500
    assert box.readings_depth == 500


async def test_each_poll_returns_only_after_its_own_rows_are_committed(db: Database) -> None:
    box = Outbox(db, Limits())
    seen: list[int] = []

    async def put_and_look(meter: str) -> None:
        await box.put_readings(poll(meter))
        seen.append(await db.run(lambda c: c.execute(
            "SELECT COUNT(*) FROM outbox WHERE meter = ?", (meter,)).fetchone()[0]))  # fmt: skip

    first = asyncio.create_task(put_and_look("m1"))
    await asyncio.sleep(0)  # m1's commit is now under way; m2 and m3 queue behind it
    await asyncio.gather(first, put_and_look("m2"), put_and_look("m3"))
    assert seen == [10, 10, 10]


async def test_the_limits_apply_across_the_polls_of_one_group_commit(db: Database) -> None:
    box = Outbox(db, Limits(max_rows=100, policy=DropPolicy.DROP_NEWEST))
    results = await asyncio.gather(*(box.put_readings(poll(f"m{i}", 30)) for i in range(4)))
    assert results == [Stored(30, 0), Stored(30, 0), Stored(30, 0), Stored(10, 20)]
    assert box.readings_depth == 100
    assert committed_rows(db) == 100
    assert (await box.depth())[Channel.READINGS] == 100
