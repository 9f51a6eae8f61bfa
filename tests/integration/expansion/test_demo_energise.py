"""The demo's example application energises the spare meter its agent already polls, and the
first reading after energisation arrives from the simulator through the agent and the broker
(the demo's own configuration, a real Mosquitto)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from backend.auth.guards import load_caller
from backend.auth.models import User
from backend.db import create_engine, session_factory
from backend.demo import DEFAULT_METERS, DEFAULT_SPEED, prepare, running
from backend.expansion import energise
from backend.expansion.models import Application, ApplicationStatus
from backend.expansion.process import shipped_book
from backend.expansion.schemas import Energise
from backend.metering.models import Meter, MeterStatus, Reading
from backend.settings import Settings, load_settings
from tests.support.e2e import until
from tests.support.services import free_port

pytestmark = pytest.mark.mosquitto


def demo_settings(tmp_path: Path) -> Settings:
    return load_settings(
        env={},
        data_dir=str(tmp_path / "var"),
        http_port=free_port(),
        mqtt_url=f"mqtt://127.0.0.1:{free_port()}",
        log_level="WARNING",
    )


async def _reading_after(settings: Settings, meter_id: str, after_ms: int) -> int | None:
    """The account of ``meter_id`` once a reading stamped after ``after_ms`` is stored."""
    engine = create_engine(settings.database_url)
    try:
        async with session_factory(engine)() as s:
            meter = await s.scalar(select(Meter).where(Meter.meter_id == meter_id))
            if meter is None or meter.account_id is None:
                return None
            ts = await s.scalar(select(func.max(Reading.ts)).where(Reading.meter_pk == meter.id))
            return meter.account_id if ts is not None and ts > after_ms else None
    finally:
        await engine.dispose()


async def _seen_pending(settings: Settings, meter_id: str) -> bool | None:
    engine = create_engine(settings.database_url)
    try:
        async with session_factory(engine)() as s:
            status = await s.scalar(select(Meter.status).where(Meter.meter_id == meter_id))
            return True if status is MeterStatus.PENDING else None
    finally:
        await engine.dispose()


async def test_energising_the_demos_example_application_brings_the_spare_meters_first_reading(
    tmp_path: Path,
) -> None:
    settings = demo_settings(tmp_path)
    fleet, _ = await prepare(settings, meters=DEFAULT_METERS, speed=DEFAULT_SPEED)
    spare = fleet.spare[0]
    engine = create_engine(settings.database_url)
    try:
        async with session_factory(engine)() as s:
            rows = await s.execute(select(Application.idempotency_key, Application.status))
            statuses = {key: status for key, status in rows}
            green = await s.scalar(
                select(func.count()).select_from(Application).where(Application.green_channel)
            )
        assert statuses["demo-yk-done"] is ApplicationStatus.ENERGISED
        assert statuses["demo-yk-spare-0"] is ApplicationStatus.OPEN
        assert green == 1
        async with running(settings, fleet):
            # the agent polls the spare address from the start: the backend holds it pending
            await until(lambda: _seen_pending(settings, spare.meter_id), "the spare seen", 90)
            async with session_factory(engine)() as s:
                app = await s.scalar(
                    select(Application).where(Application.idempotency_key == "demo-yk-spare-0")
                )
                uid = await s.scalar(select(User.id).where(User.username == "inspector"))
                assert app is not None
                assert uid is not None
                caller = await load_caller(s, uid)
                assert caller is not None
                body = Energise(
                    version=app.version,
                    meter_id=spare.meter_id,
                    protocol="dlt645",
                    address=spare.address,
                    agent_id=fleet.agent_id,
                )
                now_ms = int(time.time() * 1000)
                view, new = await energise.energise(
                    s, caller, app.id, body, shipped_book(), settings.timezone, now_ms
                )
            assert (new, view.status, view.meter_id) == (True, "energised", spare.meter_id)
            account = await until(
                lambda: _reading_after(settings, spare.meter_id, now_ms),
                "the first reading after energisation",
                90,
            )
        assert account == view.account_id
    finally:
        await engine.dispose()
