"""Read-only reports on a PostgreSQL streaming replica (``database_read_url``): a real primary
and a real hot standby fed by ``pg_basebackup -R``. The proof that the reports read the replica:
with the primary stopped they still answer, with the data the primary had, while a call on the
primary cannot."""

from __future__ import annotations

import asyncio
import time

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from backend import migrate
from backend.db import create_engine
from backend.metering.models import Reading
from tests.integration.api.conftest import Api, _app
from tests.integration.areas.conftest import _network
from tests.support.readings import commit_readings, ms
from tests.support.services import Postgres, start_postgres, start_replica
from tests.support.world import build_world

pytestmark = pytest.mark.postgres


async def _replicated(replica_url: str, rows: int, within_s: float = 60.0) -> None:
    """Until the standby has replayed ``rows`` readings (a bounded wait on a condition)."""
    engine = create_engine(replica_url)
    deadline = time.monotonic() + within_s
    try:
        while True:
            async with engine.connect() as conn:
                n = await conn.scalar(select(func.count()).select_from(Reading))
            if n == rows:
                return
            assert time.monotonic() < deadline, f"the replica has {n} of {rows} readings"
            await asyncio.sleep(0.1)
    finally:
        await engine.dispose()


@pytest.mark.usefixtures("cheap_argon2")
async def test_reports_read_the_replica_and_answer_while_the_primary_is_down(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    primary: Postgres = start_postgres()  # its own cluster: this test stops it
    replica: Postgres | None = None
    app, settings = _app(tmp_path_factory.getbasetemp() / "api-app")
    saved = (settings.database_url, settings.database_read_url, settings.auth_cache_seconds)
    try:
        primary.psql("CREATE DATABASE rr")
        url = primary.url("rr")
        await asyncio.to_thread(migrate.upgrade, url)
        engine = create_engine(url)
        world = await build_world(engine)
        settings.database_url, settings.auth_cache_seconds = url, 3600.0
        replica = await asyncio.to_thread(start_replica, primary)
        settings.database_read_url = replica.url("rr")
        async with AsyncTestClient(app) as client:
            api = Api(client, world, settings, engine)
            net = await _network(api)
            points = [(ms(2026, 3, 2, 2), 12_000), (ms(2026, 3, 3, 2), 8_000)]
            await commit_readings(engine, net.total, points, quantity="active_power")
            await _replicated(replica.url("rr"), len(points))
            op = await api.login("op")
            path = f"/api/areas/{world.area1}/demand?from=2026-03-01&to=2026-03-31"
            before = await client.get(path, headers=op)  # the caller is read, then cached
            await engine.dispose()
            await asyncio.to_thread(primary.stop)

            demand = await client.get(path, headers=op)
            loss = await client.get("/api/areas/loss?from=2026-03-01&to=2026-03-31", headers=op)
            on_primary = await client.get("/api/areas/outages", headers=op)
    finally:
        settings.database_url, settings.database_read_url, settings.auth_cache_seconds = saved
        if replica is not None:
            replica.stop()
        primary.stop()
    assert before.status_code == 200, before.text
    assert demand.status_code == 200, demand.text
    assert demand.json() == before.json()
    assert [(d["period"], d["peak_w"]) for d in demand.json()["days"]] == [
        ("2026-03-02", 120_000),
        ("2026-03-03", 80_000),
    ]
    assert loss.status_code == 200, loss.text
    assert on_primary.status_code >= 500  # the primary is down: only the reports answer
