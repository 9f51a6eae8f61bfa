"""The per-process cache of callers: a valid token costs no database read, and revocation
still holds (at once on this process, within the cache time on another)."""

from __future__ import annotations

from sqlalchemy import update

from backend.auth.guards import CallerCache
from backend.auth.models import User
from backend.db import session_factory
from tests.integration.api.conftest import Api

TTL = 5.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _cache(api: Api, clock: Clock) -> CallerCache:
    state = api.client.app.state
    cache = CallerCache(TTL, clock=clock, owner=state.sessions)
    state.caller_cache = cache
    return cache


async def _elsewhere(api: Api, **values: object) -> None:
    """A change made by another process: straight on a connection, no session of this one."""
    async with api.engine.begin() as conn:
        await conn.execute(update(User).where(User.username == "bob").values(**values))


async def test_a_token_checked_again_within_the_cache_time_is_not_read_from_the_database(
    api: Api,
) -> None:
    cache = _cache(api, Clock())
    headers = await api.login("bob")
    assert (await api.client.get("/api/me", headers=headers)).status_code == 200
    misses = cache.misses
    for _ in range(3):
        assert (await api.client.get("/api/me", headers=headers)).status_code == 200
    assert cache.misses == misses
    assert cache.hits == 3


async def test_a_token_revoked_by_another_process_is_refused_once_the_cache_time_is_over(
    api: Api,
) -> None:
    clock = Clock()
    _cache(api, clock)
    headers = await api.login("bob")
    assert (await api.client.get("/api/me", headers=headers)).status_code == 200
    await _elsewhere(api, token_version=User.token_version + 1)  # logged out on another worker
    clock.now += TTL - 0.5
    assert (await api.client.get("/api/me", headers=headers)).status_code == 200  # cached
    clock.now += 0.5
    assert (await api.client.get("/api/me", headers=headers)).status_code == 401


async def test_a_user_deactivated_by_another_process_is_refused_once_the_cache_time_is_over(
    api: Api,
) -> None:
    clock = Clock()
    _cache(api, clock)
    headers = await api.login("bob")
    assert (await api.client.get("/api/me", headers=headers)).status_code == 200
    await _elsewhere(api, active=False)
    clock.now += TTL
    assert (await api.client.get("/api/me", headers=headers)).status_code == 401


async def test_a_logout_on_this_process_refuses_the_cached_token_at_once(api: Api) -> None:
    _cache(api, Clock())  # the clock never moves: only the logout can end the entry
    headers = await api.login("bob")
    assert (await api.client.get("/api/me", headers=headers)).status_code == 200
    assert (await api.client.post("/api/auth/logout", json={}, headers=headers)).status_code == 204
    assert (await api.client.get("/api/me", headers=headers)).status_code == 401


async def test_a_user_changed_through_this_process_is_read_again_at_once(api: Api) -> None:
    cache = _cache(api, Clock())
    headers = await api.login("bob")
    assert (await api.client.get("/api/me", headers=headers)).status_code == 200
    async with session_factory(api.engine)() as session:  # an ORM write of this process
        await session.execute(update(User).where(User.username == "bob").values(active=False))
        await session.commit()
    assert (await api.client.get("/api/me", headers=headers)).status_code == 401
    assert cache.hits == 0


def test_a_read_that_began_before_a_revocation_is_not_cached() -> None:
    from backend.auth.guards import Caller
    from backend.auth.models import Role

    cache = CallerCache(TTL, clock=Clock())
    caller = Caller(user_id=7, username="bob", role=Role.CUSTOMER, customer_id=3)
    begun = cache.begin()
    cache.forget(7)  # a logout committed while the user row was being read
    cache.put(7, 0, caller, begun)
    assert cache.get(7, 0) is None
    cache.put(7, 1, caller, cache.begin())
    assert cache.get(7, 1) == caller
    assert cache.get(7, 0) is None  # another token version: read again
