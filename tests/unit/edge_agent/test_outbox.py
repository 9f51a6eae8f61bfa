"""The outbox: seq, resend, PUBACK-only deletion, limits and the drop counter."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_agent.config import DropPolicy
from edge_agent.config import Outbox as Limits
from edge_agent.database import Database
from edge_agent.outbox import Outbox
from protocols.contract import Channel, EventKind, MeterEvent, Quality, Quantity, Value


class Clock:
    def __init__(self) -> None:
        self.now = 1_763_800_000_000

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(tmp_path / "agent.db")
    yield database
    database.close()


def values(meter: str, n: int, start: int = 0) -> list[Value]:
    return [Value(meter, 1_763_800_000_000 + i, Quantity.ENERGY_IMPORT, (start + i) * 10)
            for i in range(n)]  # fmt: skip


async def test_a_batch_leaves_only_on_its_own_puback_and_a_resend_keeps_seq_and_values(
    db: Database,
) -> None:
    box = Outbox(db, Limits(batch_size=3))
    await box.put_readings(values("m1", 5))
    first = await box.next_batch(Channel.READINGS, 3)
    second = await box.next_batch(Channel.READINGS, 3)
    assert first is not None
    assert second is not None
    assert (first.seq, second.seq) == (1, 2)
    assert await box.acked(Channel.READINGS, second.seq) == 2
    # the connection drops before the first PUBACK: the batch is resent as it was
    resend = await box.unacked(Channel.READINGS)
    assert [(b.seq, b.items) for b in resend] == [(1, first.items)]
    assert box.readings_depth == 3


async def test_seq_only_increases_across_a_restart(tmp_path: Path) -> None:
    db = Database(tmp_path / "agent.db")
    box = Outbox(db, Limits())
    await box.put_readings(values("m1", 2))
    batch = await box.next_batch(Channel.READINGS, 1)
    assert batch is not None
    await box.acked(Channel.READINGS, batch.seq)
    db.close()
    db = Database(tmp_path / "agent.db")
    box = Outbox(db, Limits())
    again = await box.next_batch(Channel.READINGS, 10)
    db.close()
    assert again is not None
    assert again.seq == batch.seq + 1


async def test_readings_go_out_in_insertion_order_and_live_rows_are_split_from_backlog(
    db: Database,
) -> None:
    box = Outbox(db, Limits())
    await box.put_readings(values("m1", 3))
    watermark = await box.max_id()
    await box.put_readings(values("m1", 2, start=3))
    live = await box.next_batch(Channel.READINGS, 10, after_id=watermark)
    backlog = await box.next_batch(Channel.READINGS, 10, upto_id=watermark)
    assert live is not None
    assert backlog is not None
    assert [v.value for v in live.items] == [30, 40]  # type: ignore[union-attr]
    assert [v.value for v in backlog.items] == [0, 10, 20]  # type: ignore[union-attr]


async def test_over_the_row_limit_the_oldest_unsent_readings_are_dropped_and_counted(
    db: Database,
) -> None:
    box = Outbox(db, Limits(max_rows=100))
    in_flight = values("m1", 10)
    await box.put_readings(in_flight)
    assert await box.next_batch(Channel.READINGS, 10) is not None  # in flight: dropped last
    await box.put_readings(values("m2", 90))
    stored = await box.put_readings(values("m3", 5))
    assert stored.dropped == 5
    assert box.readings_depth == 100
    assert await box.dropped_total() == 5
    unacked = await box.unacked(Channel.READINGS)
    assert len(unacked[0].items) == 10
    assert await box.report_drops() == 1
    batch = await box.next_batch(Channel.EVENTS, 10)
    assert batch is not None
    event = batch.items[0]
    assert isinstance(event, MeterEvent)
    assert (event.meter, event.kind, event.value) == ("m2", EventKind.READINGS_DROPPED, 5)
    assert await box.report_drops() == 0  # reported once


async def test_drop_newest_refuses_what_does_not_fit_and_counts_it(db: Database) -> None:
    box = Outbox(db, Limits(max_rows=100, policy=DropPolicy.DROP_NEWEST))
    await box.put_readings(values("m1", 98))
    stored = await box.put_readings(values("m2", 5))
    assert (stored.stored, stored.dropped) == (2, 3)
    assert await box.dropped_total() == 3


async def test_stop_polling_reports_no_room_instead_of_dropping(db: Database) -> None:
    box = Outbox(db, Limits(max_rows=100, policy=DropPolicy.STOP_POLLING))
    await box.put_readings(values("m1", 99))
    assert box.has_room()
    await box.put_readings(values("m1", 1, start=99))
    assert not box.has_room()
    assert await box.dropped_total() == 0


async def test_readings_older_than_the_age_limit_are_dropped_and_counted(db: Database) -> None:
    clock = Clock()
    box = Outbox(db, Limits(max_age_days=1), clock=clock)
    await box.put_readings(values("m1", 4))
    clock.now += 86_400_000 + 1
    await box.put_readings(values("m1", 1, start=4))
    assert await box.expire() == 4
    assert box.readings_depth == 1
    assert await box.dropped_total() == 4
    assert await box.oldest_created() == clock.now


async def test_the_drop_counter_survives_a_restart(tmp_path: Path) -> None:
    db = Database(tmp_path / "agent.db")
    box = Outbox(db, Limits(max_rows=100))
    await box.put_readings(values("m1", 103))
    db.close()
    db = Database(tmp_path / "agent.db")
    total = await Outbox(db, Limits(max_rows=100)).dropped_total()
    db.close()
    assert total == 3


async def test_stored_readings_not_yet_in_a_batch_are_known_by_when_they_were_read(
    db: Database,
) -> None:
    box = Outbox(db, Limits(batch_size=3))
    await box.put_readings(values("m1", 2))  # read at T, T + 1
    later = [Value("m2", 1_763_800_000_000 + ms, Quantity.ENERGY_IMPORT, 1) for ms in (5, 3)]
    await box.put_readings(later)  # not in the order read: its oldest counts
    late = [Value("m3", 1_700_000_000_000, Quantity.ENERGY_IMPORT, 1, Quality.BACKFILLED)]
    await box.put_readings(late)  # a frozen value read back now: not old for the lag
    assert box.oldest_unsent_read(0) == 1_763_800_000_000
    first = await box.next_batch(Channel.READINGS, 2)
    assert first is not None
    assert box.oldest_unsent_read(first.newest_id) == 1_763_800_000_003
    rest = await box.next_batch(Channel.READINGS, 10)
    assert rest is not None
    assert box.oldest_unsent_read(rest.newest_id) is None
