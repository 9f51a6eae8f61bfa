"""The fault suite: the whole uplink — simulated DL/T 645 meters, the edge agent, a persistent
Mosquitto, ``meterline ingest``, the database — with faults at random moments:

* the agent killed with SIGKILL (mid-poll, mid-publish, with a backlog or none);
* ``meterline ingest`` killed with SIGKILL mid-stream (batches in hand, commits in flight);
* the broker stopped and started again (its persistence keeps sessions and queues; the agent
  buffers meanwhile);
* the broker killed with SIGKILL (what it acknowledged since its last save is gone), and the
  broker killed and started again without its store (no sessions, no queues, no subscriptions
  until ``meterline ingest`` makes them again): the agent's receipts (``[outbox] receipts``)
  keep every batch until the backend has committed it, and send it again otherwise;
* on PostgreSQL, the database restarted (fast: every session cut mid-transaction and rolled
  back) while ingest is writing;
* the network between the agent and the broker stalled (nothing passes either way) for
  0.5–3 s, slowed by 50–300 ms a chunk, and in half of them cut (both sides reset), through a
  misbehaving proxy (``tests/support/faultproxy.py``: this kernel has no ``netem``);
* once, the broker down for a long outage (20 s here, 120 s in a full run;
  ``METERLINE_FAULTS_OUTAGE_S``) while the agent buffers.

Meanwhile the test sends the first meter relay commands, one at a time, disconnect and
reconnect in turn, each valid for 2.5 s and the next sent only after that window (and a grace
for the frame's way to the meter) has passed — many of them expire while the agent is dead or
cut off.

The invariant after all of them: every reading the agent ever recorded in its outbox is in the
database, once, by natural key, with its value; no meter read is stored twice under another key
(each read of a simulated meter advances its register by 10 Wh, so a value seen twice would be
one read stored twice); no relay command reached the meter twice, after its expiry, or as
another command's action (every relay frame the meter received lies in exactly one command's
window and carries its action; at most one frame a command); the only holes in a meter's
register sequence are reads a killed agent had taken but not yet recorded, at most one per
meter and kill; no dead letters.

Run it alone (it prints its counts):

    .venv/bin/pytest tests/reliability -q -s

CI runs this bounded form (3 agent kills, 3 ingest kills, 2 broker restarts, 2 broker SIGKILLs,
2 broker restarts without persistence, 2 database restarts, 2 network faults, one 20 s outage,
on PostgreSQL). ``METERLINE_FAULTS_RECEIPTS=0`` runs the agent without receipts (rows leave at
the broker's PUBACK): the broker crashes then lose readings, and the suite fails.
``METERLINE_FAULTS=N`` runs N agent kills and N ingest kills and N/4 broker restarts, broker
SIGKILLs, broker restarts without persistence, database restarts (on PostgreSQL) and network faults,
and one outage of two minutes, on SQLite and PostgreSQL each (``METERLINE_FAULTS=36``: 100 faults
on PostgreSQL); ``METERLINE_FAULTS_SEED`` repeats a run's moments.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import text

from protocols.contract import Command, CommandKind
from tests.reliability.conftest import kill, start, stop
from tests.support.agent import Backend, agent_toml, command, dlt645_tcp_bus
from tests.support.dlt645_meter import FakeBus, FakeMeter
from tests.support.faultproxy import FaultProxy
from tests.support.services import Mosquitto, Postgres
from tests.support.uplink import Uplink

pytestmark = pytest.mark.mosquitto

ADDRESSES = ["310000000001", "310000000002", "310000000003"]
ROUNDS = int(os.environ.get("METERLINE_FAULTS", "3"))
OUTAGE_S = float(
    os.environ.get("METERLINE_FAULTS_OUTAGE_S", "120" if "METERLINE_FAULTS" in os.environ else "20")
)
SEED = int(os.environ.get("METERLINE_FAULTS_SEED", str(random.SystemRandom().randrange(10**6))))
RECEIPTS = os.environ.get("METERLINE_FAULTS_RECEIPTS", "1") != "0"
RECEIPT_TIMEOUT_S = 5  # the agent's [outbox] receipt_timeout_s here
# How long a recorded reading may still be on its way once the faults are over, twice over: a
# batch whose resends kept missing waits up to 16 × receipt_timeout_s for its next one (the
# agent's back-off), and the backend may take up to 30 s to reconnect after broker restarts
# in quick succession (its own back-off).
SETTLE_S = 2 * (16 * RECEIPT_TIMEOUT_S + 30)
VALID_MS = 2500  # each relay command's validity
GRACE_MS = 1500  # the agent checks expiry just before writing the frame; its way to the meter
ACTION = {CommandKind.DISCONNECT: 0x1A, CommandKind.RECONNECT: 0x1C}
DATABASES = (
    [pytest.param("postgresql", marks=pytest.mark.postgres)]
    if "METERLINE_FAULTS" not in os.environ
    else ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


async def send_commands(backend: Backend, sent: list[Command], done: asyncio.Event) -> None:
    """Relay commands to the first meter, one window at a time, until ``done``."""
    kinds = [CommandKind.DISCONNECT, CommandKind.RECONNECT]
    while not done.is_set():
        cmd = command(kinds[len(sent) % 2].value, meter="m1", not_after=now_ms() + VALID_MS)
        sent.append(cmd)
        with contextlib.suppress(Exception):  # the broker may be down: then it never arrives
            await asyncio.to_thread(backend.send, cmd)
        wait_s = (cmd.not_after + GRACE_MS + 200 - now_ms()) / 1000
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), max(0.0, wait_s))
    await asyncio.sleep(max(0, sent[-1].not_after + GRACE_MS + 200 - now_ms()) / 1000)


def misplaced_relay_frames(log: list[tuple[int, int]], sent: list[Command]) -> list[str]:
    """Every frame must lie in one command's window with its action; one frame a command."""
    wrong: list[str] = []
    frames: Counter[str] = Counter()
    for at, action in log:
        owners = [c for c in sent if c.issued_at <= at <= c.not_after + GRACE_MS]
        if len(owners) != 1 or ACTION[owners[0].kind] != action:
            wrong.append(f"frame {action:#x} at {at}: windows {[c.id for c in owners]}")
            continue
        frames[owners[0].id] += 1
    wrong += [f"{cid}: {n} frames" for cid, n in frames.items() if n > 1]
    return wrong


