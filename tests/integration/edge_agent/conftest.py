from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from edge_agent.agent import Agent
from edge_agent.configfile import load_config
from tests.support.agent import Backend
from tests.support.serial import serial_pair  # noqa: F401 - a fixture of these tests
from tests.support.services import Mosquitto


@pytest.fixture(autouse=True)
def _relay_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_RELAY_SECRET", "02:123456:1A2B3C4D")


@pytest.fixture
def backend(mosquitto: Mosquitto) -> Iterator[Backend]:
    b = Backend(mosquitto)
    yield b
    b.close()


@contextlib.asynccontextmanager
async def running_agent(config_path: Path) -> AsyncIterator[Agent]:
    """The agent in this event loop; stopped cleanly (goodbye, flush) on exit."""
    agent = Agent(load_config(config_path))
    task = asyncio.create_task(agent.run(), name="agent-under-test")
    try:
        yield agent
    finally:
        agent.stop.set()
        await asyncio.wait_for(task, 15)
