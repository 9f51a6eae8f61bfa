"""`meterline demo` as it runs: its own configuration, its own processes, a real Mosquitto.

The commands test calls the functions ``run_demo`` calls (``prepare``, then ``running``: the
demo's broker, simulators, API and agent with the configuration the demo writes) and orders
commands the way the API does (``commands.service.create``, picked up by the dispatcher). The
signal tests start ``meterline demo`` itself as a process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import select
import signal
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func
from sqlalchemy import select as sql_select

from backend.commands import service
from backend.commands.lifecycle import State
from backend.commands.models import Command
from backend.db import create_engine, session_factory
from backend.demo import DEFAULT_METERS, DEFAULT_SPEED, child_env, prepare, running
from backend.demo_data import DemoFleet, DemoMeter
from backend.metering.models import Meter, Reading
from backend.settings import Settings, load_settings
from edge_agent.config import Bus, BusProtocol, Transport
from edge_agent.config import Meter as AgentMeter
from edge_agent.configfile import load_config
from edge_agent.drivers.dlt645 import Dlt645Driver
from protocols.contract import CommandKind, Quantity, RelayState
from tests.support.e2e import SHANGHAI, until
from tests.support.services import free_port

pytestmark = pytest.mark.mosquitto

FINAL = (State.VERIFIED, State.FAILED, State.EXPIRED, State.REFUSED)


def demo_settings(tmp_path: Path) -> Settings:
    return load_settings(
        env={}, data_dir=str(tmp_path / "var"), http_port=free_port(),
        mqtt_url=f"mqtt://127.0.0.1:{free_port()}", log_level="WARNING",
    )  # fmt: skip


async def _order(settings: Settings, meter: DemoMeter, kind: CommandKind) -> str:
    """An operator's command for one meter, created as the API creates it."""
    engine = create_engine(settings.database_url)
    try:
        async with session_factory(engine)() as s:
            row = await s.scalar(sql_select(Meter).where(Meter.meter_id == meter.meter_id))
            assert row is not None
            command = await service.create(
                s, row, kind, reason="demo check", actor="operator", ttl=timedelta(minutes=5)
            )
            await s.commit()
            return command.id
    finally:
        await engine.dispose()


async def _finished(settings: Settings, command_id: str) -> Command | None:
    engine = create_engine(settings.database_url)
    try:
        async with session_factory(engine)() as s:
            command = await s.get(Command, command_id)
            assert command is not None
            return command if command.state in FINAL else None
    finally:
        await engine.dispose()


async def _has_readings(settings: Settings, meters: list[DemoMeter]) -> bool | None:
    """True once the backend holds a reading of every meter: the agent is connected (and so
    subscribed to its commands topic) and polls both buses."""
    engine = create_engine(settings.database_url)
    try:
        async with session_factory(engine)() as s:
            for m in meters:
                pk = await s.scalar(sql_select(Meter.id).where(Meter.meter_id == m.meter_id))
                found = await s.scalar(
                    sql_select(Reading.ts).where(Reading.meter_pk == pk).limit(1)
                )
                if found is None:
                    return None
        return True
    finally:
        await engine.dispose()


async def _clock_ahead_ms(fleet: DemoFleet, meter: DemoMeter) -> int:
    """How far the simulated DL/T 645 meter's clock is ahead of ours, read over its gateway."""
    bus = Bus(name="check", transport=Transport.TCP, protocol=BusProtocol.DLT645,
              host="127.0.0.1", port=fleet.dlt645_port, timeout_ms=1500)  # fmt: skip
    driver = Dlt645Driver(bus, SHANGHAI, {})
    try:
        drift = await driver.clock_drift_ms(AgentMeter(id=meter.meter_id, address=meter.address))
    finally:
        await driver.close()
    assert drift is not None
    return drift


async def _run_command(settings: Settings, meter: DemoMeter, kind: CommandKind) -> Command:
    command_id = await _order(settings, meter, kind)
    done = await until(
        lambda: _finished(settings, command_id), f"{kind.value} of {meter.meter_id}", 60
    )
    assert (done.state, done.error) == (State.VERIFIED, None), done.meter_id
    return done


async def test_the_demos_dlt645_dlt698_and_modbus_meters_disconnect_and_reconnect_by_read_back(
    tmp_path: Path,
) -> None:
    settings = demo_settings(tmp_path)
    fleet, _ = await prepare(settings, meters=DEFAULT_METERS, speed=DEFAULT_SPEED)
    dlt, modbus, dlt698 = fleet.dlt645[0], fleet.modbus[0], fleet.dlt698[0]
    # no port is chosen before the simulators listen: one free at ``prepare`` may be taken by
    # another program before they start (a demo that failed to start in CI)
    assert (fleet.dlt645_port, fleet.modbus_port, fleet.dlt698_port, fleet.control_port) == (
        0, 0, 0, 0,
    )  # fmt: skip
    async with running(settings, fleet) as demo:
        assert demo.broker.startswith("mosquitto")
        agent = load_config(settings.data_path / "agent" / "agent.toml", environ=child_env())
        listening = json.loads((settings.data_path / "simulators.json").read_text())
        assert {e["protocol"]: e["port"] for e in listening} == {
            "dlt645": fleet.dlt645_port, "modbus": fleet.modbus_port,
            "dlt698": fleet.dlt698_port, "control": fleet.control_port,
        }  # fmt: skip
        assert [b.port for b in agent.buses] == [
            fleet.dlt645_port, fleet.modbus_port, fleet.dlt698_port,
        ]  # fmt: skip
        assert settings.areas_drill_control == f"127.0.0.1:{fleet.control_port}"
        assert 0 not in {fleet.dlt645_port, fleet.modbus_port, fleet.dlt698_port}
        await until(
            lambda: _has_readings(settings, [dlt, modbus, dlt698]), "the first readings", 90
        )
        # the demo's meters run 60x: their clocks are soon further ahead of the agent's than
        # the validity the agent writes into a relay command (what the meters used to refuse)
        valid_ms = agent.commands.relay_valid_s * 1000
        await until(
            lambda: _true_if_ahead(fleet, dlt, 2 * valid_ms), "the meter clock to run ahead", 60
        )
        for meter in (dlt, modbus, dlt698):
            off = await _run_command(settings, meter, CommandKind.DISCONNECT)
            assert off.readback_relay_state == int(RelayState.DISCONNECTED)
            on = await _run_command(settings, meter, CommandKind.RECONNECT)
            assert on.readback_relay_state == int(RelayState.CONNECTED)
        log = await asyncio.to_thread(demo.agent_log.read_text)
        # meters 60x fast are no implausible jumps: the demo's readings are billed, not held
        await until(lambda: _two_energy_readings(settings), "a second energy reading", 60)
        qualities = await _qualities(settings)
    assert qualities.get("good", 0) > 0
    assert qualities.get("held", 0) == 0
    assert demo.agent_log == settings.data_path / "agent.log"
    assert f"agent {fleet.agent_id} " in log
    for meter in (dlt, modbus, dlt698):
        for kind in ("disconnect", "reconnect"):
            assert f"{kind} on {meter.meter_id}: executed" in log


