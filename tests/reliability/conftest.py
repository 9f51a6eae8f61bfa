"""The fault suite's parts: a Mosquitto of its own with persistence on, so that it can be
stopped and started again with its sessions and queues."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from tests.conftest import TEST_AGENTS
from tests.support.services import Mosquitto, start_mosquitto, wait_port


def start(broker: Mosquitto) -> None:
    log = open(broker.directory / "mosquitto.log", "ab")  # noqa: SIM115 - the broker's, for its life
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    broker.process = subprocess.Popen(
        [binary, "-c", str(broker.directory / "mosquitto.conf")], stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    wait_port(broker.port)


def stop(broker: Mosquitto) -> None:
    """SIGTERM: Mosquitto writes its persistence file (sessions, queued messages) and exits."""
    broker.process.terminate()
    broker.process.wait(timeout=30)


def kill(broker: Mosquitto, *, wipe: bool = False) -> None:
    """SIGKILL: whatever the broker acknowledged since its last save is gone (Mosquitto saves
    only at a clean stop or every ``autosave_interval``). With ``wipe`` its store goes too: a
    broker restarted without persistence — no sessions, no queued messages, no subscriptions."""
    broker.process.kill()
    broker.process.wait(timeout=30)
    if wipe:
        (broker.directory / "data" / "mosquitto.db").unlink(missing_ok=True)


@pytest.fixture(autouse=True)
def _relay_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_RELAY_SECRET", "02:123456:1A2B3C4D")  # the agent's config names it


@pytest.fixture
def persistent_broker() -> Iterator[Mosquitto]:
    broker = start_mosquitto(TEST_AGENTS)
    broker.process.kill()  # started without persistence: nothing to save, no clean stop needed
    broker.process.wait()
    data = broker.directory / "data"
    data.mkdir()
    os.chmod(data, 0o777)  # the broker may run as its own user
    conf = broker.directory / "mosquitto.conf"
    conf.write_text(
        conf.read_text().replace(
            "persistence false\n", f"persistence true\npersistence_location {data}/\n"
        )
    )
    start(broker)
    yield broker
    if broker.process.poll() is None:
        stop(broker)
    shutil.rmtree(broker.directory, ignore_errors=True)
