"""Login, token rotation with reuse detection, logout, user creation. No HTTP here."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts.models import Customer
from backend.auth.models import RefreshToken, Role, User
from backend.auth.passwords import hash_password, needs_rehash, verify_password
from backend.auth.schemas import TokenPair, UserCreate
from backend.auth.tokens import (
    hash_refresh_token,
    issue_access_token,
    new_family,
    new_refresh_token,
)
from backend.errors import ErrorCode as E
from backend.errors import Unauthorised
from backend.field.grids.models import Grid
from backend.settings import Settings
from backend.types import utcnow


class AuthError(Unauthorised):
    """Credentials or refresh token refused (401); the code says which."""


class UserError(ValueError):
    """A user cannot be created as asked; the message names the field."""


async def login(
    session: AsyncSession, settings: Settings, username: str, password: str
) -> TokenPair:
    user = await session.scalar(select(User).where(User.username == username))
    ok = verify_password(user.password_hash if user else None, password)
    if user is None or not ok or not user.active:
        raise AuthError(E.WRONG_CREDENTIALS, "wrong username or password")
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    pair = await _issue(session, settings, user, family=new_family(), now=utcnow())
    await session.commit()
    return pair


async def _issue(
    session: AsyncSession, settings: Settings, user: User, *, family: str, now: datetime
) -> TokenPair:
    access, lifetime = issue_access_token(settings, user_id=user.id, role=user.role, now=now)
    token, digest = new_refresh_token()
    session.add(
        RefreshToken(
            token_hash=digest,
            family=family,
            user_id=user.id,
            issued_at=now,
            expires_at=now + timedelta(days=settings.refresh_token_days),
        )
    )
    return TokenPair(access_token=access, refresh_token=token, expires_in=lifetime)


async def refresh(
    session: AsyncSession, settings: Settings, token: str, *, now: datetime | None = None
) -> TokenPair:
    """Rotate: the presented token is spent and a new pair returned.

    A token presented after it was spent is a stolen copy (or the thief's original): the whole
    family is revoked and both must log in again.
    """
    now = now or utcnow()
    row = await session.scalar(
        select(RefreshToken).where(RefreshToken.token_hash == hash_refresh_token(token))
    )
    if row is None or row.revoked_at is not None:
        raise AuthError(E.REFRESH_TOKEN_UNKNOWN, "refresh token unknown or revoked")
    if row.expires_at <= now:
        raise AuthError(E.REFRESH_TOKEN_EXPIRED, "refresh token expired")
    # conditional update: of two concurrent refreshes with the same token, one wins
    spent = await session.execute(
        update(RefreshToken)
        .where(RefreshToken.id == row.id, RefreshToken.used_at.is_(None))
        .values(used_at=now)
    )
    if spent.rowcount != 1:  # type: ignore[attr-defined]
        await revoke_family(session, row.family, now)
        await session.commit()
        raise AuthError(
            E.REFRESH_TOKEN_REUSED,
            "refresh token reuse detected: all sessions of this login are revoked",
        )
    user = await session.get(User, row.user_id)
    if user is None or not user.active:
        await session.rollback()
        raise AuthError(E.USER_INACTIVE, "user unknown or deactivated")
    pair = await _issue(session, settings, user, family=row.family, now=now)
    await session.commit()
    return pair


async def revoke_family(session: AsyncSession, family: str, now: datetime) -> None:
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.family == family, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )


async def logout(
    session: AsyncSession, user_id: int, token: str | None, *, all_sessions: bool
) -> None:
    now = utcnow()
    if all_sessions:
        await session.execute(
            update(RefreshToken)
            .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=now)
        )
    elif token is not None:
        row = await session.scalar(
            select(RefreshToken).where(
                RefreshToken.token_hash == hash_refresh_token(token),
                RefreshToken.user_id == user_id,  # nobody logs out someone else
            )
        )
        if row is not None:
            await revoke_family(session, row.family, now)
    await session.commit()


async def create_user(session: AsyncSession, data: UserCreate) -> User:
    if await session.scalar(select(User.id).where(User.username == data.username)) is not None:
        raise UserError(f"username: {data.username!r} exists already")
    customer_id = None
    if data.role == Role.CUSTOMER:
        if data.customer_number is None:
            raise UserError("customer: a customer-role user needs --customer NUMBER")
        customer_id = await session.scalar(
            select(Customer.id).where(Customer.number == data.customer_number)
        )
        if customer_id is None:
            raise UserError(f"customer: no customer with number {data.customer_number!r}")
    elif data.customer_number is not None:
        raise UserError("customer: only a customer-role user belongs to a customer")
    if data.grid_codes and data.role != Role.INSPECTOR:
        raise UserError("grid: only an inspector owns grids")
    user = User(
        username=data.username,
        password_hash=hash_password(data.password),
        role=data.role,
        display_name=data.display_name,
        customer_id=customer_id,
        active=True,
    )
    session.add(user)
    await session.flush()
    for code in data.grid_codes:
        grid = await session.scalar(select(Grid).where(Grid.code == code))
        if grid is None:
            raise UserError(f"grid: no grid with code {code!r}")
        grid.inspector_id = user.id
    await session.commit()
    return user
