"""The uplink's in-flight window: a slot is held from publish to PUBACK, not to the deletion."""

from __future__ import annotations

import asyncio

from edge_agent.outbox import Batch
from edge_agent.uplink import _InFlight
from protocols.contract import Channel


def _batch(seq: int) -> Batch:
    return Batch(channel=Channel.READINGS, seq=seq, items=[], oldest_id=seq, newest_id=seq)


async def test_a_slot_is_free_at_the_puback_while_the_rows_wait_for_their_deletion() -> None:
    pubacks: dict[int, asyncio.Future[None]] = {}
    deleted: dict[int, asyncio.Future[int]] = {}
    published: list[int] = []
    second_out = asyncio.Event()

    async def publish(batch: Batch) -> asyncio.Future[int]:
        loop = asyncio.get_running_loop()
        pubacks[batch.seq] = loop.create_future()
        deleted[batch.seq] = loop.create_future()
        published.append(batch.seq)
        if batch.seq == 2:
            second_out.set()
        await pubacks[batch.seq]
        return deleted[batch.seq]

    sending = _InFlight(1, publish)
    await sending.send(_batch(1))
    await asyncio.sleep(0)
    assert sending.free() == 0
    pubacks[1].set_result(None)
    # the deletion of batch 1 is still waiting for its commit: batch 2 goes out all the same
    async with asyncio.timeout(5):
        await sending.send(_batch(2))
        await second_out.wait()
    assert published == [1, 2]
    assert not deleted[1].done()
    assert sending.free() == 0
    assert len(sending.tasks) == 2  # the deletion is still tracked, its failure still surfaces
    deleted[1].set_exception(RuntimeError("disk full"))
    pubacks[2].set_result(None)
    deleted[2].set_result(0)
    async with asyncio.timeout(5):
        await asyncio.gather(*sending.tasks, return_exceptions=True)
    assert not sending.tasks
    assert sending.free() == 1
    assert isinstance(sending.failure, RuntimeError)


async def test_a_publish_that_fails_before_its_puback_gives_its_slot_back_once() -> None:
    async def publish(batch: Batch) -> None:
        raise ConnectionError("lost")

    sending = _InFlight(2, publish)
    await sending.send(_batch(1))
    async with asyncio.timeout(5):
        await asyncio.gather(*sending.tasks, return_exceptions=True)
    assert not sending.tasks
    assert sending.free() == 2
    assert isinstance(sending.failure, ConnectionError)
