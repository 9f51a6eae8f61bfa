"""Login with throttling and a second factor, token rotation with reuse detection, logout,
password changes, TOTP enrolment, user creation. No HTTP here.

Every way to end a login also bumps the user's ``token_version``, so the access tokens already
handed out stop working on their next request, not when they expire.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts.models import Customer
from backend.auth import throttle, totp
from backend.auth.guards import SECOND_FACTOR_ROLES, forget_user
from backend.auth.models import RecoveryCode, RefreshToken, Role, User
from backend.auth.passwords import hash_async, needs_rehash, verify_async
from backend.auth.policy import check_password
from backend.auth.schemas import UserCreate
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

Locked = throttle.Locked


class AuthError(Unauthorised):
    """Credentials or refresh token refused (401); the code says which (``error.totp_required``:
    the password was right, ask for the second factor)."""


class UserError(ValueError):
    """A user cannot be created or changed as asked; the message names the field."""


class EnrolmentError(ValueError):
    """A second factor cannot be enrolled or confirmed as asked (``field`` names the culprit)."""

    def __init__(self, field: str, message: str, *, conflict: bool = False) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.conflict = conflict


@dataclass(frozen=True)
class Issued:
    """A new login or rotation: the access token for the body, the refresh token for the
    cookie."""

    access_token: str
    expires_in: int
    refresh_token: str
    refresh_max_age: int
    totp_enrolment_required: bool = False


def needs_enrolment(settings: Settings, user: User) -> bool:
    return (
        settings.auth_require_totp
        and Role(user.role) in SECOND_FACTOR_ROLES
        and user.totp_confirmed_at is None
    )


async def login(
    session: AsyncSession,
    settings: Settings,
    username: str,
    password: str,
    *,
    address: str,
    code: str | None = None,
    now: datetime | None = None,
) -> Issued:
    """Check the password (and the second factor, if the user has one) under the throttle.

    Raises :class:`Locked` (429) while the account or the address is locked, whatever the
    password, and :class:`AuthError` (401) otherwise refused."""
    now = now or utcnow()
    rules = throttle.Rules.of(settings)
    keys = throttle.keys_for(settings, username, address)
    counts = await throttle.begin(session, keys, rules, now)
    user = await session.scalar(select(User).where(User.username == username))
    ok = await verify_async(user.password_hash if user else None, password)
    if user is None or not ok or not user.active:
        await _refuse(
            session,
            keys,
            counts,
            rules,
            now,
            AuthError(E.WRONG_CREDENTIALS, "wrong username or password"),
        )
    assert user is not None
    if user.totp_confirmed_at is not None:
        if code is None:  # the password was right: not a failure, the code is the next step
            await throttle.succeeded(session, keys, clear=False)
            raise AuthError(E.TOTP_REQUIRED, "second factor required")
        if not await _spend_second_factor(session, user, code, now):
            await _refuse(
                session, keys, counts, rules, now, AuthError(E.WRONG_TOTP_CODE, "wrong code")
            )
    await throttle.succeeded(session, keys)
    if needs_rehash(user.password_hash):
        user.password_hash = await hash_async(password)
    issued = await _issue(session, settings, user, family=new_family(), now=now)
    await session.commit()
    return issued


async def _refuse(
    session: AsyncSession,
    keys: tuple[throttle.Key, ...],
    counts: dict[str, int],
    rules: throttle.Rules,
    now: datetime,
    error: AuthError,
) -> None:
    await session.rollback()
    retry_after = await throttle.failed(session, keys, counts, rules, now)
    if retry_after is not None:  # this failure used up the attempts: say so at once
        raise Locked(retry_after)
    raise error


async def _spend_second_factor(session: AsyncSession, user: User, code: str, now: datetime) -> bool:
    """A TOTP code of a step not used before, or an unused recovery code (spent here)."""
    code = code.strip()
    if totp.is_totp_code(code):
        step = totp.matching_step(user.totp_secret or "", code, now, user.totp_last_step)
        if step is None:
            return False
        last = User.totp_last_step
        spent = await session.execute(  # compare-and-set: a code is good once, even in parallel
            update(User)
            .where(User.id == user.id, (last.is_(None)) | (last < step))
            .values(totp_last_step=step)
        )
        return bool(spent.rowcount == 1)  # type: ignore[attr-defined]
    if not totp.is_recovery_code(code):
        return False
    spent = await session.execute(
        update(RecoveryCode)
        .where(
            RecoveryCode.user_id == user.id,
            RecoveryCode.code_hash == totp.hash_recovery_code(code),
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=now)
    )
    return bool(spent.rowcount == 1)  # type: ignore[attr-defined]


async def _issue(
    session: AsyncSession, settings: Settings, user: User, *, family: str, now: datetime
) -> Issued:
    access, lifetime = issue_access_token(
        settings, user_id=user.id, role=user.role, now=now, version=user.token_version
    )
    token, digest = new_refresh_token()
    lifespan = timedelta(days=settings.refresh_token_days)
    session.add(
        RefreshToken(
            token_hash=digest,
            family=family,
            user_id=user.id,
            issued_at=now,
            expires_at=now + lifespan,
        )
    )
    return Issued(
        access_token=access,
        expires_in=lifetime,
        refresh_token=token,
        refresh_max_age=int(lifespan.total_seconds()),
        totp_enrolment_required=needs_enrolment(settings, user),
    )


async def refresh(
    session: AsyncSession, settings: Settings, token: str | None, *, now: datetime | None = None
) -> Issued:
    """Rotate: the presented token is spent and a new pair returned.

    A token presented after it was spent is a stolen copy (or the thief's original): the whole
    family is revoked and the user's access tokens too; both must log in again.
    """
    now = now or utcnow()
    if not token:
        raise AuthError(E.REFRESH_TOKEN_MISSING, "no refresh token")
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
        await bump_token_version(session, row.user_id)
        await session.commit()
        raise AuthError(
            E.REFRESH_TOKEN_REUSED,
            "refresh token reuse detected: all sessions of this login are revoked",
        )
    user = await session.get(User, row.user_id)
    if user is None or not user.active:
        await session.rollback()
        raise AuthError(E.USER_INACTIVE, "user unknown or deactivated")
    issued = await _issue(session, settings, user, family=row.family, now=now)
    await session.commit()
    return issued


async def revoke_family(session: AsyncSession, family: str, now: datetime) -> None:
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.family == family, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )


async def bump_token_version(session: AsyncSession, user_id: int) -> None:
    """Every access token issued so far to this user stops working on its next request."""
    await session.execute(  # also updates a loaded User (synchronize_session)
        update(User).where(User.id == user_id).values(token_version=User.token_version + 1)
    )
    forget_user(session, user_id)  # this process's cached caller, now and after the commit


async def revoke_all(session: AsyncSession, user_id: int, now: datetime) -> None:
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    await bump_token_version(session, user_id)


async def logout(
    session: AsyncSession, user_id: int, token: str | None, *, all_sessions: bool
) -> None:
    now = utcnow()
    if all_sessions:
        await revoke_all(session, user_id, now)
    else:
        if token is not None:
            row = await session.scalar(
                select(RefreshToken).where(
                    RefreshToken.token_hash == hash_refresh_token(token),
                    RefreshToken.user_id == user_id,  # nobody logs out someone else
                )
            )
            if row is not None:
                await revoke_family(session, row.family, now)
        # the access tokens go too; other devices of this user refresh theirs once
        await bump_token_version(session, user_id)
    await session.commit()


async def _recheck_password(
    session: AsyncSession, settings: Settings, user: User, password: str, address: str
) -> None:
    """Re-authentication for a sensitive change, under the same throttle as a login."""
    now = utcnow()
    rules = throttle.Rules.of(settings)
    keys = throttle.keys_for(settings, user.username, address)
    counts = await throttle.begin(session, keys, rules, now)
    if not await verify_async(user.password_hash, password):
        await _refuse(
            session, keys, counts, rules, now, AuthError(E.WRONG_PASSWORD, "wrong password")
        )
    await throttle.succeeded(session, keys)


async def change_password(
    session: AsyncSession,
    settings: Settings,
    user_id: int,
    current: str,
    new: str,
    *,
    address: str,
) -> Issued:
    """Change one's own password; every other login ends, this one gets a fresh pair."""
    user = await session.get(User, user_id)
    if user is None:
        raise AuthError(E.USER_INACTIVE, "user unknown or deactivated")
    await _recheck_password(session, settings, user, current, address)
    check_password(new, role=Role(user.role), username=user.username)
    user.password_hash = await hash_async(new)
    now = utcnow()
    await revoke_all(session, user.id, now)
    issued = await _issue(session, settings, user, family=new_family(), now=now)
    await session.commit()
    return issued


async def set_password(session: AsyncSession, username: str, password: str) -> User:
    """An administrator's reset (``meterline users password``): every login of the user ends."""
    user = await session.scalar(select(User).where(User.username == username))
    if user is None:
        raise UserError(f"username: no user {username!r}")
    check_password(password, role=Role(user.role), username=user.username)
    user.password_hash = await hash_async(password)
    await revoke_all(session, user.id, utcnow())
    await session.commit()
    return user


async def begin_totp_enrolment(
    session: AsyncSession, settings: Settings, user_id: int, password: str, *, address: str
) -> tuple[str, str]:
    """A new secret, kept pending until confirmed with a code; returns (secret, otpauth URI)."""
    user = await session.get(User, user_id)
    if user is None:
        raise AuthError(E.USER_INACTIVE, "user unknown or deactivated")
    await _recheck_password(session, settings, user, password, address)
    if user.totp_confirmed_at is not None:
        raise EnrolmentError("totp", "a second factor is enrolled already", conflict=True)
    user.totp_secret = totp.new_secret()
    user.totp_last_step = None
    await session.commit()
    return user.totp_secret, totp.provisioning_uri(user.totp_secret, user.username)


async def confirm_totp(
    session: AsyncSession, user_id: int, code: str, *, now: datetime | None = None
) -> list[str]:
    """The first code from the app proves the secret arrived; returns the recovery codes."""
    now = now or utcnow()
    user = await session.get(User, user_id)
    if user is None:
        raise AuthError(E.USER_INACTIVE, "user unknown or deactivated")
    if user.totp_confirmed_at is not None:
        raise EnrolmentError("totp", "a second factor is enrolled already", conflict=True)
    if user.totp_secret is None:
        raise EnrolmentError("totp", "no enrolment in progress: start one first", conflict=True)
    step = totp.matching_step(user.totp_secret, code, now, None)
    if step is None:
        raise EnrolmentError("code", "wrong code")
    confirmed = await session.execute(  # two confirmations at once: one wins
        update(User)
        .where(User.id == user.id, User.totp_confirmed_at.is_(None))
        .values(totp_confirmed_at=now, totp_last_step=step)
    )
    if confirmed.rowcount != 1:  # type: ignore[attr-defined]
        await session.rollback()
        raise EnrolmentError("totp", "a second factor is enrolled already", conflict=True)
    codes = totp.new_recovery_codes()
    await session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    session.add_all(
        RecoveryCode(user_id=user.id, code_hash=totp.hash_recovery_code(c)) for c in codes
    )
    await session.commit()
    return codes


async def reset_totp(session: AsyncSession, username: str) -> User:
    """An administrator removes a lost second factor (``meterline users reset-totp``); the user
    enrols again at the next login. Every login of the user ends."""
    user = await session.scalar(select(User).where(User.username == username))
    if user is None:
        raise UserError(f"username: no user {username!r}")
    user.totp_secret = None
    user.totp_confirmed_at = None
    user.totp_last_step = None
    await session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    await revoke_all(session, user.id, utcnow())
    await session.commit()
    return user


async def create_user(session: AsyncSession, data: UserCreate) -> User:
    if await session.scalar(select(User.id).where(User.username == data.username)) is not None:
        raise UserError(f"username: {data.username!r} exists already")
    check_password(data.password, role=data.role, username=data.username)
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
        password_hash=await hash_async(data.password),
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
