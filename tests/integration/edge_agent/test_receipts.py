"""The end-to-end receipt: with ``receipts = true`` a batch's rows stay in the agent's outbox
after the broker's PUBACK and leave only when the backend's receipt names the batch's seq; a
batch without its receipt is sent again (same seq, same values). Real Mosquitto (with the
shipped ACL), a real agent, a fake DL/T 645 meter over TCP."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from backend.metering.ingest import Ingestor
from protocols.contract import Channel, ReadingBatch, Receipt, agent_topic, encode
from tests.integration.edge_agent.conftest import running_agent
from tests.support.agent import AGENT, Backend, agent_toml, dlt645_tcp_bus
from tests.support.dlt645_meter import FakeBus, FakeMeter
from tests.support.ingest_agent import forget_session, settings_for, until
from tests.support.services import Mosquitto

pytestmark = pytest.mark.mosquitto

A1 = "310000000001"


def rows_of(db_path: Path, seq: int) -> int:
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10)
    try:
        return int(
            conn.execute(
                "SELECT COUNT(*) FROM outbox WHERE channel = 'readings' AND seq = ?", (seq,)
            ).fetchone()[0]
        )
    finally:
        conn.close()


def batches(backend: Backend) -> list[ReadingBatch]:
    return [m for ch, m in backend.messages if ch == "readings"]


def publish_as_backend(broker: Mosquitto, payload: bytes) -> None:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    c.username_pw_set(Mosquitto.BACKEND, broker.users[Mosquitto.BACKEND])
    c.connect(broker.host, broker.port)
    c.loop_start()
    try:
        info = c.publish(agent_topic(AGENT, Channel.RECEIPTS), payload, qos=1)
        info.wait_for_publish(10)
        assert info.is_published()
    finally:
        c.loop_stop()
        c.disconnect()


async def test_rows_stay_after_the_puback_and_leave_when_a_receipt_names_their_seq(
    tmp_path: Path, mosquitto: Mosquitto, backend: Backend
) -> None:
    fake = FakeBus(FakeMeter(A1))
    port = await fake.start_tcp()
    outbox = "receipts = true\nreceipt_timeout_s = 600\nbatch_size = 2"
    config = agent_toml(
        tmp_path, mosquitto, dlt645_tcp_bus(port, [A1], every_s=0.05), outbox=outbox
    )
    db = tmp_path / "data" / "agent.db"
    try:
        async with running_agent(config) as agent:
            await backend.until(lambda: len(batches(backend)) >= 3)
            first, second = batches(backend)[0], batches(backend)[1]
            # acknowledged by the broker, still on disk, awaiting their receipt
            assert rows_of(db, first.seq) == len(first.values)
            assert rows_of(db, second.seq) == len(second.values)
            await backend.until(lambda: agent.metrics.awaiting_receipt._value.get() >= 2)

            # garbage and a receipt for a seq the agent never formed: counted, nothing deleted
            publish_as_backend(mosquitto, b"{not json")
            publish_as_backend(mosquitto, encode(Receipt(agent=AGENT, ts=1, readings=[10**9])))
            await backend.until(lambda: agent.metrics.receipts_malformed._value.get() == 1)

            publish_as_backend(mosquitto, encode(Receipt(agent=AGENT, ts=1, readings=[first.seq])))
            await backend.until(lambda: rows_of(db, first.seq) == 0)
            assert rows_of(db, second.seq) == len(second.values)  # not named: stays
            n = len(batches(backend))
            await backend.until(lambda: len(batches(backend)) >= n + 2)  # still publishing
    finally:
        await fake.stop()


async def test_a_batch_without_its_receipt_is_published_again_with_the_same_seq_and_values(
    tmp_path: Path, mosquitto: Mosquitto, backend: Backend
) -> None:
    fake = FakeBus(FakeMeter(A1))
    port = await fake.start_tcp()
    outbox = "receipts = true\nreceipt_timeout_s = 0.5\nbatch_size = 2"
    config = agent_toml(tmp_path, mosquitto, dlt645_tcp_bus(port, [A1], every_s=0.2), outbox=outbox)
    try:
        async with running_agent(config) as agent:

            def repeated() -> list[int]:
                seqs = [b.seq for b in batches(backend)]
                return [s for s in set(seqs) if seqs.count(s) > 1]

            await backend.until(repeated, within=30)
            seq = repeated()[0]
            sent = [b for b in batches(backend) if b.seq == seq]
            assert all(b == sent[0] for b in sent)  # same seq, same values
            assert agent.metrics.republished._value.get() >= 1
    finally:
        await fake.stop()


async def test_without_receipts_the_rows_leave_at_the_puback_as_before(
    tmp_path: Path, mosquitto: Mosquitto, backend: Backend
) -> None:
    fake = FakeBus(FakeMeter(A1))
    port = await fake.start_tcp()
    config = agent_toml(
        tmp_path, mosquitto, dlt645_tcp_bus(port, [A1], every_s=0.05), outbox="batch_size = 2"
    )
    db = tmp_path / "data" / "agent.db"
    try:
        async with running_agent(config):
            await backend.until(lambda: len(batches(backend)) >= 3)
            first = batches(backend)[0]
            await backend.until(lambda: rows_of(db, first.seq) == 0)
    finally:
        await fake.stop()


async def test_against_the_real_ingest_every_row_leaves_the_outbox_once_it_is_stored(
    tmp_path: Path, mosquitto: Mosquitto, backend: Backend, request: pytest.FixtureRequest
) -> None:
    db_file = tmp_path / "backend.db"
    shutil.copy(request.getfixturevalue("_migrated_sqlite"), db_file)
    url = f"sqlite+aiosqlite:///{db_file}"
    ingest = Ingestor(
        settings_for(url, mosquitto, str(tmp_path / "ingest")),
        client_id=f"test-receipts-{tmp_path.name}",
        stats_every_s=3600,
        housekeeping_every_s=3600,
    )
    await ingest.start()
    fake = FakeBus(FakeMeter(A1))
    port = await fake.start_tcp()
    outbox = "receipts = true\nreceipt_timeout_s = 600\nbatch_size = 2"
    config = agent_toml(
        tmp_path, mosquitto, dlt645_tcp_bus(port, [A1], every_s=0.05), outbox=outbox
    )
    agent_db = tmp_path / "data" / "agent.db"
    try:
        await until(lambda: ingest.status == "connected", 10, "the ingestor to subscribe")
        async with running_agent(config) as agent:
            await backend.until(lambda: len(batches(backend)) >= 5)
            first = batches(backend)[0]
            # receipted only by the backend's commit: no timeout passes in this test
            await backend.until(lambda: rows_of(agent_db, first.seq) == 0, within=20)
            stored = sqlite3.connect(db_file).execute("SELECT COUNT(*) FROM readings").fetchone()
            assert stored[0] >= len(first.values)
            assert agent.metrics.republished._value.get() == 0
    finally:
        await fake.stop()
        await ingest.stop()
        forget_session(mosquitto, ingest.client_id)


async def test_after_a_reconnect_every_batch_without_its_receipt_is_published_again(
    tmp_path: Path, mosquitto: Mosquitto, backend: Backend
) -> None:
    fake = FakeBus(FakeMeter(A1))
    port = await fake.start_tcp()
    outbox = "receipts = true\nreceipt_timeout_s = 600\nbatch_size = 2"
    config = agent_toml(
        tmp_path, mosquitto, dlt645_tcp_bus(port, [A1], every_s=0.05), outbox=outbox
    )
    try:
        async with running_agent(config) as agent:
            await backend.until(lambda: len(batches(backend)) >= 3)
            first = batches(backend)[0]
            conn = agent.uplink.connection
            assert conn is not None
            conn.abort()  # the connection drops; the uplink connects again
            await backend.until(lambda: [b.seq for b in batches(backend)].count(first.seq) >= 2)
            again = [b for b in batches(backend) if b.seq == first.seq]
            assert again[1] == first  # same seq, same values
            assert agent.metrics.republished._value.get() == 0  # not the timeout: the reconnect
    finally:
        await fake.stop()


def unsent_rows(db_path: Path) -> int:
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10)
    try:
        return int(
            conn.execute(
                "SELECT COUNT(*) FROM outbox WHERE channel = 'readings' AND seq IS NULL"
            ).fetchone()[0]
        )
    finally:
        conn.close()


async def test_no_new_batch_is_formed_while_the_window_of_batches_awaiting_receipt_is_full(
    tmp_path: Path, mosquitto: Mosquitto, backend: Backend
) -> None:
    """A backend that does not answer stops the agent forming batches (the readings wait on
    disk), rather than letting unreceipted batches pile up in memory and at the broker."""
    fake = FakeBus(FakeMeter(A1))
    port = await fake.start_tcp()
    outbox = "receipts = true\nreceipt_timeout_s = 600\nreceipt_window = 1\nbatch_size = 2"
    config = agent_toml(
        tmp_path, mosquitto, dlt645_tcp_bus(port, [A1], every_s=0.05), outbox=outbox
    )
    db = tmp_path / "data" / "agent.db"
    try:
        async with running_agent(config) as agent:
            await backend.until(lambda: len(batches(backend)) >= 1)
            first = batches(backend)[0]
            await backend.until(lambda: unsent_rows(db) >= 6)  # three batches' worth waiting
            assert {b.seq for b in batches(backend)} == {first.seq}
            assert agent.metrics.awaiting_receipt._value.get() == 1

            publish_as_backend(mosquitto, encode(Receipt(agent=AGENT, ts=1, readings=[first.seq])))
            await backend.until(lambda: len(batches(backend)) >= 2)
            second = batches(backend)[1]
            assert second.seq != first.seq
            assert len(second.values) >= 6  # what waited goes out together
            await backend.until(lambda: unsent_rows(db) >= 6)
            assert {b.seq for b in batches(backend)} == {first.seq, second.seq}
    finally:
        await fake.stop()


async def test_each_repeat_of_an_unreceipted_batch_waits_twice_as_long_as_the_last(
    tmp_path: Path, mosquitto: Mosquitto, backend: Backend
) -> None:
    """A backend down for long gets a few repeats, not one every timeout."""
    fake = FakeBus(FakeMeter(A1))
    port = await fake.start_tcp()
    outbox = "receipts = true\nreceipt_timeout_s = 0.2\nreceipt_window = 1\nbatch_size = 2"
    config = agent_toml(tmp_path, mosquitto, dlt645_tcp_bus(port, [A1], every_s=0.2), outbox=outbox)
    try:
        async with running_agent(config) as agent:
            await backend.until(lambda: len(batches(backend)) >= 1)
            first = batches(backend)[0]
            await backend.until(lambda: agent.metrics.republished._value.get() >= 3, within=30)
            (waiting,) = agent.uplink.awaiting.values()
            repeats = int(agent.metrics.republished._value.get())
            assert waiting.batch.seq == first.seq
            assert waiting.wait_s == min(0.2 * 2**repeats, 0.2 * 16)
    finally:
        await fake.stop()
