"""The simulators as a separate process: flags, ready file, control port, clean stop."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

from protocols.dlt645 import encode_frame, parse_read_reply, read_request
from tests.support.sim_clients import Dlt645Client

M1, M2 = "111111111111", "111111111112"


async def test_the_simulate_command_serves_meters_takes_control_and_stops_cleanly(
    tmp_path: Path,
) -> None:
    ready = tmp_path / "ready.json"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "edge_agent.simulators", "--seed", "3", "--exact-clocks",
        "--dlt645-tcp", "127.0.0.1:0", "--meters", "2",
        "--modbus-tcp", "127.0.0.1:0", "--map", "generic_prepaid", "--meters", "1",
        "--fault", f"silent@{M2}", "--control", "127.0.0.1:0", "--ready-file", str(ready),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    lines = []
    while not lines or not lines[-1].startswith("simulators ready"):
        line = await asyncio.wait_for(process.stdout.readline(), 30)
        assert line, (await process.stderr.read()).decode()  # type: ignore[union-attr]
        lines.append(line.decode().strip())
    endpoints = json.loads(ready.read_text())
    assert [(e["protocol"], e["meters"]) for e in endpoints] == [
        ("dlt645", [M1, M2]),
        ("modbus", ["1"]),
        ("control", []),
    ]
    assert lines[0].startswith(f"dlt645  tcp  tcp://127.0.0.1:{endpoints[0]['port']}")
    control_port = endpoints[2]["port"]
    assert lines[2] == f"control tcp://127.0.0.1:{control_port}"

    client = Dlt645Client(*await asyncio.open_connection("127.0.0.1", endpoints[0]["port"]))
    await client.send(encode_frame(read_request(M2, 0x00010000)))  # silent by --fault
    reply = await client.ask(read_request(M1, 0x00010000))
    assert parse_read_reply(reply, 0x00010000).address == M1

    reader, writer = await asyncio.open_connection("127.0.0.1", control_port)

    async def control(command: str) -> str:
        writer.write(command.encode() + b"\n")
        await writer.drain()
        return (await asyncio.wait_for(reader.readline(), 5)).decode().strip()

    assert await control(f"clear {M2}") == "ok 1"
    assert (await client.ask(read_request(M2, 0x00010000))).address == M2
    assert await control(f"power-fail {M1}") == "ok 1"
    assert json.loads((await control(f"state {M1}")).removeprefix("ok "))[0]["powered"] is False
    assert await control(f"button {M1}") == "ok [false]"
    assert (await control("explode 1")).startswith("error unknown command")
    assert (await control("fault loud@1")).startswith("error")
    writer.close()
    await client.close()

    process.send_signal(signal.SIGINT)
    out, _ = await asyncio.wait_for(process.communicate(), 10)
    assert process.returncode == 0
    assert "dlt645 tcp: " in out.decode()
    assert "requests 3" in out.decode()