@pytest.mark.timeout(300 + SETTLE_S + OUTAGE_S + 20 * (2 * ROUNDS + 5 * max(2, ROUNDS // 4)))
@pytest.mark.parametrize("database_url", DATABASES, indirect=True)
async def test_no_accepted_reading_is_lost_or_stored_twice_through_kills_and_restarts(
    database_url: str, persistent_broker: Mosquitto, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    rng = random.Random(SEED)
    meters = FakeBus(*(FakeMeter(a) for a in ADDRESSES))
    port = await meters.start_tcp()
    bus = dlt645_tcp_bus(port, ADDRESSES, every_s=0.05).replace(
        "timeout_ms = 150",
        "timeout_ms = 3000",  # a late reply on a busy machine is no loss
    )
    proxy = FaultProxy(persistent_broker.host, persistent_broker.port)
    outbox = "batch_size = 10\ninflight = 4\n"
    outbox += (
        f"receipts = true\nreceipt_timeout_s = {RECEIPT_TIMEOUT_S}"
        if RECEIPTS
        else "receipts = false"
    )
    config = agent_toml(tmp_path, persistent_broker, bus, outbox=outbox)
    config.write_text(  # the agent reaches the broker through the misbehaving proxy
        config.read_text().replace(
            f"port = {persistent_broker.port}\n", f"port = {await proxy.start()}\n", 1
        )
    )
    up = Uplink(tmp_path, persistent_broker, database_url, config)
    faults = ["agent"] * ROUNDS + ["ingest"] * ROUNDS + ["broker"] * max(2, ROUNDS // 4)
    faults += ["network"] * max(2, ROUNDS // 4) + ["outage"]
    faults += ["broker_kill", "broker_wipe"] * max(2, ROUNDS // 4)
    pg: Postgres | None = None
    if database_url.startswith("postgresql"):
        pg = request.getfixturevalue("postgres")
        faults += ["database"] * max(2, ROUNDS // 4)
    rng.shuffle(faults)
    done: Counter[str] = Counter()
    started = time.monotonic()
    backend = Backend(persistent_broker)
    sent: list[Command] = []
    commanding = asyncio.Event()
    commander: asyncio.Task[None] | None = None
    try:
        up.start_ingest()
        await up.start_agent()
        await up.flowing(within_s=180)
        commander = asyncio.create_task(send_commands(backend, sent, commanding))
        for fault in faults:
            await asyncio.sleep(rng.uniform(0.0, 1.0))  # a random moment in the stream
            up.note_outbox()
            if fault == "agent":
                assert up.agent is not None
                up.agent.send_signal(signal.SIGKILL)
                await up.agent.wait()
                up.note_outbox()  # what it had recorded when it died
                await up.start_agent()
            elif fault == "ingest":
                assert up.ingest is not None
                up.ingest.kill()
                up.start_ingest()
            elif fault == "database":
                assert pg is not None
                # ingest's sessions die mid-transaction; it must retry, not drop. Blocking calls
                # go to a thread: the simulated meters live on this loop and must keep time.
                await asyncio.to_thread(pg.restart)
            elif fault == "network":
                proxy.delay_s = rng.uniform(0.05, 0.3)
                proxy.stall()
                await asyncio.sleep(rng.uniform(0.5, 3.0))  # the fault's length, at random
                if rng.random() < 0.5:
                    proxy.cut()
                proxy.resume()
                await asyncio.sleep(rng.uniform(0.5, 2.0))  # slow for a while, then healed
                proxy.delay_s = 0.0
            elif fault == "outage":
                await asyncio.to_thread(stop, persistent_broker)
                await asyncio.sleep(OUTAGE_S)  # the agent buffers meanwhile
                up.note_outbox()
                await asyncio.to_thread(start, persistent_broker)
            elif fault in ("broker_kill", "broker_wipe"):
                await asyncio.to_thread(kill, persistent_broker, wipe=fault == "broker_wipe")
                await asyncio.sleep(rng.uniform(0.5, 2.0))  # the agent buffers meanwhile
                up.note_outbox()
                await asyncio.to_thread(start, persistent_broker)
            else:
                await asyncio.to_thread(stop, persistent_broker)
                await asyncio.sleep(rng.uniform(0.5, 2.0))  # the agent buffers meanwhile
                up.note_outbox()
                await asyncio.to_thread(start, persistent_broker)
            done[fault] += 1
            await up.flowing()
        commanding.set()
        await commander  # its last window closes
        up.note_outbox()
        deadline = time.monotonic() + SETTLE_S
        while not set(up.recorded) <= set(stored := await up.stored()):
            if time.monotonic() >= deadline:
                pytest.fail(await up.never_arrived(stored, f"seed {SEED}"))
            await asyncio.sleep(0.2)
        async with up.engine.connect() as conn:
            dead = (await conn.execute(text("SELECT count(*) FROM dead_letters"))).scalar_one()
    finally:
        commanding.set()
        if commander is not None and not commander.done():
            commander.cancel()
        backend.close()
        await up.close()
        await meters.stop()
        await proxy.stop()
    missing = {k: v for k, v in up.recorded.items() if stored.get(k) != v}
    relay_log = meters.meters[ADDRESSES[0]].relay_log
    wrong = misplaced_relay_frames(relay_log, sent)
    per_meter: dict[str, list[int]] = {}
    for (meter, _ts, _q), value in stored.items():
        per_meter.setdefault(meter, []).append(value)
    twice = {m: [v for v, n in Counter(vs).items() if n > 1] for m, vs in per_meter.items()}
    holes = {
        m: sum(1 for a, b in zip(sorted(vs), sorted(vs)[1:], strict=False) if b - a != 10)
        for m, vs in per_meter.items()
    }
    print(
        f"\nfaults (seed {SEED}, {database_url.split(':')[0]}): {dict(done)}, "
        f"{sum(done.values())} in {time.monotonic() - started:.0f} s, receipts "
        f"{'on' if RECEIPTS else 'off'}; readings recorded by the "
        f"agent and checked: {len(up.recorded)}, meter reads served: "
        f"{sum(m.reads for m in meters.meters.values())}, stored: {len(stored)}, "
        f"lost: {len(missing)}, "
        f"stored twice: {sum(map(len, twice.values()))}, holes per meter: {holes}; "
        f"relay commands sent: {len(sent)}, relay frames at the meter: {len(relay_log)}, "
        f"misplaced: {len(wrong)}"
    )
    assert sum(done.values()) == len(faults)
    assert missing == {}
    assert all(not v for v in twice.values()), twice
    assert all(n <= done["agent"] for n in holes.values()), holes
    assert dead == 0
    assert wrong == []
    assert relay_log  # commands did reach the meter between the faults
    assert len(per_meter) == len(ADDRESSES)
