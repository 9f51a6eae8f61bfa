"""schemathesis over the OpenAPI schema, against a live `meterline serve` on a free port:
no 5xx, every response as declared, and declared authentication enforced."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis import checks

from backend import migrate
from backend.app import create_app
from backend.db import create_engine
from backend.settings import load_settings
from tests.support.readings import commit_readings, ms
from tests.support.services import free_port, wait_port
from tests.support.world import PASSWORD, build_world


def _seed(url: str) -> None:
    async def main() -> None:
        engine = create_engine(url)
        world = await build_world(engine)
        points = [(ms(2026, 3, 1, h), 1_000 + 50 * h) for h in range(0, 24, 2)]
        await commit_readings(engine, world.alice_meter, points)
        await commit_readings(
            engine, world.bob_meter, [(ms(2026, 3, 1, 1), 900), (ms(2026, 3, 1, 2), 5)]
        )
        await engine.dispose()

    # its own thread and event loop, whatever loop the test runner holds
    worker = threading.Thread(target=asyncio.run, args=(main(),))
    worker.start()
    worker.join()


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    data = tmp_path_factory.mktemp("schemathesis")
    url = f"sqlite+aiosqlite:///{data / 'api.db'}"
    migrate.upgrade(url)
    _seed(url)
    port = free_port()
    env = {
        **os.environ,
        "METERLINE_DATABASE_URL": url,
        "METERLINE_DATA_DIR": str(data),
        "METERLINE_HTTP_PORT": str(port),
        "METERLINE_INGEST": "false",
        "METERLINE_LOG_LEVEL": "WARNING",
        "METERLINE_AUTH_REQUIRE_TOTP": "false",  # the operator works without a second factor
    }
    log = (data / "server.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "backend.cli", "serve"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_port(port, timeout=60)
        base = f"http://127.0.0.1:{port}"
        r = httpx.post(f"{base}/api/auth/login", json={"username": "op", "password": PASSWORD})
        assert r.status_code == 200, r.text
        yield base, r.json()["access_token"]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
        print(Path(log.name).read_text(errors="replace")[-2000:])


@pytest.fixture(scope="module")
def operator_headers(live_server: tuple[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {live_server[1]}"}


def _openapi() -> dict[str, object]:
    """The app's own schema, built without a server (the live one serves the same)."""
    with tempfile.TemporaryDirectory() as d:
        app = create_app(load_settings(env={}, data_dir=d, ingest=False))
        return app.openapi_schema.to_schema()


# Logging out or changing the password ends the operator's session (its access token is revoked
# at once), which would leave every later case a 401: those two are tested by name in
# test_auth.py and test_auth_passwords.py.
schema = schemathesis.openapi.from_dict(_openapi()).exclude(
    path_regex="^/api/auth/(logout|password)$"
)


# Bounded so that ~80 operations take well under a minute on two cores: 4 generated cases each
# (positive and negative), without schemathesis' coverage phase, which triples the time.
@schema.parametrize()
@settings(
    max_examples=4,
    phases=[Phase.generate],
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_every_operation_conforms_to_its_schema(
    case: schemathesis.Case, live_server: tuple[str, str], operator_headers: dict[str, str]
) -> None:
    case.call_and_validate(base_url=live_server[0], headers=operator_headers, checks=CHECKS)


# No 5xx; status codes, content types, headers and bodies as declared; and an operation that
# declares the bearer token refuses a request without it (ignored_auth). Left out:
# positive_data_acceptance, because rules the schema cannot state (a day range of at most 400
# days, `to` after `from`) rightly answer 400; and negative_data_rejection, because litestar
# coerces a JSON "true" into a boolean (lenient, harmless) — unknown fields, wrong types and
# over-long strings are rejected and tested by name in test_auth.py and test_metering_api.py.
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
    checks.ignored_auth,
]
