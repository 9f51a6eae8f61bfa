"""Login throttling (ASVS 2.2.1): per account and per client address, kept in the database so
every API replica sees it; lockout answers 429 with Retry-After, even to the right password."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from litestar.testing import AsyncTestClient

from backend.app import create_app
from backend.auth import service
from backend.db import session_factory
from backend.settings import load_settings
from backend.types import utcnow
from tests.integration.api.conftest import Api
from tests.support.world import PASSWORD


@pytest.fixture
def limits(api: Api) -> Iterator[Api]:
    """The default limits (5 per account, 30 per address, 15 min), restored after the test."""
    s = api.settings
    saved = (s.auth_account_max_failures, s.auth_address_max_failures, s.auth_lockout_seconds)
    yield api
    s.auth_account_max_failures, s.auth_address_max_failures, s.auth_lockout_seconds = saved


async def _login(api: Api, username: str, password: str) -> httpx.Response:
    return await api.client.post(
        "/api/auth/login", json={"username": username, "password": password}
    )


async def test_five_wrong_passwords_lock_the_account_with_429_and_retry_after(
    limits: Api,
) -> None:
    api = limits
    statuses = [(await _login(api, "op", f"wrong-{i}")).status_code for i in range(4)]
    assert statuses == [401, 401, 401, 401]
    fifth = await _login(api, "op", "wrong-5")
    assert fifth.status_code == 429
    assert fifth.headers["retry-after"] == str(api.settings.auth_lockout_seconds)
    assert fifth.json()["code"] == "error.locked"
    # locked: the right password is refused too, and the next attempt still says how long
    right = await _login(api, "op", PASSWORD)
    assert right.status_code == 429
    assert 0 < int(right.headers["retry-after"]) <= api.settings.auth_lockout_seconds
    # another account from the same address is not locked by it
    assert (await _login(api, "sup", PASSWORD)).status_code == 200


async def test_an_unknown_username_is_throttled_like_a_real_one(limits: Api) -> None:
    api = limits
    answers = [(await _login(api, "nobody", "x")).status_code for _ in range(5)]
    assert answers == [401, 401, 401, 401, 429]


async def test_the_lockout_ends_after_its_time_on_an_injected_clock(limits: Api) -> None:
    api = limits
    t0 = utcnow()
    lockout = timedelta(seconds=api.settings.auth_lockout_seconds)
    async with session_factory(api.engine)() as s:

        async def attempt(password: str, at: timedelta) -> service.Issued:
            return await service.login(
                s, api.settings, "op", password, address="10.0.0.7", now=t0 + at
            )

        for i in range(4):
            with pytest.raises(service.AuthError):
                await attempt(f"wrong-{i}", timedelta(seconds=i))
        with pytest.raises(service.Locked) as locked:
            await attempt("wrong-4", timedelta(seconds=4))
        assert locked.value.retry_after == api.settings.auth_lockout_seconds
        with pytest.raises(service.Locked) as still:
            await attempt(PASSWORD, timedelta(seconds=4) + lockout - timedelta(seconds=1))
        assert still.value.retry_after == 1
        issued = await attempt(PASSWORD, timedelta(seconds=4) + lockout)
        assert issued.access_token
        # and the count starts afresh: one more mistake is a 401, not a lock
        with pytest.raises(service.AuthError):
            await attempt("wrong-again", timedelta(seconds=5) + lockout)


async def test_failures_older_than_the_window_are_forgotten(limits: Api) -> None:
    api = limits
    t0 = utcnow()
    window = timedelta(seconds=api.settings.auth_failure_window_seconds)
    async with session_factory(api.engine)() as s:
        for i in range(8):  # two per window: never five within one
            at = t0 + (window / 2 + timedelta(seconds=1)) * i
            with pytest.raises(service.AuthError):
                await service.login(s, api.settings, "op", "wrong", address="10.0.0.8", now=at)


async def test_a_successful_login_clears_the_accounts_failures(limits: Api) -> None:
    api = limits
    for _ in range(4):
        assert (await _login(api, "op", "wrong")).status_code == 401
    assert (await _login(api, "op", PASSWORD)).status_code == 200
    for _ in range(4):
        assert (await _login(api, "op", "wrong")).status_code == 401


async def test_failures_from_one_address_over_many_accounts_lock_the_address(
    limits: Api,
) -> None:
    api = limits
    api.settings.auth_address_max_failures = 6
    names = ["alice", "bob", "insp1", "insp2", "sup", "op"]
    answers = [(await _login(api, n, "wrong")).status_code for n in names]
    assert answers == [401, 401, 401, 401, 401, 429]
    # the address is locked: even a right password of an untouched account waits
    r = await _login(api, "admin", PASSWORD)
    assert r.status_code == 429
    assert int(r.headers["retry-after"]) > 0


async def test_parallel_guesses_cannot_overrun_the_limit(limits: Api) -> None:
    api = limits
    answers = await asyncio.gather(*(_login(api, "op", f"guess-{i}") for i in range(20)))
    statuses = sorted(a.status_code for a in answers)
    # each attempt is counted before its hash is checked: 4 wrong answers, then locked
    assert statuses == [401] * 4 + [429] * 16


async def test_two_api_replicas_share_the_counts(limits: Api, tmp_path: Path) -> None:
    api = limits
    settings = load_settings(
        env={}, database_url=api.settings.database_url, data_dir=str(tmp_path), ingest=False,
        auth_require_totp=False,
    )  # fmt: skip
    async with AsyncTestClient(create_app(settings)) as replica:

        async def there(password: str) -> int:
            body = {"username": "op", "password": password}
            return (await replica.post("/api/auth/login", json=body)).status_code

        here = [(await _login(api, "op", "wrong")).status_code for _ in range(2)]
        assert [*here, await there("wrong"), await there("wrong")] == [401] * 4
        assert await there("wrong") == 429  # the fifth failure, counted over both
        assert (await _login(api, "op", PASSWORD)).status_code == 429