async def _qualities(settings: Settings) -> dict[str, int]:
    """How many energy_import readings the demo stored, by quality."""
    engine = create_engine(settings.database_url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                sql_select(Reading.quality, func.count())
                .where(Reading.quantity == Quantity.ENERGY_IMPORT)
                .group_by(Reading.quality)
            )
            return {str(q): int(n) for q, n in rows.all()}
    finally:
        await engine.dispose()


async def _two_energy_readings(settings: Settings) -> bool | None:
    """True once some meter has two energy readings: the second is judged against the first."""
    found = await _qualities(settings)
    return True if sum(found.values()) > 2 * DEFAULT_METERS else None


async def _true_if_ahead(fleet: DemoFleet, meter: DemoMeter, ms: int) -> bool | None:
    return True if await _clock_ahead_ms(fleet, meter) > ms else None


# --- stopping the demo ----------------------------------------------------------------------


def _started_by(marker: str) -> dict[int, str]:
    """Live processes (pid → command line) whose environment holds ``marker``: the demo and
    everything it started inherit its ``METERLINE_DATA_DIR``."""
    found: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            environ = (entry / "environ").read_bytes().split(b"\0")
            if marker.encode() in environ:
                found[int(entry.name)] = (
                    (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                )
    return found


@contextlib.contextmanager
def _pidfds(pids: list[int]) -> Iterator[dict[int, int]]:
    fds: dict[int, int] = {}
    try:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                fds[pid] = os.pidfd_open(pid)
        yield fds
    finally:
        for fd in fds.values():
            os.close(fd)


def _wait_all_exited(fds: dict[int, int], within_s: float) -> list[int]:
    """Wait (bounded) until every pidfd reports its process ended; the pids still running."""
    deadline = time.monotonic() + within_s
    running_fds = dict(fds)
    while running_fds:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        ready, _, _ = select.select(list(running_fds.values()), [], [], left)
        running_fds = {p: fd for p, fd in running_fds.items() if fd not in ready}
    return sorted(running_fds)


async def _start_demo(tmp_path: Path) -> tuple[asyncio.subprocess.Process, str]:
    data = tmp_path / "var"
    marker = f"METERLINE_DATA_DIR={data}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("METERLINE_")}
    env.update(METERLINE_DATA_DIR=str(data), METERLINE_HTTP_PORT=str(free_port()),
               METERLINE_MQTT_URL=f"mqtt://127.0.0.1:{free_port()}")  # fmt: skip
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "backend.cli", "demo", "--meters", "3", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    return proc, marker


async def _stop_and_check(proc: asyncio.subprocess.Process, marker: str, sig: int) -> None:
    started = _started_by(marker)
    assert proc.pid in started
    with _pidfds(list(started)) as fds:
        proc.send_signal(sig)
        assert proc.stdout is not None
        await asyncio.wait_for(proc.stdout.read(), 60)  # the rest of its output, until EOF
        assert await asyncio.wait_for(proc.wait(), 60) == 0
        still = await asyncio.to_thread(_wait_all_exited, fds, 15)
    assert still == [], {p: started[p] for p in still}
    assert _started_by(marker) == {}


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_a_signal_stops_the_running_demo_and_every_process_it_started(
    tmp_path: Path, sig: int
) -> None:
    proc, marker = await _start_demo(tmp_path)
    try:
        assert proc.stdout is not None
        while b"meterline demo is running" not in (
            line := await asyncio.wait_for(proc.stdout.readline(), 120)
        ):
            assert line, "the demo exited before it was running"
        started = _started_by(marker).values()
        for part in ("mosquitto", "edge_agent simulate", "edge_agent run"):
            assert any(part in cmd for cmd in started), (part, started)
        await _stop_and_check(proc, marker, sig)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_sigterm_during_start_up_stops_what_was_already_started(tmp_path: Path) -> None:
    proc, marker = await _start_demo(tmp_path)
    try:
        ready = tmp_path / "var" / "simulators.json"
        await until(lambda: _exists(ready), "the simulators to listen", 120)
        await _stop_and_check(proc, marker, signal.SIGTERM)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def _exists(path: Path) -> bool | None:
    return True if await asyncio.to_thread(path.exists) else None
