"""The prepaid engine's background tasks in the API process: each runs when its setting says
so, the after-ingest hook (consumption, billing) is registered with ingestion, and all of it
stops with the app."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from backend.app import create_app
from backend.db import create_engine, session_factory
from backend.metering.ingest import hooks
from backend.prepaid.lifespan import prepaid_lifespan
from backend.settings import load_settings
from tests.support.services import Mosquitto

TASKS = {
    "command-dispatcher", "prepaid-sweep", "notice-delivery", "idempotency-purge", "after-ingest"
}  # fmt: skip


def running() -> dict[str, asyncio.Task[object]]:
    return {t.get_name(): t for t in asyncio.all_tasks() if t.get_name() in TASKS}


@pytest.mark.mosquitto
async def test_every_engine_task_runs_when_enabled_and_stops_with_the_app(
    database_url: str, tmp_path: Path, mosquitto: Mosquitto
) -> None:
    settings = load_settings(
        env={}, database_url=database_url, data_dir=str(tmp_path), ingest=True,
        mqtt_url=mosquitto.url(Mosquitto.BACKEND),
    )  # fmt: skip
    app = create_app(settings)
    engine = create_engine(database_url)
    app.state.sessions = session_factory(engine)
    before = hooks.registered()
    async with prepaid_lifespan(app):
        tasks = running()
        assert set(tasks) == TASKS
        assert hooks.registered() == [*before, app.state.after_ingest.after_commit]
        await asyncio.wait_for(app.state.command_dispatcher.connected.wait(), 10)
    assert all(t.done() for t in tasks.values())
    assert hooks.registered() == before
    await engine.dispose()


async def test_each_engine_task_can_be_switched_off(database_url: str, tmp_path: Path) -> None:
    settings = load_settings(
        env={}, database_url=database_url, data_dir=str(tmp_path), ingest=False,
        prepaid_sweep_seconds=0, prepaid_notify_seconds=0, idempotency_purge_hours=0,
        prepaid_billing=False,
    )  # fmt: skip
    app = create_app(settings)
    engine = create_engine(database_url)
    app.state.sessions = session_factory(engine)
    async with prepaid_lifespan(app):
        # the dispatcher follows METERLINE_INGEST=false; after-ingest always runs, because
        # field readings arrive over HTTP in every API process and consumption must follow them
        assert set(running()) == {"after-ingest"}
        assert app.state.after_ingest is not None
    await engine.dispose()
