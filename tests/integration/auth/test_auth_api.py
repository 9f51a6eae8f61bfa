"""Login, tokens, rotation with reuse detection, logout, deny-by-default and bad bodies."""

from __future__ import annotations

from datetime import timedelta

import pytest
from litestar import Litestar, get
from litestar.testing import AsyncTestClient
from sqlalchemy import update

from backend.auth.guards import configure_auth
from backend.auth.models import User
from backend.auth.service import AuthError, refresh
from backend.auth.tokens import issue_access_token
from backend.db import session_factory
from backend.types import utcnow
from tests.integration.api.conftest import Api
from tests.support.world import PASSWORD


async def test_login_returns_tokens_and_me_tells_who_i_am(api: Api) -> None:
    r = await api.client.post("/api/auth/login", json={"username": "alice", "password": PASSWORD})
    assert r.status_code == 200
    body = r.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == api.settings.access_token_minutes * 60
    me = await api.client.get(
        "/api/me", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert me.status_code == 200
    assert me.json()["username"] == "alice"
    assert me.json()["role"] == "customer"
    assert me.json()["customer_id"] == api.world.alice


async def test_inspector_me_lists_the_grids_they_own(api: Api) -> None:
    me = await api.client.get("/api/me", headers=await api.login("insp1"))
    assert me.json()["grid_ids"] == [api.world.grid1]


@pytest.mark.parametrize(("username", "password"), [("alice", "wrong"), ("nobody", PASSWORD)])
async def test_wrong_username_or_password_is_401_with_one_message(
    api: Api, username: str, password: str
) -> None:
    r = await api.client.post("/api/auth/login", json={"username": username, "password": password})
    assert r.status_code == 401
    assert r.json()["detail"] == "wrong username or password"


async def test_request_without_a_token_is_401(api: Api) -> None:
    r = await api.client.get("/api/meters")
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"


async def test_garbage_token_is_401(api: Api) -> None:
    r = await api.client.get("/api/meters", headers={"Authorization": "Bearer not-a-jwt"})
    assert r.status_code == 401


async def test_expired_access_token_is_401(api: Api) -> None:
    past = utcnow() - timedelta(minutes=api.settings.access_token_minutes + 1)
    token, _ = issue_access_token(
        api.settings, user_id=api.world.users["op"], role="operator", now=past
    )
    r = await api.client.get("/api/meters", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401
    assert "expired" in r.json()["detail"]


async def test_token_signed_with_another_key_is_401(api: Api) -> None:
    other = api.settings.__class__(data_dir=api.settings.data_dir, jwt_secret="x" * 48)
    token, _ = issue_access_token(other, user_id=api.world.users["op"], role="admin", now=utcnow())
    r = await api.client.get("/api/meters", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401


async def test_deactivated_user_is_refused_at_once(api: Api) -> None:
    headers = await api.login("op")
    async with session_factory(api.engine)() as s:
        await s.execute(update(User).where(User.username == "op").values(active=False))
        await s.commit()
    r = await api.client.get("/api/meters", headers=headers)
    assert r.status_code == 401


async def test_refresh_rotates_and_reusing_a_spent_token_revokes_the_login(api: Api) -> None:
    first = (
        await api.client.post("/api/auth/login", json={"username": "op", "password": PASSWORD})
    ).json()
    r = await api.client.post("/api/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert r.status_code == 200
    second = r.json()
    assert second["refresh_token"] != first["refresh_token"]
    me = await api.client.get(
        "/api/me", headers={"Authorization": f"Bearer {second['access_token']}"}
    )
    assert me.status_code == 200
    # the first token was spent: presenting it again is theft, and kills the whole family
    reuse = await api.client.post(
        "/api/auth/refresh", json={"refresh_token": first["refresh_token"]}
    )
    assert reuse.status_code == 401
    assert "reuse" in reuse.json()["detail"]
    after = await api.client.post(
        "/api/auth/refresh", json={"refresh_token": second["refresh_token"]}
    )
    assert after.status_code == 401


async def test_logout_revokes_the_refresh_token(api: Api) -> None:
    pair = (
        await api.client.post("/api/auth/login", json={"username": "bob", "password": PASSWORD})
    ).json()
    headers = {"Authorization": f"Bearer {pair['access_token']}"}
    r = await api.client.post(
        "/api/auth/logout", json={"refresh_token": pair["refresh_token"]}, headers=headers
    )
    assert r.status_code == 204
    again = await api.client.post(
        "/api/auth/refresh", json={"refresh_token": pair["refresh_token"]}
    )
    assert again.status_code == 401


async def test_unknown_refresh_token_is_401(api: Api) -> None:
    r = await api.client.post("/api/auth/refresh", json={"refresh_token": "z" * 43})
    assert r.status_code == 401


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"username": "alice"}, "password"),
        ({"username": "alice", "password": PASSWORD, "role": "admin"}, "role"),
        ({"username": "a" * 65, "password": PASSWORD}, "username"),
        ({"username": 7, "password": PASSWORD}, "username"),
    ],
)
async def test_bad_login_body_is_400_naming_the_field(api: Api, body: dict, field: str) -> None:
    r = await api.client.post("/api/auth/login", json=body)
    assert r.status_code == 400
    assert r.json()["extra"][0]["key"] == field
    assert r.json()["extra"][0]["source"] == "body"


async def test_an_app_with_an_unguarded_route_refuses_to_start() -> None:
    @get("/api/forgotten")
    async def forgotten() -> str:
        return "secret"

    app = Litestar([forgotten], on_app_init=[configure_auth])
    with pytest.RaisesGroup(pytest.RaisesExc(RuntimeError, match="/api/forgotten")):
        async with AsyncTestClient(app):
            pass


async def test_an_expired_refresh_token_is_refused(api: Api) -> None:
    pair = (
        await api.client.post("/api/auth/login", json={"username": "op", "password": PASSWORD})
    ).json()
    later = utcnow() + timedelta(days=api.settings.refresh_token_days, seconds=1)
    async with session_factory(api.engine)() as s:
        with pytest.raises(AuthError, match="expired"):
            await refresh(s, api.settings, pair["refresh_token"], now=later)
