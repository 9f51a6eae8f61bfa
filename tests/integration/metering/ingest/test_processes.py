"""``meterline ingest`` as real processes: SIGKILL loses nothing, SIGTERM acknowledges exactly
what it committed, and two processes in a shared group split the stream between them."""

from __future__ import annotations

import asyncio
import itertools
import threading
from pathlib import Path

import pytest
from sqlalchemy import text

from backend.db import create_engine, session_factory
from protocols.contract import Channel, Quantity, ReadingBatch, Value, agent_topic, decode, encode
from tests.integration.metering.ingest.conftest import StartIngestor
from tests.support.ingest_agent import T0, Agent, forget_session, until, values
from tests.support.ingest_process import IngestProcess, drain_session, session_exists
from tests.support.prepaid_data import load_default_tariffs, local_ms, make_account
from tests.support.services import Mosquitto

pytestmark = pytest.mark.mosquitto
_ids = itertools.count()
METERS = [f"m{i}" for i in range(10)]


def stream(count: int, first_seq: int = 1) -> list[bytes]:
    """``count`` readings messages of 10 distinct readings each."""
    return [
        encode(ReadingBatch(agent="agent-1", seq=s, values=values(METERS, T0 + s * 900_000)))
        for s in range(first_seq, first_seq + count)
    ]


class Publisher(threading.Thread):
    """Publishes messages in chunks of 10, each chunk acknowledged by the broker, so the
    stream keeps flowing while the test kills or stops the ingest process."""

    def __init__(self, agent: Agent, payloads: list[bytes]) -> None:
        super().__init__(daemon=True)
        self.agent, self.payloads = agent, payloads
        self.topic = agent_topic(agent.agent, Channel.READINGS)

    def run(self) -> None:
        for i in range(0, len(self.payloads), 10):
            self.agent._publish_sync([(self.topic, p, False) for p in self.payloads[i : i + 10]])


async def test_a_killed_ingest_process_loses_nothing_and_stores_every_reading_once(
    database_url: str, mosquitto: Mosquitto, tmp_path: Path
) -> None:
    cid = f"test-crash-{next(_ids)}"
    engine = create_engine(database_url)
    agent = Agent(mosquitto)
    first = IngestProcess(mosquitto, database_url, tmp_path, cid, ingest_batch_size="200")
    second: IngestProcess | None = None

    async def stored() -> int:
        async with engine.connect() as conn:
            return int((await conn.execute(text("SELECT count(*) FROM readings"))).scalar_one())

    try:
        await asyncio.to_thread(first.wait_connected)
        publisher = Publisher(agent, stream(600))
        publisher.start()
        await until(lambda: _at_least(stored, 500), 30, "the first commits")
        first.kill()  # mid-stream: a batch is in hand, messages are in flight
        killed_at = await stored()
        await asyncio.to_thread(publisher.join, 60)
        assert killed_at < 6000
        second = IngestProcess(mosquitto, database_url, tmp_path, cid, ingest_batch_size="200")
        await asyncio.to_thread(second.wait_connected)
        await until(lambda: _at_least(stored, 6000), 60, "every reading")
        assert await asyncio.to_thread(second.terminate) == 0
        assert await stored() == 6000
        async with engine.connect() as conn:
            distinct = await conn.execute(
                text(
                    "SELECT count(*) FROM (SELECT DISTINCT meter_pk, quantity, ts FROM readings) d"
                )
            )
            assert distinct.scalar_one() == 6000
            assert (await conn.execute(text("SELECT count(*) FROM dead_letters"))).scalar_one() == 0
    finally:
        agent.close()
        first.stop()
        if second is not None:
            second.stop()
        await engine.dispose()
        forget_session(mosquitto, cid)


async def _at_least(count: object, n: int) -> bool:
    return await count() >= n  # type: ignore[operator,no-any-return]


