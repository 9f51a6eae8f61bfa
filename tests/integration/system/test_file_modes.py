"""Files holding personal data or secrets are the service user's alone: the SQLite database, its
WAL and shared-memory files, the JWT secret and the register photos 0600, their directories
0700 — whatever the umask, and narrowed where an older version left them readable."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, text

from backend.auth.models import Role, User
from backend.db import create_engine, session_factory
from backend.field.readings import photos
from backend.migrate import upgrade
from backend.settings import load_settings

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def modes(directory: Path) -> dict[str, int]:
    return {p.name: mode(p) for p in directory.iterdir()}


@pytest.fixture(autouse=True)
def _usual_umask() -> Iterator[None]:
    """The umask of most systems: files 0644 and directories 0755 unless we say otherwise."""
    old = os.umask(0o022)
    yield
    os.umask(old)


async def test_the_sqlite_database_and_its_wal_and_shm_are_created_0600(tmp_path: Path) -> None:
    data = tmp_path / "var"
    url = f"sqlite+aiosqlite:///{data / 'meterline.db'}"
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (x INTEGER)"))
            await conn.execute(text("INSERT INTO t VALUES (1)"))
        async with engine.connect() as conn:  # WAL and SHM exist while a connection is open
            await conn.execute(text("SELECT x FROM t"))
            files = modes(data)
    finally:
        await engine.dispose()
    assert files == {"meterline.db": 0o600, "meterline.db-wal": 0o600, "meterline.db-shm": 0o600}
    assert mode(data) == 0o700


async def test_a_database_an_older_version_left_readable_is_narrowed(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    upgrade(f"sqlite+aiosqlite:///{db}")
    os.chmod(db, 0o644)
    engine = create_engine(f"sqlite+aiosqlite:///{db}")
    try:
        async with session_factory(engine)() as s:
            assert await s.scalar(select(User.id)) is None
            s.add(User(username="u", password_hash="!", role=Role.ADMIN))
            await s.commit()
            found = modes(tmp_path)
    finally:
        await engine.dispose()
    assert found == {"old.db": 0o600, "old.db-wal": 0o600, "old.db-shm": 0o600}


def test_the_generated_jwt_secret_is_0600_in_a_0700_data_directory(tmp_path: Path) -> None:
    settings = load_settings(env={}, data_dir=str(tmp_path / "data"))
    settings.ensure_secret()
    assert mode(tmp_path / "data" / "jwt-secret") == 0o600
    assert mode(tmp_path / "data") == 0o700


def test_a_jwt_secret_left_readable_is_narrowed_when_read(tmp_path: Path) -> None:
    (tmp_path / "jwt-secret").write_text("s" * 64)
    (tmp_path / "jwt-secret").chmod(0o644)
    assert load_settings(env={}, data_dir=str(tmp_path)).ensure_secret() == "s" * 64
    assert mode(tmp_path / "jwt-secret") == 0o600


def test_register_photos_are_0600_in_0700_directories(tmp_path: Path) -> None:
    path = photos.photo_path(tmp_path, "ab" + "0" * 62)
    photos._write_atomically(path, PNG)
    assert path.read_bytes() == PNG
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700
    assert mode(tmp_path / "photos") == 0o700
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left
