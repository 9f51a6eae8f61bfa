"""The API answers /health on both databases, and `meterline demo` starts from scratch."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from litestar.testing import AsyncTestClient

from backend.app import create_app
from backend.settings import load_settings
from tests.support.services import free_port


async def test_health_reports_the_database(database_url: str, tmp_path: Path) -> None:
    settings = load_settings(
        env={}, database_url=database_url, data_dir=str(tmp_path), ingest=False
    )
    async with AsyncTestClient(create_app(settings)) as client:
        r = await client.get("/health")
    assert r.status_code == 200
    body = r.json()
    assert body["database"] == "ok"
    assert body["status"] == "ok"


async def test_openapi_schema_is_served(tmp_path: Path) -> None:
    settings = load_settings(env={}, data_dir=str(tmp_path), ingest=False)
    async with AsyncTestClient(create_app(settings)) as client:
        r = await client.get("/schema/openapi.json")
    assert r.status_code == 200
    assert r.json()["openapi"].startswith("3.1")
    assert "/health" in r.json()["paths"]


@pytest.mark.parametrize("broker", ["mosquitto", "amqtt"])
def test_demo_command_starts_and_answers_health(tmp_path: Path, broker: str) -> None:
    port = free_port()
    env = {
        **os.environ,
        "METERLINE_DATA_DIR": str(tmp_path),
        "METERLINE_HTTP_PORT": str(port),
        "METERLINE_MQTT_URL": f"mqtt://127.0.0.1:{free_port()}",
    }
    args = [sys.executable, "-m", "backend.cli", "demo"] + (
        ["--amqtt"] if broker == "amqtt" else []
    )
    proc = subprocess.Popen(
        args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        assert proc.stdout is not None
        lines = []
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            assert line, "demo exited early:\n" + "".join(lines)
            lines.append(line)
            if "meterline demo is running" in line:
                break
        assert f"open http://127.0.0.1:{port}/" in lines[-1]
        r = httpx.get(f"http://127.0.0.1:{port}/health", timeout=10)
        assert r.status_code == 200
        assert r.json()["database"] == "ok"
        assert (tmp_path / "meterline.db").exists()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
