"""``meterline serve`` as a real child process, asked about itself through ``/health``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from tests.support.services import free_port


class ServeProcess:
    def __init__(self, data_dir: Path, **settings: str) -> None:
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("METERLINE_")}
        env.update(
            METERLINE_DATA_DIR=str(data_dir),
            METERLINE_HTTP_PORT=str(self.port),
            **{f"METERLINE_{k.upper()}": v for k, v in settings.items()},
        )
        data_dir.mkdir(parents=True, exist_ok=True)
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "backend.cli", "--log-level", "INFO", "serve"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def health(self) -> dict[str, Any] | None:
        """The /health answer, or None while the process does not answer."""
        try:
            r = httpx.get(f"http://127.0.0.1:{self.port}/health", timeout=2)
        except httpx.HTTPError:
            return None
        return r.json() if r.status_code == 200 else None

    def wait_health(self, key: str, value: object, within_s: float = 60.0) -> dict[str, Any]:
        """Until /health has ``key`` equal to ``value`` (a bounded wait on a condition)."""
        deadline = time.monotonic() + within_s
        while True:
            h = self.health()
            if h is not None and h.get(key) == value:
                return h
            assert self.proc.poll() is None, "serve exited:\n" + self.output
            assert time.monotonic() < deadline, (
                f"/health never had {key}={value!r} (last {h}):\n" + self.output
            )
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL: no shutdown at all, the database connections just drop."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
