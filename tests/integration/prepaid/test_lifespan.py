"""The prepaid engine's background tasks in the API process: each runs when its setting says
so, billing follows consumption on metering's derived-data path, command dispatch shares the
process's one MQTT session with ingestion, and all of it stops with the app."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from backend.app import create_app
from backend.db import session_factory
from backend.metering.derived import DerivedData, Span
from backend.prepaid import billing, lifespan
from backend.settings import load_settings
from backend.types import to_epoch_ms, utcnow
from tests.support.ingest_agent import forget_session, until
from tests.support.prepaid_data import add_readings, load_default_tariffs, make_account
from tests.support.services import Mosquitto

TASKS = {
    "command-dispatcher", "prepaid-sweep", "notice-delivery", "idempotency-purge", "derived-data"
}  # fmt: skip


def running() -> dict[str, asyncio.Task[object]]:
    return {t.get_name(): t for t in asyncio.all_tasks() if t.get_name() in TASKS}


@pytest.mark.mosquitto
async def test_every_engine_task_runs_when_enabled_and_stops_with_the_app(
    database_url: str, tmp_path: Path, mosquitto: Mosquitto
) -> None:
    settings = load_settings(
        env={}, database_url=database_url, data_dir=str(tmp_path), ingest=True,
        mqtt_url=mosquitto.url(Mosquitto.BACKEND), mqtt_client_id=f"test-api-{tmp_path.name}",
    )  # fmt: skip
    app = create_app(settings)
    try:
        async with app.lifespan():
            tasks = running()
            assert set(tasks) == TASKS
            # housekeeping beside them: the reading books' change logs folded
            assert "book-changes-compact" in app.state.prepaid_loops
            # billing follows consumption on the one derived-data path, wired at construction
            assert app.state.derived.followers == [billing.on_readings_committed]
            # and holds its round while ingestion drains a backlog
            assert app.state.derived.behind == app.state.ingestor.is_behind
            await asyncio.wait_for(app.state.command_dispatcher.connected.wait(), 10)
            # one MQTT session in the process: ingestion and command dispatch share it
            assert app.state.ingestor.mqtt is app.state.command_dispatcher.mqtt is app.state.mqtt
            assert app.state.mqtt.status == "connected"
        assert all(t.done() for t in tasks.values())
        assert app.state.mqtt.status == "stopped"
    finally:
        forget_session(mosquitto, settings.mqtt_client_id)


async def test_each_engine_task_can_be_switched_off(database_url: str, tmp_path: Path) -> None:
    settings = load_settings(
        env={}, database_url=database_url, data_dir=str(tmp_path), ingest=False,
        prepaid_sweep_seconds=0, prepaid_notify_seconds=0, idempotency_purge_hours=0,
        prepaid_billing=False,
    )  # fmt: skip
    app = create_app(settings)
    async with app.lifespan():
        # the dispatcher follows METERLINE_INGEST=false, and with it the MQTT session; the
        # derived-data path always runs, because field readings arrive over HTTP in every API
        # process and consumption must follow them
        assert set(running()) == {"derived-data"}
        assert app.state.derived.followers == []
        assert app.state.derived.behind is None  # no ingestion here: nothing to wait for
        assert app.state.mqtt is None


async def test_the_sweeps_billing_catch_up_leaves_out_the_chains_the_derived_path_follows(
    engine: AsyncEngine,
) -> None:
    """The sweep announces what billing has not reached (``billing.missed``): a meter whose
    announcement was lost. A chain in the derived-data path's round in progress is not
    missed, its round bills it: announced again, the next round would find its readings
    materialised and billed already, and recompute its days and compare its charges — once a
    sweep, for every chain of the round in flight."""
    sessions = session_factory(engine)
    now_ms = to_epoch_ms(utcnow())
    hour = 3_600_000
    async with sessions() as s:
        await load_default_tariffs(s)
        (_, _, followed), (_, _, lost) = await make_account(s), await make_account(s)
        for meter in (followed, lost):
            await add_readings(s, meter.id, [(now_ms - 2 * hour, 100), (now_ms - hour, 600)])
        await s.commit()
    entered, release = asyncio.Event(), asyncio.Event()
    told: list[list[int]] = []

    async def follower(_sessions: object, spans: list[Span], _zone: object) -> None:
        told.append([pk for pk, *_ in spans])
        entered.set()
        await release.wait()

    derived = DerivedData(sessions, "Asia/Shanghai", [follower])
    derived.start()
    try:
        await derived.announce(
            [(followed.id, "energy_import", now_ms - 2 * hour, now_ms - hour, 2)]
        )
        await asyncio.wait_for(entered.wait(), 30)  # its round is in progress
        announced = await lifespan.catch_up_billing(derived, sessions, now_ms)
        assert [pk for pk, *_ in announced] == [lost.id]
        release.set()
        await derived.settled()
    finally:
        release.set()
        await derived.stop()
    assert told == [[followed.id], [lost.id]]


async def test_the_sweep_runs_under_a_steady_stream_once_what_was_announced_before_it_is_billed(
    database_url: str, tmp_path: Path
) -> None:
    """Under a steady stream of readings the derived-data path is never idle: a sweep that
    waited for it to settle never ran (no warning, no disconnect while the stream lasted). It
    waits for what was announced before it — the round in progress, then the chains queued —
    and not for what is announced after."""
    settings = load_settings(
        env={}, database_url=database_url, data_dir=str(tmp_path), ingest=False,
        prepaid_notify_seconds=0, idempotency_purge_hours=0,
    )  # fmt: skip
    app = create_app(settings)
    entered: asyncio.Queue[list[int]] = asyncio.Queue()
    rounds = asyncio.Semaphore(0)  # a release lets one round end

    async def stream_follower(_sessions: object, spans: list[Span], _zone: object) -> None:
        await entered.put([pk for pk, *_ in spans])
        await rounds.acquire()  # one round at a time, as the test lets it

    def chain(pk: int) -> list[tuple[int, str, int, int, int]]:
        return [(pk, "energy_import", 1_000, 2_000, 1)]

    async with app.lifespan():
        try:
            derived: DerivedData = app.state.derived
            derived.followers.append(stream_follower)
            sweep_loop = app.state.prepaid_loops["prepaid-sweep"]
            await derived.announce(chain(1))
            assert await asyncio.wait_for(entered.get(), 30) == [1]  # round 1 in progress
            await derived.announce(chain(2))  # queued behind it
            sweep = asyncio.create_task(sweep_loop.work())
            # its billing catch-up done, the sweep waits: round 1 still in progress, 2 queued
            await until(lambda: bool(derived._waiters), 30, "the sweep to wait for billing")
            rounds.release()
            assert await asyncio.wait_for(entered.get(), 30) == [2]  # round 2: what was queued
            assert not sweep.done()  # chain 2, announced before the sweep, is not billed yet
            await derived.announce(chain(3))  # the stream goes on
            rounds.release()
            assert await asyncio.wait_for(entered.get(), 30) == [3]  # round 3 holds on
            await asyncio.wait_for(sweep, 30)  # … and the sweep ran beside it
            assert not derived.is_settled
        finally:  # every round may end (a failed test must not hang the shutdown)
            for _ in range(10):
                rounds.release()
