"""HTTP limits before decoding: a body too large is 413, one nested too deep or not UTF-8 is
400 with a message naming the limit, and no body whatever makes the API answer 5xx."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar.testing import TestClient
from litestar.types import Message, Receive, Scope, Send

from backend.app import create_app
from backend.db import create_engine
from backend.settings import load_settings
from backend.system.limits import MAX_BODY_BYTES, body_limits
from tests.integration.api.conftest import Api
from tests.support.world import PASSWORD, build_world


def deep(depth: int) -> bytes:
    return b'{"username": "alice", "password": ' + b"[" * depth + b"]" * depth + b"}"


async def test_a_deeply_nested_login_body_is_a_400_naming_the_limit_not_a_500(api: Api) -> None:
    r = await api.client.post(
        "/api/auth/login", content=deep(100_000), headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 400
    assert r.json() == {
        "status_code": 400,
        "code": "error.body_too_deep",
        "detail": "request body nested deeper than the limit of 32 levels",
        "field": None,
        "params": {"limit": 32},
    }


async def test_an_invalid_utf8_body_is_a_400_naming_the_byte(api: Api) -> None:
    body = b'{"username": "al\xffice", "password": "x"}'
    r = await api.client.post(
        "/api/auth/login", content=body, headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 400
    assert r.json()["detail"] == "request body is not valid UTF-8 (byte 16)"
    assert (r.json()["code"], r.json()["params"]) == ("error.body_not_utf8", {"byte": 16})


async def test_a_body_over_the_declared_size_limit_is_a_413(api: Api) -> None:
    big = b'{"username": "' + b"a" * MAX_BODY_BYTES + b'", "password": "x"}'
    r = await api.client.post(
        "/api/auth/login", content=big, headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 413
    assert r.json()["detail"] == "request body is larger than the limit of 1048576 bytes"
    assert r.json()["code"] == "error.body_too_large"


async def test_a_streamed_body_without_a_length_is_cut_off_at_the_limit() -> None:
    reached: list[bool] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        reached.append(True)

    sent_chunks = 0

    async def receive() -> Message:
        nonlocal sent_chunks
        sent_chunks += 1
        return {"type": "http.request", "body": b" " * 65_536, "more_body": True}  # endless

    answers: list[Message] = []

    async def send(message: Message) -> None:
        answers.append(message)

    scope = {"type": "http", "method": "POST", "headers": [(b"content-type", b"application/json")]}
    await body_limits(app)(scope, receive, send)  # type: ignore[arg-type]
    assert answers[0]["status"] == 413
    assert reached == []
    assert sent_chunks == MAX_BODY_BYTES // 65_536 + 1  # read no further than the limit


async def test_a_good_body_still_reaches_its_handler_after_the_checks(api: Api) -> None:
    r = await api.client.post("/api/auth/login", json={"username": "alice", "password": PASSWORD})
    assert r.status_code == 200
    headers = await api.login("op")
    r = await api.client.post(
        "/api/commands", json={"meter_pk": api.world.alice_meter, "kind": "read_now",
                               "reason": "nested [[[{{{ in a string is fine"},
        headers=headers,
    )  # fmt: skip
    assert r.status_code == 201, r.text


@pytest.fixture(scope="module")
def sync_client(
    _migrated_sqlite: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:  # type: ignore[type-arg]
    from argon2 import PasswordHasher

    from backend.auth import passwords

    original = passwords._hasher
    passwords._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    directory = tmp_path_factory.mktemp("body-fuzz")
    shutil.copy(_migrated_sqlite, directory / "fuzz.db")
    url = f"sqlite+aiosqlite:///{directory / 'fuzz.db'}"

    async def world() -> None:
        engine = create_engine(url)
        await build_world(engine)
        await engine.dispose()

    asyncio.run(world())
    settings_ = load_settings(env={}, database_url=url, data_dir=str(directory), ingest=False,
                              prepaid_sweep_seconds=0, prepaid_notify_seconds=0,
                              idempotency_purge_hours=0, auth_require_totp=False)  # fmt: skip
    try:
        with TestClient(create_app(settings_)) as client:
            yield client
    finally:
        passwords._hasher = original


bodies = st.one_of(
    st.binary(max_size=400),
    st.builds(lambda n, tail: b"[" * n + tail, st.integers(0, 3_000), st.binary(max_size=40)),
    st.builds(lambda n, tail: b'{"a":' * n + tail, st.integers(0, 3_000), st.binary(max_size=40)),
    st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=bodies, path=st.sampled_from(["/api/auth/login", "/api/auth/refresh"]))
def test_no_body_whatever_makes_an_unauthenticated_endpoint_answer_5xx(
    sync_client: TestClient,  # type: ignore[type-arg]
    body: bytes,
    path: str,
) -> None:
    r = sync_client.post(path, content=body, headers={"Content-Type": "application/json"})
    assert 400 <= r.status_code < 500, (r.status_code, r.text)


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=bodies)
def test_no_body_whatever_makes_an_operator_endpoint_answer_5xx(
    sync_client: TestClient,  # type: ignore[type-arg]
    body: bytes,
) -> None:
    token = sync_client.post("/api/auth/login", json={"username": "op", "password": PASSWORD})
    headers = {
        "Authorization": f"Bearer {token.json()['access_token']}",
        "Content-Type": "application/json",
    }
    r = sync_client.post("/api/commands", content=body, headers=headers)
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
