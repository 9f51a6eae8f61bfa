"""Single-leader work (the prepaid sweep, command dispatch): one process at a time through a
PostgreSQL advisory lock, taken over when the leader dies; on SQLite always this process."""

from __future__ import annotations

import asyncio
import itertools
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from backend.commands import service
from backend.commands.lifecycle import State
from backend.commands.models import Command
from backend.db import create_engine, session_factory
from backend.prepaid.models import SweepQueueEntry
from backend.system.leader import LOCK_KEY, Leader
from protocols.contract import CommandKind
from tests.support.ingest_agent import forget_session
from tests.support.prepaid_data import make_account
from tests.support.serve_process import ServeProcess
from tests.support.services import Mosquitto

_ids = itertools.count()
postgres_only = pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)


async def _until(condition, within_s: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + within_s
    while not await condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


@postgres_only
async def test_of_two_contenders_one_leads_and_the_other_takes_over_when_its_connection_dies(
    database_url: str,
) -> None:
    a, b = Leader(database_url, poll_s=0.1), Leader(database_url, poll_s=0.1)
    gained_b: list[int] = []
    b.on_gained.append(lambda: gained_b.append(b.terms))
    task_a = asyncio.create_task(a.run())
    await _until(lambda: _true(a.held))
    task_b = asyncio.create_task(b.run())
    engine = create_engine(database_url)
    try:
        await _until(lambda: _true(b.refusals > 0))
        assert (a.held, b.held) == (True, False)
        # the leader's connection is cut from the server's side (as when its host vanishes)
        async with engine.connect() as conn:
            killed = await conn.scalar(
                text(
                    "SELECT count(pg_terminate_backend(l.pid)) FROM pg_locks l "
                    "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
                    "AND l.database = (SELECT oid FROM pg_database "
                    "WHERE datname = current_database())"
                )
            )
        assert killed == 1
        await _until(lambda: _true(b.held))
        assert gained_b == [1]  # taking over wakes the work
        await _until(lambda: _true(not a.held))  # the old leader noticed and stopped
        refused = a.refusals
        await _until(lambda: _true(a.refusals >= refused + 3))  # and asks again, in vain
        assert (a.held, b.held) == (False, True)
    finally:
        for t in (task_a, task_b):
            t.cancel()
        await asyncio.gather(task_a, task_b, return_exceptions=True)
        await engine.dispose()


async def _true(value: bool) -> bool:
    return value


async def test_on_sqlite_the_process_is_always_the_leader(tmp_path: Path) -> None:
    leader = Leader(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    assert leader.held
    await leader.run()  # returns at once: nothing to compete for
    assert leader.held
    assert leader.gained.is_set()


async def _queued_command(sessions, agent: str) -> str:  # type: ignore[no-untyped-def]
    async with sessions() as s:
        _, _, meter = await make_account(s, agent=agent)
        c = await service.create(
            s, meter, CommandKind.DISCONNECT, reason="arrears", actor="op1", ttl=timedelta(hours=1)
        )
        await s.commit()
    return c.id


async def _state(sessions, command_id: str) -> State:  # type: ignore[no-untyped-def]
    async with sessions() as s:
        c = await s.get(Command, command_id)
        assert c is not None
        return State(c.state)


async def _sweep_queue_empty(sessions) -> bool:  # type: ignore[no-untyped-def]
    async with sessions() as s:
        return int(await s.scalar(select(func.count()).select_from(SweepQueueEntry)) or 0) == 0


@pytest.mark.mosquitto
@postgres_only
async def test_when_the_leading_serve_process_is_killed_the_other_takes_over_sweep_and_dispatch(
    database_url: str, mosquitto: Mosquitto, tmp_path: Path
) -> None:
    group = f"lead{next(_ids)}"
    common = dict(
        database_url=database_url,
        mqtt_url=mosquitto.url(Mosquitto.BACKEND),
        mqtt_share_group=group,
        ingest="false",
        command_dispatch="true",
        prepaid_sweep_seconds="1",
        prepaid_notify_seconds="1",
        jwt_secret="x" * 40,
    )
    first = ServeProcess(tmp_path / "a", mqtt_client_id=f"{group}-a", **common)
    second: ServeProcess | None = None
    engine = create_engine(database_url)
    sessions = session_factory(engine)
    try:
        await asyncio.to_thread(first.wait_health, "leader", True)
        second = ServeProcess(tmp_path / "b", mqtt_client_id=f"{group}-b", **common)
        await asyncio.to_thread(second.wait_health, "leader", False)

        # the leader dispatches and sweeps; the follower answers /health as one
        before = await _queued_command(sessions, "agent-1")
        await _until(lambda: _is(sessions, before, State.DISPATCHED))
        await _until(lambda: _sweep_queue_empty(sessions))
        assert (first.health() or {}).get("leader") is True
        assert (second.health() or {}).get("leader") is False

        first.kill()
        after = await _queued_command(sessions, "agent-1")  # queued while nobody leads
        await asyncio.to_thread(second.wait_health, "leader", True)
        await _until(lambda: _is(sessions, after, State.DISPATCHED))
        await _until(lambda: _sweep_queue_empty(sessions))
        assert "now runs the single-leader work" in second.output
    finally:
        first.stop()
        if second is not None:
            second.stop()
        await engine.dispose()
        for name in ("a", "b"):
            forget_session(mosquitto, f"{group}-{name}")


async def _is(sessions, command_id: str, state: State) -> bool:  # type: ignore[no-untyped-def]
    return await _state(sessions, command_id) is state


@pytest.mark.mosquitto
@postgres_only
async def test_a_follower_dispatches_nothing_until_it_leads_then_at_once(
    database_url: str, mosquitto: Mosquitto, tmp_path: Path
) -> None:
    from backend.commands.dispatch import Dispatcher
    from backend.mqtt import MqttSession
    from backend.settings import load_settings

    settings = load_settings(
        env={}, database_url=database_url, data_dir=str(tmp_path),
        mqtt_url=mosquitto.url(Mosquitto.BACKEND),
    )  # fmt: skip
    engine = create_engine(database_url)
    sessions = session_factory(engine)
    leader = Leader(database_url, poll_s=0.05)
    mqtt = MqttSession(settings.mqtt, f"test-follower-{tmp_path.name}", receive_maximum=100)
    dispatcher = Dispatcher(sessions, settings, mqtt, leader)
    holder = await engine.connect()  # another process holds the lead
    await holder.execute(text("SELECT pg_advisory_lock(:k)"), {"k": LOCK_KEY})
    tasks = [asyncio.create_task(leader.run())]
    try:
        mqtt.start()
        await dispatcher.start()
        tasks.append(asyncio.create_task(dispatcher.run(period_s=0.05)))
        command = await _queued_command(sessions, "agent-1")
        dispatcher.wake.set()
        await _until(lambda: _true(leader.refusals >= 5))  # many periods as a follower
        assert await _state(sessions, command) is State.QUEUED
        await holder.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LOCK_KEY})
        await _until(lambda: _is(sessions, command, State.DISPATCHED))
        assert leader.held
    finally:
        await dispatcher.stop()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await mqtt.close()
        await holder.close()
        await engine.dispose()
        forget_session(mosquitto, mqtt.client_id)


@postgres_only
async def test_a_following_sweep_loop_does_no_round_until_it_leads(database_url: str) -> None:
    from backend.prepaid.lifespan import Loop

    done: list[int] = []

    async def work() -> None:
        done.append(1)

    leader = Leader(database_url, poll_s=0.05)
    loop = Loop("prepaid-sweep", 0.05, work, leader)
    leader.on_gained.append(loop.wake.set)
    engine = create_engine(database_url)
    holder = await engine.connect()
    await holder.execute(text("SELECT pg_advisory_lock(:k)"), {"k": LOCK_KEY})
    tasks = [asyncio.create_task(leader.run()), asyncio.create_task(loop.run())]
    try:
        loop.wake.set()
        await _until(lambda: _true(leader.refusals >= 5))
        assert (loop.rounds, done) == (0, [])
        await holder.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LOCK_KEY})
        await _until(lambda: _true(loop.rounds >= 1))
        assert done
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await holder.close()
        await engine.dispose()
