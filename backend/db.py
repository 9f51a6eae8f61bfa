"""Database engine, sessions and the declarative base shared by every capability's models."""

from __future__ import annotations

import json
from collections.abc import Collection
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    MetaData,
    String,
    any_,
    bindparam,
    event,
    func,
    literal_column,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase

from backend.system.files import private_sqlite

# Stable constraint names, so that Alembic migrations are the same on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An async engine; SQLite gets WAL, foreign keys and a busy timeout on every connection."""
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:" and not database.startswith("file:"):
            private_sqlite(Path(database))  # 0600: customers' personal data (docs/security.md)
        engine = create_async_engine(url, **kwargs)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")  # durable at checkpoints; WAL keeps commits
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=10000")
            cur.close()

        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 10)
    kwargs.setdefault("pool_pre_ping", True)
    return create_async_engine(url, **kwargs)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def among(
    dialect: str, column: Any, keys: Collection[int] | Collection[str]
) -> ColumnElement[bool]:
    """``column IN keys`` as one bound parameter: the statement reads the same whatever
    the count, so SQLAlchemy compiles it once and the driver prepares it once (asyncpg's and
    sqlite3's statement caches), where an ``IN`` list of a thousand ids is rendered a thousand
    placeholders long and prepared again for every new length. ``= ANY(array)`` on PostgreSQL,
    ``IN (SELECT value FROM json_each(…))`` on SQLite. ``dialect``: the bind's dialect name."""
    items = list(keys)
    if dialect == "postgresql":
        kind = column.type if isinstance(column.type, (Integer, String)) else None
        if kind is None:
            kind = BigInteger() if items and isinstance(items[0], int) else String()
        return column == any_(bindparam(None, items, type_=ARRAY(kind)))  # type: ignore[no-any-return]
    values = func.json_each(bindparam(None, json.dumps(items), type_=String()))
    return column.in_(select(literal_column("value")).select_from(values))  # type: ignore[no-any-return]
