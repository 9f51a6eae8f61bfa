"""Login, tokens, rotation with reuse detection, logout, deny-by-default and bad bodies."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from litestar import Litestar, get
from litestar.testing import AsyncTestClient
from sqlalchemy import update

from backend.auth.guards import configure_auth
from backend.auth.models import User
from backend.auth.routes import REFRESH_COOKIE
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


def _cookie(r: Any) -> str:
    """The refresh token as the server set it (httpOnly cookie), never in the body."""
    value = r.cookies.get(REFRESH_COOKIE)
    assert value, r.headers.get("set-cookie")
    return str(value)


async def refresh_with(api: Api, token: str) -> Any:
    """POST /api/auth/refresh presenting exactly this refresh-token cookie."""
    api.client.cookies.clear()
    api.client.cookies.set(REFRESH_COOKIE, token)
    return await api.client.post("/api/auth/refresh")


async def test_refresh_rotates_and_reusing_a_spent_token_revokes_the_login(api: Api) -> None:
    login = await api.client.post("/api/auth/login", json={"username": "op", "password": PASSWORD})
    first = _cookie(login)
    r = await refresh_with(api, first)
    assert r.status_code == 200
    second = _cookie(r)
    assert second != first
    me = await api.client.get(
        "/api/me", headers={"Authorization": f"Bearer {r.json()['access_token']}"}
    )
    assert me.status_code == 200
    # the first token was spent: presenting it again is theft, and kills the whole family
    reuse = await refresh_with(api, first)
    assert reuse.status_code == 401
    assert "reuse" in reuse.json()["detail"]
    after = await refresh_with(api, second)
    assert after.status_code == 401


async def test_reusing_a_spent_refresh_token_also_revokes_the_access_tokens(api: Api) -> None:
    login = await api.client.post("/api/auth/login", json={"username": "op", "password": PASSWORD})
    stolen = _cookie(login)
    rotated = await refresh_with(api, stolen)
    victim = {"Authorization": f"Bearer {rotated.json()['access_token']}"}
    assert (await api.client.get("/api/me", headers=victim)).status_code == 200
    reuse = await refresh_with(api, stolen)
    assert reuse.status_code == 401
    r = await api.client.get("/api/me", headers=victim)
    assert r.status_code == 401


async def test_logout_revokes_the_refresh_token_and_the_access_token(api: Api) -> None:
    login = await api.client.post("/api/auth/login", json={"username": "bob", "password": PASSWORD})
    token = _cookie(login)
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    r = await api.client.post("/api/auth/logout", json={}, headers=headers)
    assert r.status_code == 204
    assert (
        'meterline_refresh=""' in r.headers["set-cookie"] or "Max-Age=0" in r.headers["set-cookie"]
    )
    assert (await api.client.get("/api/me", headers=headers)).status_code == 401
    again = await refresh_with(api, token)
    assert again.status_code == 401


async def test_logout_of_all_sessions_ends_every_login_and_access_token(api: Api) -> None:
    phone = await api.client.post("/api/auth/login", json={"username": "op", "password": PASSWORD})
    phone_refresh = _cookie(phone)
    desk = await api.client.post("/api/auth/login", json={"username": "op", "password": PASSWORD})
    desk_headers = {"Authorization": f"Bearer {desk.json()['access_token']}"}
    phone_headers = {"Authorization": f"Bearer {phone.json()['access_token']}"}
    r = await api.client.post("/api/auth/logout", json={"all_sessions": True}, headers=desk_headers)
    assert r.status_code == 204
    assert (await api.client.get("/api/me", headers=phone_headers)).status_code == 401
    assert (await api.client.get("/api/me", headers=desk_headers)).status_code == 401
    again = await refresh_with(api, phone_refresh)
    assert again.status_code == 401


async def test_login_sets_the_refresh_token_as_an_httponly_strict_cookie_on_the_auth_path(
    api: Api,
) -> None:
    r = await api.client.post("/api/auth/login", json={"username": "bob", "password": PASSWORD})
    assert r.status_code == 200
    assert "refresh_token" not in r.json()
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{REFRESH_COOKIE}=")
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie or "SameSite=strict" in cookie
    assert "Path=/api/auth" in cookie
    assert "Secure" not in cookie  # plain HTTP (the demo on the loopback): no Secure flag


async def test_over_tls_the_refresh_cookie_is_secure(api: Api) -> None:
    async with AsyncTestClient(api.client.app, base_url="https://meterline.example") as tls:
        r = await tls.post("/api/auth/login", json={"username": "bob", "password": PASSWORD})
    assert r.status_code == 200
    assert "Secure" in r.headers["set-cookie"]


async def test_unknown_refresh_token_is_401(api: Api) -> None:
    r = await refresh_with(api, "z" * 43)
    assert r.status_code == 401


async def test_refresh_without_a_cookie_is_401(api: Api) -> None:
    api.client.cookies.clear()
    r = await api.client.post("/api/auth/refresh")
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
    login = await api.client.post("/api/auth/login", json={"username": "op", "password": PASSWORD})
    later = utcnow() + timedelta(days=api.settings.refresh_token_days, seconds=1)
    async with session_factory(api.engine)() as s:
        with pytest.raises(AuthError, match="expired"):
            await refresh(s, api.settings, _cookie(login), now=later)
