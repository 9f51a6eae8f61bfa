"""`meterline users create`: password from stdin, roles, customer and grid links."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from backend.auth.models import Role, User
from backend.auth.passwords import verify_password
from backend.cli import main
from backend.db import session_factory
from backend.field.grids.models import Grid
from tests.support.world import build_world

pytestmark = pytest.mark.usefixtures("cheap_argon2")


@pytest.fixture
def cli_db(database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    monkeypatch.setenv("METERLINE_DATABASE_URL", database_url)
    monkeypatch.setenv("METERLINE_DATA_DIR", str(tmp_path))
    return database_url


async def users_create(monkeypatch: pytest.MonkeyPatch, password: str, *args: str) -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(password + "\n"))
    return await asyncio.to_thread(main, ["users", "create", "--password-stdin", *args])


async def test_users_create_makes_an_operator_who_can_log_in(
    cli_db: str, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = await users_create(
        monkeypatch, "s3cret-pass", "--username", "zhang", "--role", "operator"
    )
    assert code == 0
    async with session_factory(engine)() as s:
        user = await s.scalar(select(User).where(User.username == "zhang"))
    assert user is not None
    assert user.role == Role.OPERATOR
    assert verify_password(user.password_hash, "s3cret-pass")
    assert user.password_hash != "s3cret-pass"


async def test_users_create_links_a_customer_and_an_inspectors_grid(
    cli_db: str, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = await build_world(engine)
    assert await users_create(monkeypatch, "pw-12345678", "--username", "c1", "--role",
                              "customer", "--customer", "C001") == 0  # fmt: skip
    assert await users_create(monkeypatch, "pw-12345678", "--username", "i9", "--role",
                              "inspector", "--grid", "G2") == 0  # fmt: skip
    async with session_factory(engine)() as s:
        c1 = await s.scalar(select(User).where(User.username == "c1"))
        i9 = await s.scalar(select(User).where(User.username == "i9"))
        g2 = await s.get(Grid, w.grid2)
    assert c1 is not None
    assert c1.customer_id == w.alice
    assert i9 is not None
    assert g2 is not None
    assert g2.inspector_id == i9.id


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--username", "x1", "--role", "customer"], "customer: a customer-role user needs"),
        (["--username", "x2", "--role", "customer", "--customer", "NOPE"], "no customer"),
        (["--username", "x3", "--role", "operator", "--grid", "G1"], "grid: only an inspector"),
        (["--username", "bad name", "--role", "operator"], "username"),
    ],
)
async def test_users_create_refuses_bad_input_naming_the_field(
    cli_db: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    assert await users_create(monkeypatch, "pw-12345678", *args) == 2
    assert message in capsys.readouterr().err


async def test_users_create_refuses_a_short_password(
    cli_db: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await users_create(monkeypatch, "short", "--username", "x", "--role", "admin") == 2
    assert "password" in capsys.readouterr().err


async def test_users_create_refuses_12345678_for_an_operator(
    cli_db: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await users_create(monkeypatch, "12345678", "--username", "x", "--role", "operator") == 2
    assert "password: at least 10 characters" in capsys.readouterr().err


async def test_users_create_refuses_a_common_password_even_for_a_customer(
    cli_db: str,
    engine: AsyncEngine,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await build_world(engine)
    code = await users_create(
        monkeypatch, "qwertyuiop", "--username", "c9", "--role", "customer", "--customer", "C001"
    )
    assert code == 2
    assert "common passwords" in capsys.readouterr().err


async def _users(monkeypatch: pytest.MonkeyPatch, stdin: str, *args: str) -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin + "\n"))
    return await asyncio.to_thread(main, ["users", *args])


async def test_users_password_sets_a_new_password_under_the_rules_and_ends_every_login(
    cli_db: str,
    engine: AsyncEngine,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await build_world(engine)
    async with session_factory(engine)() as s:
        before = await s.scalar(select(User).where(User.username == "op"))
    assert before is not None
    refused = await _users(monkeypatch, "12345678", "password", "--username", "op",
                           "--password-stdin")  # fmt: skip
    assert refused == 2
    assert "at least 10" in capsys.readouterr().err
    ok = await _users(monkeypatch, "a-new-long-passphrase", "password", "--username", "op",
                      "--password-stdin")  # fmt: skip
    assert ok == 0
    async with session_factory(engine)() as s:
        after = await s.scalar(select(User).where(User.username == "op"))
    assert after is not None
    assert verify_password(after.password_hash, "a-new-long-passphrase")
    assert after.token_version == before.token_version + 1  # access tokens already out: dead


async def test_users_reset_totp_removes_a_lost_second_factor(
    cli_db: str, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime

    from sqlalchemy import update

    await build_world(engine)
    async with session_factory(engine)() as s:
        await s.execute(
            update(User)
            .where(User.username == "op")
            .values(totp_secret="JBSWY3DPEHPK3PXP", totp_confirmed_at=datetime.now(UTC))
        )
        await s.commit()
    assert await _users(monkeypatch, "", "reset-totp", "--username", "op") == 0
    async with session_factory(engine)() as s:
        op = await s.scalar(select(User).where(User.username == "op"))
    assert op is not None
    assert op.totp_secret is None
    assert op.totp_confirmed_at is None
