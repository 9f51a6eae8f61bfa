"""Password hashing runs in worker threads: a burst of logins never stalls the event loop, so
/health and everyone else's requests keep their pace (issue: 8 logins took /health to 900 ms).

The server runs under uvicorn in the test's own event loop (litestar's test client would run
it in another thread and hide a blocked loop). Each verification waits, in whatever thread runs
it, until the loop has answered a /health asked after it began: on the loop itself that wait could
never end (it times out and the test fails), in a worker thread it ends at the next probe. No
timing is asserted; a 5 ms timer's lateness is only printed."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from argon2 import PasswordHasher
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from backend.auth import passwords
from backend.auth.models import User
from backend.db import session_factory
from backend.server import make_server
from backend.settings import load_settings
from tests.support.e2e import stop_server, true_if, until
from tests.support.services import free_port
from tests.support.world import PASSWORD, build_world


class _Recording(PasswordHasher):
    """Argon2 at its production cost, noting the thread each verification runs in and whether
    the event loop answered /health while it was under way."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: list[str] = []
        self.loop_answered: list[bool] = []
        self._answers = 0
        self._changed = threading.Condition()

    def answered(self) -> None:
        """The loop answered one more /health."""
        with self._changed:
            self._answers += 1
            self._changed.notify_all()

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        self.threads.append(threading.current_thread().name)
        with self._changed:
            seen = self._answers
            answered = self._changed.wait_for(lambda: self._answers > seen + 1, timeout=30)
        self.loop_answered.append(answered)
        return super().verify(hash, password)


@pytest.fixture
async def served(
    database_url: str, engine: AsyncEngine, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    await build_world(engine)
    port = free_port()
    settings = load_settings(
        env={}, database_url=database_url, data_dir=str(tmp_path), ingest=False,
        http_port=port, log_level="WARNING", auth_require_totp=False,
    )  # fmt: skip
    server = make_server(settings)
    serving = asyncio.create_task(server.serve(), name="meterline-serve")
    try:
        await until(lambda: true_if(server.started), "the API to start", 60)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            yield client
    finally:
        await stop_server(server, serving)


async def _loop_lag(stop: asyncio.Event, lags: list[float]) -> None:
    """How late a 5 ms timer fires: a blocked loop fires it late by the whole block."""
    while not stop.is_set():
        t = time.perf_counter()
        await asyncio.sleep(0.005)
        lags.append(time.perf_counter() - t - 0.005)


async def test_eight_concurrent_logins_hash_off_the_event_loop_and_health_keeps_answering(
    served: httpx.AsyncClient, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    hasher = _Recording()
    monkeypatch.setattr(passwords, "_hasher", hasher)
    production_hash = hasher.hash(PASSWORD)  # the cost travels in the hash
    async with session_factory(engine)() as s:
        await s.execute(update(User).values(password_hash=production_hash))
        await s.commit()

    stop, lags, health = asyncio.Event(), list[float](), list[float]()

    async def probe() -> None:
        while not stop.is_set():
            t0 = time.perf_counter()
            assert (await served.get("/health")).status_code == 200
            health.append(time.perf_counter() - t0)
            hasher.answered()
            await asyncio.sleep(0.01)

    watcher = asyncio.create_task(_loop_lag(stop, lags))
    prober = asyncio.create_task(probe())
    users = ["op", "sup", "admin", "insp1", "insp2", "alice", "bob", "op"]
    logins = await asyncio.gather(
        *(served.post("/api/auth/login", json={"username": u, "password": PASSWORD}) for u in users)
    )
    stop.set()
    await asyncio.gather(watcher, prober)

    assert [r.status_code for r in logins] == [200] * 8
    assert len(hasher.threads) == 8
    assert all(name.startswith(passwords.HASH_THREAD_PREFIX) for name in hasher.threads)
    print(
        f"during 8 logins: loop lag max {max(lags) * 1000:.1f} ms, "
        f"/health max {max(health) * 1000:.1f} ms over {len(health)} probes"
    )
    # every verification saw the loop answer /health twice while it was under way: it did not
    # hold the loop (on the loop, its wait could not end)
    assert hasher.loop_answered == [True] * 8
