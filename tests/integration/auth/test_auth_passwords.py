"""Changing one's password: the current one is needed, the rules apply (400 naming the rule),
and every other login and access token of the user ends."""

from __future__ import annotations

from tests.integration.api.conftest import Api
from tests.support.world import PASSWORD


async def test_changing_the_password_ends_other_logins_and_keeps_this_one(api: Api) -> None:
    other = await api.login("op")
    mine = await api.login("op")
    r = await api.client.post(
        "/api/auth/password",
        json={"current_password": PASSWORD, "new_password": "a much longer passphrase"},
        headers=mine,
    )
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    fresh = {"Authorization": f"Bearer {r.json()['access_token']}"}
    assert (await api.client.get("/api/me", headers=fresh)).status_code == 200
    assert (await api.client.get("/api/me", headers=other)).status_code == 401
    assert (await api.client.get("/api/me", headers=mine)).status_code == 401
    old = await api.client.post("/api/auth/login", json={"username": "op", "password": PASSWORD})
    assert old.status_code == 401
    new = await api.client.post(
        "/api/auth/login", json={"username": "op", "password": "a much longer passphrase"}
    )
    assert new.status_code == 200


async def test_an_operator_cannot_change_the_password_to_12345678(api: Api) -> None:
    r = await api.client.post(
        "/api/auth/password",
        json={"current_password": PASSWORD, "new_password": "12345678"},
        headers=await api.login("op"),
    )
    assert r.status_code == 400
    assert r.json()["extra"][0]["key"] == "new_password"
    assert r.json()["extra"][0]["message"].startswith("too_short:")


async def test_a_customer_cannot_choose_a_common_password(api: Api) -> None:
    r = await api.client.post(
        "/api/auth/password",
        json={"current_password": PASSWORD, "new_password": "iloveyou1314"},
        headers=await api.login("alice"),
    )
    assert r.status_code == 400
    assert r.json()["extra"][0]["message"].startswith("common:")


async def test_a_wrong_current_password_changes_nothing_and_counts_as_a_failure(api: Api) -> None:
    headers = await api.login("bob")
    for _ in range(4):
        r = await api.client.post(
            "/api/auth/password",
            json={"current_password": "not-it", "new_password": "a much longer passphrase"},
            headers=headers,
        )
        assert r.status_code == 400
        assert r.json()["extra"][0]["key"] == "current_password"
    # a stolen access token does not give unlimited guesses at the password
    r = await api.client.post(
        "/api/auth/password",
        json={"current_password": "not-it", "new_password": "a much longer passphrase"},
        headers=headers,
    )
    assert r.status_code == 429
    assert int(r.headers["retry-after"]) > 0
