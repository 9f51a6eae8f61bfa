"""The PWA in real headless Chromium against a real backend.

One server for the whole session: the built PWA (``npm run build``; scripts/test builds it before
pytest, and it is built here when missing), ``meterline serve`` on a free port with a fresh
migrated SQLite database seeded through the services (tests/e2e/seed.py). Each test gets phones:
Chromium contexts at 360×640 with touch and mobile emulation, in zh-CN or English. Screenshots go
to test-artifacts/screenshots/.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.seed import PASSWORD, Seeded, seed
from tests.support.services import free_port, missing

ROOT = Path(__file__).resolve().parents[2]
DIST = ROOT / "pwa" / "dist"
SHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass
class Server:
    url: str
    database_url: str
    seeded: Seeded
    process: subprocess.Popen[bytes]

    def api(self, method: str, path: str, token: str | None = None, body: Any = None) -> Any:
        """Ask the API directly (to check what the server holds), as JSON."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"{self.url}/api{path}", data=data, method=method)
        req.add_header("content-type", "application/json")
        if token:
            req.add_header("authorization", f"Bearer {token}")
        with urllib.request.urlopen(req, timeout=10) as r:
            raw = r.read()
        return json.loads(raw) if raw else None

    def token(self, username: str) -> str:
        body = {"username": username, "password": PASSWORD}
        return str(self.api("POST", "/auth/login", body=body)["access_token"])


def _build_pwa() -> None:
    npm = shutil.which("npm")
    if npm is None:
        missing("npm (Node.js)", "apt-get install nodejs npm")
    assert npm
    if not (ROOT / "pwa" / "node_modules").is_dir():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=ROOT / "pwa", check=True)
    subprocess.run([npm, "run", "--silent", "build"], cwd=ROOT / "pwa", check=True)


def _wait_healthy(url: str, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"meterline serve exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=1) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{url}/health did not answer within {timeout}s")


@pytest.fixture(scope="session")
def pwa_dist() -> Path:
    if not (DIST / "index.html").is_file():
        _build_pwa()
    return DIST


@pytest.fixture(scope="session")
def server(pwa_dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    from backend import migrate

    data = tmp_path_factory.mktemp("e2e-server")
    database_url = f"sqlite+aiosqlite:///{data / 'e2e.db'}"
    migrate.upgrade(database_url, "heads")  # "heads": whatever branches the migrations have
    with closing(sqlite3.connect(data / "e2e.db")) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    needed = {"users", "meters", "reading_books", "field_readings", "topups", "commands"}
    assert needed <= tables, f"the migrations did not create {sorted(needed - tables)}"
    # pytest-asyncio may have its session loop running here: seed in a thread's own loop
    with ThreadPoolExecutor(1) as pool:
        seeded = pool.submit(asyncio.run, seed(database_url)).result()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("METERLINE_")}
    env.update(
        METERLINE_DATA_DIR=str(data),
        METERLINE_DATABASE_URL=database_url,
        METERLINE_HTTP_HOST="127.0.0.1",
        METERLINE_HTTP_PORT=str(port),
        METERLINE_INGEST="false",  # no broker: the journeys need the HTTP API only
        METERLINE_PREPAID_SWEEP_SECONDS="0",  # no background sweep deciding things mid-test
        METERLINE_POSTPAID_BILLS_SECONDS="0",  # bills issued by the seed only
        METERLINE_PAYMENTS_PROVIDER="simulated",  # the simulated wallet confirms payments
        METERLINE_LOG_LEVEL="WARNING",
        METERLINE_AUTH_REQUIRE_TOTP="false",  # the journeys log operators in by password
    )
    log = open(data / "server.log", "wb")  # noqa: SIM115 - kept open for the process's life
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "meterline"), "serve"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, process)
        yield Server(url, database_url, seeded, process)
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        missing("Chromium", "apt-get install chromium")
    from playwright.sync_api import expect, sync_playwright

    # waits are on conditions, never sleeps; a CI box with two cores shared by the whole suite
    # can be slow to reach them, so allow more than Playwright's 5 s default
    expect.set_options(timeout=15_000)

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


Phone = Callable[..., Any]


@pytest.fixture
def phone(browser: Any, server: Server) -> Iterator[Phone]:
    """Make a phone: a fresh browser profile at 360×640 (``locale``, optional ``geolocation``
    as (lat, lon, accuracy), ``service_workers`` "allow" or "block")."""
    contexts: list[Any] = []

    def make(
        locale: str = "zh-CN",
        geolocation: tuple[float, float, float] | None = None,
        service_workers: str = "allow",
    ) -> Any:
        geo = None
        if geolocation:
            geo = {
                "latitude": geolocation[0],
                "longitude": geolocation[1],
                "accuracy": geolocation[2],
            }
        ctx = browser.new_context(
            base_url=server.url,
            viewport={"width": 360, "height": 640},
            device_scale_factor=2,
            is_mobile=True,
            has_touch=True,
            locale=locale,
            timezone_id="Asia/Shanghai",
            geolocation=geo,
            permissions=["geolocation"] if geo else [],
            service_workers=service_workers,
        )
        ctx.set_default_timeout(15_000)
        ctx.on("page", lambda page: page.on("pageerror", lambda exc: errors.append(str(exc))))
        ctx.on("console", lambda msg: console.append(f"{msg.type}: {msg.text}"))
        contexts.append(ctx)
        return ctx

    errors: list[str] = []
    console: list[str] = []
    yield make
    for ctx in contexts:
        ctx.close()
    print("\n".join(console))  # shown by pytest when the test fails
    assert errors == [], f"uncaught errors in the page: {errors}"


def shot(page: Any, name: str) -> None:
    """A phone-sized screenshot as a test artefact."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=False)


def log_in(page: Any, username: str, home: str) -> None:
    page.goto("/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"**{home}")
