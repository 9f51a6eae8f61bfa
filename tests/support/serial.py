"""A real serial link for tests: two pseudo-terminals joined by socat (a null-modem cable).

The agent opens one end as its RS-485 adapter; a simulator opens the other. Bytes really pass
through the kernel's tty layer, with termios settings, as on a concentrator. A pty carries no
parity bits, and some kernels refuse (EINVAL) to set even parity on one, so tests open both
ends 8N1; the agent's parity setting is passed to pyserial unchanged on real ports.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.services import missing


@dataclass
class SerialPair:
    agent: str  # path of the end the agent opens
    meter: str  # path of the end the simulated meter opens
    process: subprocess.Popen[bytes]


def open_serial_pair() -> SerialPair:
    socat = shutil.which("socat")
    if not socat:
        missing("socat", "apt-get install socat")
    assert socat
    d = Path(tempfile.mkdtemp(prefix="meterline-pty-"))
    a, b = d / "agent", d / "meter"
    proc = subprocess.Popen(
        [socat, f"pty,raw,echo=0,link={a}", f"pty,raw,echo=0,link={b}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while not (a.exists() and b.exists()):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("socat did not create the pty pair")
        time.sleep(0.01)
    return SerialPair(str(a), str(b), proc)


@pytest.fixture
def serial_pair() -> Iterator[SerialPair]:
    pair = open_serial_pair()
    yield pair
    pair.process.terminate()
    pair.process.wait(timeout=5)
