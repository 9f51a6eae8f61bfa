"""Commands end to end: backend → Mosquitto → agent → DL/T 645 meter → ack → backend."""

from __future__ import annotations

import logging
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from edge_agent.database import Database
from edge_agent.journal import Journal
from protocols.contract import CommandState, RelayState
from tests.integration.edge_agent.conftest import running_agent
from tests.support.agent import Backend, agent_toml, command, dlt645_tcp_bus
from tests.support.dlt645_meter import FakeBus, FakeMeter
from tests.support.services import Mosquitto

pytestmark = pytest.mark.mosquitto

A1 = "310000000001"


def states(backend: Backend, command_id: str) -> list[CommandState]:
    return [a.state for a in backend.acks(command_id)]


async def test_a_disconnect_is_received_executed_and_acked_with_the_relay_read_back(
    tmp_path: Path, mosquitto: Mosquitto, backend: Backend
) -> None:
    meter = FakeMeter(A1)
    fake = FakeBus(meter)
    port = await fake.start_tcp()
    config = agent_toml(tmp_path, mosquitto, dlt645_tcp_bus(port, [A1], every_s=5))
    cmd = command("disconnect")
    try:
        async with running_agent(config):
            await backend.birth()
            backend.send(cmd)
            await backend.until(lambda: CommandState.EXECUTED in states(backend, cmd.id))
    finally:
        await fake.stop()
    assert states(backend, cmd.id) == [CommandState.RECEIVED, CommandState.EXECUTED]
    executed = backend.acks(cmd.id)[-1]
    assert executed.relay_state is RelayState.DISCONNECTED
    assert executed.attempts == 1
    assert meter.relay_commands == [0x1A]


async def test_a_disconnect_of_a_meter_already_off_is_executed_without_a_frame_and_the_agent_lives(
    tmp_path: Path, mosquitto: Mosquitto, backend: Backend
) -> None:
    meter = FakeMeter(A1, relay=RelayState.DISCONNECTED)
    fake = FakeBus(meter)
    port = await fake.start_tcp()
    config = agent_toml(tmp_path, mosquitto, dlt645_tcp_bus(port, [A1], every_s=5))
    first, then = command("disconnect"), command("reconnect")
    try:
        async with running_agent(config):
            await backend.birth()
            backend.send(first)
            await backend.until(lambda: CommandState.EXECUTED in states(backend, first.id))
            backend.send(then)  # the agent is still alive and takes the next command
            await backend.until(lambda: CommandState.EXECUTED in states(backend, then.id))
    finally:
        await fake.stop()
    assert states(backend, first.id) == [CommandState.RECEIVED, CommandState.EXECUTED]
    assert backend.acks(first.id)[-1].relay_state is RelayState.DISCONNECTED
    assert meter.relay_commands == [0x1C]  # the disconnect sent nothing: it was off already


async def test_a_duplicate_command_gets_duplicate_with_the_earlier_outcome_and_runs_once(
    tmp_path: Path, mosquitto: Mosquitto, backend: Backend
) -> None:
    meter = FakeMeter(A1)
    fake = FakeBus(meter)
    port = await fake.start_tcp()
    config = agent_toml(tmp_path, mosquitto, dlt645_tcp_bus(port, [A1], every_s=5))
    cmd = command("arm_reconnect")
    meter.relay = RelayState.DISCONNECTED
    try:
        async with running_agent(config):
            await backend.birth()
            backend.send(cmd)
            await backend.until(lambda: CommandState.EXECUTED in states(backend, cmd.id))
            backend.send(cmd)
            await backend.until(lambda: CommandState.DUPLICATE in states(backend, cmd.id))
    finally:
        await fake.stop()
    duplicate = backend.acks(cmd.id)[-1]
    assert duplicate.state is CommandState.DUPLICATE
    assert duplicate.relay_state is RelayState.READY_FOR_RECONNECTION
    assert duplicate.error is not None
    assert "earlier outcome: executed" in duplicate.error
    assert meter.relay_commands == [0x1B]


async def test_an_expired_command_is_refused_and_never_reaches_the_meter(
    tmp_path: Path, mosquitto: Mosquitto, backend: Backend
) -> None:
    meter = FakeMeter(A1)
    fake = FakeBus(meter)
    port = await fake.start_tcp()
    config = agent_toml(tmp_path, mosquitto, dlt645_tcp_bus(port, [A1], every_s=5))
    now = int(time.time() * 1000)
    late = command("disconnect", issued_at=now - 120_000, not_after=now - 60_000)
    # due after its own expiry: it waits for not_before, then is refused without executing
    expires_queued = command("disconnect", not_before=now + 400, not_after=now + 200)
    try:
        async with running_agent(config):
            await backend.birth()
            backend.send(late)
            backend.send(expires_queued)
            await backend.until(
                lambda: (
                    CommandState.REFUSED_EXPIRED in states(backend, late.id)
                    and CommandState.REFUSED_EXPIRED in states(backend, expires_queued.id)
                )
            )
    finally:
        await fake.stop()
    assert states(backend, late.id) == [CommandState.REFUSED_EXPIRED]
    assert states(backend, expires_queued.id) == [
        CommandState.RECEIVED,
        CommandState.REFUSED_EXPIRED,
    ]
    assert meter.relay_commands == []


