"""Login throttling per account and per client address, kept in the database so that every API
replica sees the same counts (ASVS 2.2.1).

An attempt is counted *before* its password is checked (:func:`begin`), so a burst of parallel
guesses cannot overrun the limit while hashes are being computed; an attempt that turns out
good is taken back (:func:`succeeded`). When an account (or address) reaches its limit of failed
attempts within the window, it is locked for the lockout time: every attempt is refused with
429 and ``Retry-After`` — the right password too — and the hash is not even computed. The count
starts afresh when the lock ends. A successful login clears the account's count; the address's
count only loses that one attempt (many people may share an address behind a NAT).

Each step is one conditional ``UPDATE … RETURNING`` (or the first ``INSERT``) and commits at
once, so the counts are right across processes on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.models import LoginThrottle
from backend.settings import Settings


class Locked(Exception):
    """Too many failed attempts: refused until ``retry_after`` seconds have passed."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed attempts: try again in {retry_after} s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class Key:
    key: str
    limit: int
    clears_on_success: bool  # the account: yes; an address shared by many people: no


@dataclass(frozen=True)
class Rules:
    window: timedelta
    lockout: timedelta

    @classmethod
    def of(cls, settings: Settings) -> Rules:
        return cls(
            timedelta(seconds=settings.auth_failure_window_seconds),
            timedelta(seconds=settings.auth_lockout_seconds),
        )


def keys_for(settings: Settings, username: str, address: str) -> tuple[Key, Key]:
    return (
        Key(f"user:{username.casefold()}"[:128], settings.auth_account_max_failures, True),
        Key(f"addr:{address}"[:128], settings.auth_address_max_failures, False),
    )


def _retry_after(until: datetime, now: datetime) -> int:
    return max(1, math.ceil((until - now).total_seconds()))


async def _count(session: AsyncSession, key: Key, rules: Rules, now: datetime) -> int:
    """Count one attempt; return the attempts in the window, or raise :class:`Locked`."""
    row = LoginThrottle
    stale = row.window_start <= now - rules.window
    counted = (
        update(row)
        .where(row.key == key.key, or_(row.locked_until.is_(None), row.locked_until <= now))
        .values(
            failures=case((stale, 1), else_=row.failures + 1),
            window_start=case((stale, now), else_=row.window_start),
            locked_until=None,
        )
        .returning(row.failures)
    )
    for _ in range(2):
        n = (await session.execute(counted)).scalar_one_or_none()
        if n is not None:
            return n
        until = await session.scalar(select(row.locked_until).where(row.key == key.key))
        if until is not None and until > now:
            raise Locked(_retry_after(until, now))
        try:
            async with session.begin_nested():
                session.add(LoginThrottle(key=key.key, failures=1, window_start=now))
            return 1
        except IntegrityError:  # another replica inserted it first: count on its row
            continue
    raise RuntimeError(f"login throttle row {key.key} neither updated nor inserted")


async def _lock(session: AsyncSession, key: Key, rules: Rules, now: datetime) -> None:
    await session.execute(
        update(LoginThrottle)
        .where(LoginThrottle.key == key.key)
        .values(locked_until=now + rules.lockout, failures=0, window_start=now + rules.lockout)
    )


async def begin(
    session: AsyncSession, keys: tuple[Key, ...], rules: Rules, now: datetime
) -> dict[str, int]:
    """Count an attempt against every key (committed at once); raise :class:`Locked` if one is
    locked or already spent its attempts."""
    counts: dict[str, int] = {}
    try:
        for key in keys:
            counts[key.key] = n = await _count(session, key, rules, now)
            if n > key.limit:  # attempts in flight beyond the limit: that is an attack
                await _lock(session, key, rules, now)
                raise Locked(_retry_after(now + rules.lockout, now))
    finally:
        await session.commit()
    return counts


async def failed(
    session: AsyncSession,
    keys: tuple[Key, ...],
    counts: dict[str, int],
    rules: Rules,
    now: datetime,
) -> int | None:
    """The attempt failed: lock the keys that reached their limit. Returns the Retry-After of
    the lock this failure set, if it set one."""
    locked: int | None = None
    for key in keys:
        if counts.get(key.key, 0) >= key.limit:
            await _lock(session, key, rules, now)
            locked = _retry_after(now + rules.lockout, now)
    await session.commit()
    return locked


async def succeeded(session: AsyncSession, keys: tuple[Key, ...], *, clear: bool = True) -> None:
    """The attempt was good: take it back; with ``clear``, the account's count starts afresh."""
    for key in keys:
        row = LoginThrottle
        value = (
            0
            if clear and key.clears_on_success
            else case((row.failures > 0, row.failures - 1), else_=0)
        )
        await session.execute(update(row).where(row.key == key.key).values(failures=value))
    await session.commit()
