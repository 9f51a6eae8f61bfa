"""The installer's commands: probe (both protocols, TCP and serial) and check-config."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from edge_agent.simulators import BusSpec, FleetSpec, run_simulators
from protocols.dlt645 import Frame
from tests.support.dlt645_meter import FakeBus, FakeMeter
from tests.support.serial import SerialPair
from tests.support.services import free_port

ROOT = Path(__file__).resolve().parents[3]
A1 = "310000000001"


class CorruptingBus(FakeBus):
    """Every reply arrives with a wrong checksum."""

    def dispatch(self, frame: Frame) -> bytes | None:
        reply = super().dispatch(frame)
        if reply is None:
            return None
        return reply[:-2] + bytes([(reply[-2] + 1) % 256, 0x16])


async def cli(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "edge_agent", *args,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_probe_dlt645_over_tcp_prints_the_values_as_json() -> None:
    fake = FakeBus(FakeMeter(A1))
    port = await fake.start_tcp()
    try:
        code, out, _ = await cli(
            *("probe", "dlt645", "--tcp", f"127.0.0.1:{port}", "--address", A1),
            *("--di", "00010000", "--di", "02010100"),
        )
    finally:
        await fake.stop()
    assert code == 0
    values = {v["quantity"]: v["value"] for v in json.loads(out)["values"]}
    assert values == {"energy_import": 1_000_010, "voltage_a": 229_800}


async def test_probe_dlt645_over_a_serial_line(serial_pair: SerialPair) -> None:
    fake = FakeBus(FakeMeter(A1))
    await fake.start_serial(serial_pair.meter)
    try:
        code, out, err = await cli("probe", "dlt645", "--serial", serial_pair.agent,
                                   "--baud", "9600", "--parity", "N",
                                   "--address", A1, "--di", "00010000")  # fmt: skip
    finally:
        await fake.stop()
    assert code == 0, err
    assert json.loads(out)["values"][0]["quantity"] == "energy_import"


async def test_probe_modbus_reads_a_meter_through_its_map() -> None:
    spec = FleetSpec([BusSpec("modbus", "tcp", meters=1)], clock_error=False)
    async with run_simulators(spec) as fleet:
        port = fleet.endpoints[0].port
        code, out, err = await cli("probe", "modbus", "--tcp", f"127.0.0.1:{port}",
                                   "--unit", "1", "--map", "sdm630")  # fmt: skip
    assert code == 0, err
    quantities = {v["quantity"] for v in json.loads(out)["values"]}
    assert {"energy_import", "voltage_a", "frequency"} <= quantities


async def test_probe_exits_2_with_a_clear_message_when_the_meter_is_silent() -> None:
    fake = FakeBus(FakeMeter(A1, silent=True))
    port = await fake.start_tcp()
    try:
        code, out, err = await cli(
            *("probe", "dlt645", "--tcp", f"127.0.0.1:{port}", "--address", A1),
            *("--di", "00010000", "--timeout", "0.3"),
        )
    finally:
        await fake.stop()
    assert code == 2
    assert out == ""
    assert "no valid reply" in err
    assert A1 in err


async def test_probe_names_the_bad_frames_when_the_line_only_carries_garbage() -> None:
    fake = CorruptingBus(FakeMeter(A1))
    port = await fake.start_tcp()
    try:
        code, _, err = await cli(
            *("probe", "dlt645", "--tcp", f"127.0.0.1:{port}", "--address", A1),
            *("--di", "00010000", "--timeout", "0.3"),
        )
    finally:
        await fake.stop()
    assert code == 2
    assert "BadChecksum" in err


async def test_probe_exits_3_when_the_meter_refuses() -> None:
    fake = FakeBus(FakeMeter(A1))
    port = await fake.start_tcp()
    try:
        code, _, err = await cli("probe", "dlt645", "--tcp", f"127.0.0.1:{port}",
                                 "--address", A1, "--di", "00020000")  # fmt: skip
    finally:
        await fake.stop()
    assert code == 3
    assert "NO_DATA" in err


async def test_probe_exits_2_when_nothing_listens() -> None:
    code, _, err = await cli("probe", "modbus", "--tcp", f"127.0.0.1:{free_port()}",
                             "--unit", "1", "--map", "sdm630", "--timeout", "0.3")  # fmt: skip
    assert code == 2
    assert "no valid reply" in err


async def test_probe_rejects_an_address_that_is_not_12_digits() -> None:
    code, _, err = await cli("probe", "dlt645", "--tcp", "127.0.0.1:1", "--address", "12345",
                             "--di", "00010000")  # fmt: skip
    assert code == 4
    assert "'12345' is not 12 BCD digits" in err


async def test_check_config_lists_every_problem_and_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "agent.toml"
    bad.write_text('agent_id = "a b"\n[broker]\nport = 0\n')
    code, _, err = await cli("check-config", str(bad))
    assert code == 2
    assert "agent_id: 'a b' is invalid" in err
    assert "data_dir: required key is missing" in err
    assert "broker.host: required key is missing" in err
    assert "broker.port: 0 is invalid" in err