async def test_sigterm_commits_and_acknowledges_what_was_received_and_nothing_else(
    database_url: str, mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """Stopped while the broker still streams a deep queue at it: the broker is writing the
    next messages as the last PUBACKs and the DISCONNECT leave. Those must reach the broker
    all the same (a socket closed with unread data in it is reset, and the broker then drops
    what it had not yet read of ours), so what was committed is exactly what was
    acknowledged."""
    cid = f"test-term-{next(_ids)}"
    engine = create_engine(database_url)
    agent = Agent(mosquitto)
    settings = {"ingest_batch_size": "100", "ingest_batch_ms": "400"}
    first = IngestProcess(mosquitto, database_url, tmp_path, cid, **settings)
    proc: IngestProcess | None = None

    async def keys() -> set[tuple[str, str, int]]:
        async with engine.connect() as conn:
            rows = await conn.execute(
                text(
                    "SELECT m.meter_id, r.quantity, r.ts FROM readings r"
                    " JOIN meters m ON m.id = r.meter_pk"
                )
            )
            return {(m, q, ts) for m, q, ts in rows}

    try:
        # the session and its subscription exist; the whole stream then queues at the broker
        await asyncio.to_thread(first.wait_connected)
        assert await asyncio.to_thread(first.terminate) == 0
        payloads = stream(400)
        await agent.publish(Channel.READINGS, *payloads)
        proc = IngestProcess(mosquitto, database_url, tmp_path, cid, **settings)
        await until(lambda: _at_least(_len(keys), 200), 30, "the first commits")
        assert await asyncio.to_thread(proc.terminate) == 0  # mid-queue: 10 messages a batch
        assert "ingestion stopped" in proc.output
        marker = encode(ReadingBatch(agent="agent-1", seq=10_000, values=[]))
        await agent.publish(Channel.READINGS, marker)
        # readings only: a retained agent state (another test's) is sent at every subscribe
        readings = agent_topic("agent-1", Channel.READINGS)
        queued = await asyncio.to_thread(drain_session, mosquitto, cid, marker, readings)
    finally:
        agent.close()
        first.stop()
        if proc is not None:
            proc.stop()
    committed = await keys()
    await engine.dispose()
    redelivered = {
        (v.meter, v.quantity.value, v.ts)
        for p in queued[:-1]
        for v in decode(p, ReadingBatch).values
    }
    published = {
        (v.meter, v.quantity.value, v.ts) for p in payloads for v in decode(p, ReadingBatch).values
    }
    assert committed & redelivered == set()  # nothing committed was left unacknowledged
    assert committed | redelivered == published  # and nothing was lost
    assert 0 < len(committed) < len(published)


def _len(fn: object) -> object:
    async def count() -> int:
        return len(await fn())  # type: ignore[operator]

    return count


async def test_two_ingest_processes_in_a_shared_group_split_the_stream_and_store_it_once(
    database_url: str, mosquitto: Mosquitto, tmp_path: Path
) -> None:
    group = f"share{next(_ids)}"
    engine = create_engine(database_url)
    agent = Agent(mosquitto)
    procs = [
        IngestProcess(
            mosquitto, database_url, tmp_path / name, f"{group}-{name}", mqtt_share_group=group
        )
        for name in ("a", "b")
    ]

    async def stored() -> int:
        async with engine.connect() as conn:
            return int((await conn.execute(text("SELECT count(*) FROM readings"))).scalar_one())

    try:
        for p in procs:
            await asyncio.to_thread(p.wait_connected)
        await agent.publish(Channel.READINGS, *stream(300))
        await until(lambda: _at_least(stored, 3000), 60, "every reading")
        for p in procs:
            assert await asyncio.to_thread(p.terminate) == 0
    finally:
        agent.close()
        for p in procs:
            p.stop()
        await engine.dispose()
        for name in ("a", "b"):
            forget_session(mosquitto, f"{group}-{name}")
    (_, stored_a, dup_a), (_, stored_b, dup_b) = (p.summary() for p in procs)
    assert stored_a + stored_b == 3000
    assert dup_a == dup_b == 0
    assert stored_a > 0
    assert stored_b > 0


async def test_a_retired_group_member_hands_over_its_queue_and_its_session_is_deleted(
    sqlite_database_url: str, mosquitto: Mosquitto, ingestor: StartIngestor, tmp_path: Path
) -> None:
    database_url = sqlite_database_url  # the subject is the broker session, not the database
    group = f"share{next(_ids)}"
    staying = await ingestor(database_url, client_id=f"{group}-a", mqtt_share_group=group)
    leaving = await ingestor(database_url, client_id=f"{group}-b", mqtt_share_group=group)
    await leaving.stop()  # its persistent session stays in the group and keeps its share
    agent = Agent(mosquitto)
    engine = create_engine(database_url)
    try:
        await agent.publish(Channel.READINGS, *stream(100))
        retire = IngestProcess(
            mosquitto, database_url, tmp_path, f"{group}-b", "--leave", mqtt_share_group=group
        )
        assert await asyncio.to_thread(retire.wait) == 0
        drained, _stored, _dups = retire.summary()
        assert drained > 0  # the share the broker had queued for the stopped member
        assert not await asyncio.to_thread(session_exists, mosquitto, f"{group}-b")

        async def stored() -> int:
            async with engine.connect() as conn:
                result = await conn.execute(text("SELECT count(*) FROM readings"))
                return int(result.scalar_one())

        await until(lambda: _at_least(stored, 1000), 30, "every reading")
        # nothing new goes to the retired member: the one left gets everything now
        before = staying.counters.messages
        await agent.publish(Channel.READINGS, *stream(10, first_seq=101))
        await until(lambda: staying.counters.messages == before + 10, 20, "the rest")
    finally:
        agent.close()
        await engine.dispose()


async def test_a_group_member_killed_mid_stream_loses_nothing_once_it_is_back(
    database_url: str, mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """SIGKILL of one of two members sharing the stream: what it had received but not
    acknowledged stays in its session (QoS 1), with the share routed to it meanwhile, and the
    broker redelivers both when it comes back under its client id."""
    group = f"share{next(_ids)}"
    engine = create_engine(database_url)
    agent = Agent(mosquitto)

    def member(name: str) -> IngestProcess:
        return IngestProcess(
            mosquitto, database_url, tmp_path / name, f"{group}-{name}",
            mqtt_share_group=group, ingest_batch_size="200",
        )  # fmt: skip

    staying, killed = member("a"), member("b")
    back: IngestProcess | None = None

    async def stored() -> int:
        async with engine.connect() as conn:
            return int((await conn.execute(text("SELECT count(*) FROM readings"))).scalar_one())

    try:
        for p in (staying, killed):  # a start-up takes long on a busy machine
            await asyncio.to_thread(p.wait_connected, 120)
        publisher = Publisher(agent, stream(600))
        publisher.start()
        await until(lambda: _at_least(stored, 1000), 60, "the first commits")
        killed.kill()  # mid-stream, with a batch in hand and messages in flight
        await asyncio.to_thread(publisher.join, 60)
        # and more while it is away: the broker routes a share of them to its session too
        await agent.publish(Channel.READINGS, *stream(100, first_seq=601))
        assert await stored() < 7000
        back = member("b")
        await asyncio.to_thread(back.wait_connected, 120)
        await until(lambda: _at_least(stored, 7000), 60, "every reading")
        for p in (staying, back):
            assert await asyncio.to_thread(p.terminate) == 0
        assert await stored() == 7000
        async with engine.connect() as conn:
            distinct = await conn.execute(
                text(
                    "SELECT count(*) FROM (SELECT DISTINCT meter_pk, quantity, ts FROM readings) d"
                )
            )
            assert distinct.scalar_one() == 7000
            assert (await conn.execute(text("SELECT count(*) FROM dead_letters"))).scalar_one() == 0
            gaps = await conn.execute(text("SELECT count(*) FROM ingest_gaps"))
            assert gaps.scalar_one() == 0  # every seq arrived in the end
    finally:
        agent.close()
        for p in (staying, killed, back):
            if p is not None:
                p.stop()
        await engine.dispose()
        for name in ("a", "b"):
            forget_session(mosquitto, f"{group}-{name}")


async def test_an_ingest_process_follows_its_commits_with_consumption_and_billing(
    database_url: str, mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """``meterline ingest`` runs the derived-data path as ``meterline serve`` does: what it
    commits is turned into consumption and billed by the process itself, so several ingest
    processes share that work as they share the stream."""
    engine = create_engine(database_url)
    sessions = session_factory(engine)
    async with sessions() as s:
        await load_default_tariffs(s)
        _, account, meter = await make_account(s)
        await s.commit()
    cid = f"test-derived-{next(_ids)}"
    agent = Agent(mosquitto)
    proc = IngestProcess(mosquitto, database_url, tmp_path, cid)

    async def charged() -> bool:
        async with engine.connect() as conn:
            n = await conn.execute(
                text("SELECT count(*) FROM charges WHERE account_id = :a"), {"a": account.id}
            )
            return int(n.scalar_one()) == 1

    try:
        await asyncio.to_thread(proc.wait_connected)
        at = [local_ms(2026, 5, 6, 10), local_ms(2026, 5, 6, 11)]
        energy = [Value(meter=meter.meter_id, quantity=Quantity.ENERGY_IMPORT, ts=ts, value=wh)
                  for ts, wh in zip(at, (1_000, 3_000), strict=True)]  # fmt: skip
        await agent.readings((1, energy))
        await until(charged, 60, "the interval to be billed by the ingest process")
        assert await asyncio.to_thread(proc.terminate) == 0
        async with engine.connect() as conn:
            days = await conn.execute(
                text("SELECT wh FROM consumption_daily WHERE meter_pk = :m"), {"m": meter.id}
            )
            assert [wh for (wh,) in days] == [2_000]
            balance = await conn.execute(
                text("SELECT balance_fen FROM accounts WHERE id = :a"), {"a": account.id}
            )
            assert balance.scalar_one() < 0
    finally:
        agent.close()
        if proc.proc.poll() is None:
            proc.kill()
        forget_session(mosquitto, cid)
        await engine.dispose()
