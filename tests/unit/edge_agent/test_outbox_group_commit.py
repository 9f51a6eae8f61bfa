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
from edge_agent.outbox import Batch, Outbox, Stored, Want
from protocols.contract import MAX_BATCH_ITEMS, Channel, Quantity, Value


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


async def test_a_batch_gets_its_seq_in_the_commit_that_stores_its_values(db: Database) -> None:
    box = Outbox(db, Limits())
    waiting = asyncio.create_task(box.next_batches([(Channel.READINGS, 100, 0, None)], wait=True))
    await asyncio.sleep(0)  # the uplink's request is in: it waits for rows (there are none)
    statements = count_commits(db)
    assert await box.put_readings(poll("m1", 7)) == Stored(7, 0)
    async with asyncio.timeout(5):
        [batch] = await waiting
    assert statements.count("COMMIT") == 1  # the values and the batch's seq: one fsync
    assert batch is not None
    assert (batch.seq, [v.value for v in batch.items]) == (1, [230_000 + i for i in range(7)])
    # the seq is on disk before the batch is handed out: the next outbox (after a crash)
    # knows the batch and resends it with the same seq and values
    again = Outbox(db, Limits())
    [resend] = await again.unacked(Channel.READINGS)
    assert (resend.seq, resend.items) == (batch.seq, batch.items)


async def test_looking_for_batches_when_there_are_none_commits_nothing(db: Database) -> None:
    box = Outbox(db, Limits())
    statements = count_commits(db)
    assert await box.next_batches([(Channel.READINGS, 10, 0, None)]) == [None]
    assert "COMMIT" not in statements
    assert box.commits == 0


async def test_a_backed_up_outbox_forms_larger_batches_up_to_the_contract_limit(
    db: Database,
) -> None:
    box = Outbox(db, Limits(max_rows=100_000))
    await asyncio.gather(*(box.put_readings(poll(f"m{i}", 10)) for i in range(2_500)))

    def sizes(formed: list[Batch | None]) -> list[int]:
        return [0 if b is None else len(b) for b in formed]

    # light: what waits fits the wanted batches of the usual size
    few = await box.next_batches([Want(Channel.READINGS, 100, 24_850, None, 2, MAX_BATCH_ITEMS)])
    assert sizes(few) == [100, 50]
    # backed up: more waits than two batches of 100 hold, so they grow evenly ...
    grown = await box.next_batches([Want(Channel.READINGS, 100, 0, 3_000, 2, MAX_BATCH_ITEMS)])
    assert sizes(grown) == [1_500, 1_500]
    # ... up to the contract's limit per message
    capped = await box.next_batches([Want(Channel.READINGS, 100, 0, None, 2, MAX_BATCH_ITEMS)])
    assert sizes(capped) == [MAX_BATCH_ITEMS, MAX_BATCH_ITEMS]
    batches = [b for b in [*few, *grown, *capped] if b is not None]
    assert [b.seq for b in batches] == [1, 2, 3, 4, 5, 6]
    assert [(b.oldest_id, b.newest_id) for b in batches] == [
        (24_851, 24_950),
        (24_951, 25_000),
        (1, 1_500),
        (1_501, 3_000),
        (3_001, 13_000),
        (13_001, 23_000),
    ]
    assert await box.unsent(Channel.READINGS, 2**62) == 1_850


async def test_flush_waits_for_the_deletions_under_way(db: Database) -> None:
    box = Outbox(db, Limits())
    await box.put_readings(poll("m0", 3))
    batch = await box.next_batch(Channel.READINGS, 3)
    assert batch is not None
    deletion = asyncio.create_task(box.acked(Channel.READINGS, batch.seq))
    await asyncio.sleep(0)
    deletion.cancel()  # the uplink is gone (shutdown); the PUBACK came all the same
    await box.flush()
    assert committed_rows(db) == 0