async def test_a_disconnect_outside_the_allowed_local_hours_is_refused_by_policy(
    tmp_path: Path, mosquitto: Mosquitto, backend: Backend
) -> None:
    meter = FakeMeter(A1)
    fake = FakeBus(meter)
    port = await fake.start_tcp()
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
    policy = f'enabled = true\nholidays = ["{today}"]'
    config = agent_toml(tmp_path, mosquitto, dlt645_tcp_bus(port, [A1], every_s=5), policy=policy)
    cmd = command("disconnect")
    reconnect = command("reconnect")  # restoring supply is never held back by the policy
    meter.relay = RelayState.DISCONNECTED
    try:
        async with running_agent(config):
            await backend.birth()
            backend.send(cmd)
            backend.send(reconnect)
            await backend.until(
                lambda: (
                    CommandState.REFUSED_POLICY in states(backend, cmd.id)
                    and CommandState.EXECUTED in states(backend, reconnect.id)
                )
            )
    finally:
        await fake.stop()
    refused = backend.acks(cmd.id)[-1]
    assert refused.error is not None
    assert "holiday" in refused.error
    assert meter.relay_commands == [0x1C]


async def test_a_command_for_an_unknown_meter_is_refused(
    tmp_path: Path, mosquitto: Mosquitto, backend: Backend
) -> None:
    fake = FakeBus(FakeMeter(A1))
    port = await fake.start_tcp()
    config = agent_toml(tmp_path, mosquitto, dlt645_tcp_bus(port, [A1], every_s=5))
    cmd = command("disconnect", meter="nope")
    try:
        async with running_agent(config):
            await backend.birth()
            backend.send(cmd)
            await backend.until(lambda: backend.acks(cmd.id))
    finally:
        await fake.stop()
    assert states(backend, cmd.id) == [CommandState.REFUSED_UNKNOWN_METER]


@pytest.mark.parametrize(
    ("relay_after_crash", "final"),
    [(RelayState.DISCONNECTED, CommandState.EXECUTED), (RelayState.CONNECTED, CommandState.FAILED)],
)
async def test_after_a_crash_between_execute_and_ack_the_relay_is_read_back_not_tripped_again(
    tmp_path: Path,
    mosquitto: Mosquitto,
    backend: Backend,
    relay_after_crash: RelayState,
    final: CommandState,
) -> None:
    meter = FakeMeter(A1, relay=relay_after_crash)
    fake = FakeBus(meter)
    port = await fake.start_tcp()
    config = agent_toml(tmp_path, mosquitto, dlt645_tcp_bus(port, [A1], every_s=5))
    cmd = command("disconnect")
    # The state a crash leaves behind: journalled as executing (attempt 1), no final ack.
    db = Database(tmp_path / "data" / "agent.db")
    journal = Journal(db)
    await journal.intake(cmd, known_meter=True)
    await journal.executing(cmd.id, 1)
    db.close()
    try:
        async with running_agent(config):
            await backend.until(lambda: final in states(backend, cmd.id))
    finally:
        await fake.stop()
    ack = backend.acks(cmd.id)[-1]
    assert ack.relay_state is relay_after_crash
    assert ack.error is not None
    assert "not resent" in ack.error
    assert meter.relay_commands == []  # never sent again
    assert states(backend, cmd.id) == [CommandState.RECEIVED, final]


async def test_a_relay_command_the_meter_refuses_fails_with_its_reason_in_ack_and_log(
    tmp_path: Path, mosquitto: Mosquitto, backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="edge_agent")
    meter = FakeMeter(A1, refuse_relay=True)
    fake = FakeBus(meter)
    port = await fake.start_tcp()
    config = agent_toml(tmp_path, mosquitto, dlt645_tcp_bus(port, [A1], every_s=5))
    cmd = command("disconnect", not_after=int(time.time() * 1000) + 60_000)
    try:
        async with running_agent(config):
            await backend.birth()
            backend.send(cmd)
            await backend.until(lambda: CommandState.FAILED in states(backend, cmd.id))
    finally:
        await fake.stop()
    failed = backend.acks(cmd.id)[-1]
    assert failed.error is not None
    assert "UNAUTHORISED" in failed.error
    assert failed.relay_state is RelayState.CONNECTED
    assert meter.relay_commands == [0x1A]  # a refusal is not retried
    (logged,) = [r for r in caplog.records if r.getMessage().startswith(f"command {cmd.id} ")]
    assert logged.levelno == logging.WARNING  # seen at the WARNING level installers run at
    assert ": failed: " in logged.getMessage()
    assert "UNAUTHORISED" in logged.getMessage()


async def test_a_modbus_meter_is_polled_and_disconnected_through_its_maps_relay_entries(
    tmp_path: Path, mosquitto: Mosquitto, backend: Backend
) -> None:
    from edge_agent.simulators import BusSpec, FleetSpec, run_simulators
    from protocols.contract import Quantity

    spec = FleetSpec([BusSpec("modbus", "tcp", meters=1, register_map="generic_prepaid")],
                     clock_error=False)  # fmt: skip
    async with run_simulators(spec) as fleet:
        bus = f"""
[[buses]]
name = "panel"
transport = "tcp"
protocol = "modbus_tcp"
host = "127.0.0.1"
port = {fleet.endpoints[0].port}
timeout_ms = 300
  [[buses.meters]]
  id = "pp1"
  unit = 1
  map = "generic_prepaid"
    [[buses.meters.groups]]
    name = "all"
    every_s = 0.2
"""
        cmd = command("disconnect", meter="pp1")
        async with running_agent(agent_toml(tmp_path, mosquitto, bus)):
            await backend.birth()
            await backend.until(lambda: backend.values())
            backend.send(cmd)
            await backend.until(lambda: CommandState.EXECUTED in states(backend, cmd.id))
            relay_now = fleet.meter("1").model.relay
    executed = backend.acks(cmd.id)[-1]
    assert executed.relay_state is RelayState.DISCONNECTED
    assert relay_now is RelayState.DISCONNECTED
    assert {Quantity.ENERGY_IMPORT, Quantity.RELAY_STATE} <= {v.quantity for v in backend.values()}
