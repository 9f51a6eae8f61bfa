"""Alembic environment: runs migrations over the async engine (SQLite or PostgreSQL)."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from backend.db import create_engine
from backend.models import metadata

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _main() -> None:
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    async with engine.connect() as conn:
        await conn.run_sync(_run)
        await conn.commit()
    await engine.dispose()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=metadata)
    with context.begin_transaction():
        context.run_migrations()
else:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(_main())
    else:  # called from inside a running loop (tests): run in a fresh thread's loop
        import threading

        errors: list[BaseException] = []

        def _thread() -> None:
            try:
                asyncio.run(_main())
            except BaseException as exc:  # re-raised below in the caller's thread
                errors.append(exc)

        t = threading.Thread(target=_thread)
        t.start()
        t.join()
        if errors:
            raise errors[0]
