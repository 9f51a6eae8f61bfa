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


async def test_puback_deletions_and_polls_arriving_together_share_one_commit(
    db: Database,
) -> None:
    box = Outbox(db, Limits())
    await box.put_readings(poll("m0", 6))
    first = await box.next_batch(Channel.READINGS, 3)
    second = await box.next_batch(Channel.READINGS, 3)
    assert first is not None
    assert second is not None
    statements = count_commits(db)
    removed = await asyncio.gather(
        box.acked(Channel.READINGS, first.seq),
        box.put_readings(poll("m1", 4)),
        box.acked(Channel.READINGS, second.seq),
    )
    assert removed == [3, Stored(4, 0), 3]
    assert statements.count("COMMIT") == 1
    assert committed_rows(db) == 4
    assert box.readings_depth == 4


async def test_a_failed_commit_leaves_the_acknowledged_rows_and_the_depth_as_they_were(
    db: Database,
) -> None:
    box = Outbox(db, Limits())
    await box.put_readings(poll("m0", 3))
    batch = await box.next_batch(Channel.READINGS, 3)
    assert batch is not None
    bad = [Value("m1", 1_763_800_000_000, Quantity.VOLTAGE_A, 2**70)]  # no SQLite integer
    results = await asyncio.gather(
        box.acked(Channel.READINGS, batch.seq), box.put_readings(bad), return_exceptions=True
    )
    assert all(isinstance(r, Exception) for r in results)
    assert committed_rows(db) == 3  # rolled back: the batch is still there, to be resent
    assert box.readings_depth == 3
    assert await box.acked(Channel.READINGS, batch.seq) == 3
    assert box.readings_depth == 0


async def test_several_batches_are_formed_in_one_transaction_in_order(db: Database) -> None:
    box = Outbox(db, Limits())
    await box.put_readings(poll("m1", 7))
    statements = count_commits(db)
    spec = (Channel.READINGS, 3, 0, None)
    formed = await box.next_batches([spec, spec, spec, spec])
    assert statements.count("COMMIT") == 1
    assert [None if b is None else (b.seq, len(b)) for b in formed] == [
        (1, 3),
        (2, 3),
        (3, 1),
        None,
    ]
    assert [v.value for b in formed if b is not None for v in b.items] == [
        230_000 + i for i in range(7)
    ]
    assert await box.acked(Channel.READINGS, 2) == 3
    assert [b.seq for b in await box.unacked(Channel.READINGS)] == [1, 3]
