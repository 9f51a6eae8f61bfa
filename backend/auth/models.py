"""Users and their roles."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base
from backend.types import UTCDateTime, str_enum, utcnow


class Role(enum.StrEnum):
    CUSTOMER = "customer"
    INSPECTOR = "inspector"  # 抄表员 / 客户经理
    SUPERVISOR = "supervisor"  # reviews field flags, approves corrections
    OPERATOR = "operator"  # 95598 service centre
    ADMIN = "admin"


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(str_enum(Role, 16))
    display_name: Mapped[str] = mapped_column(String(100), default="")
    # a customer-role user sees this customer's accounts and meters only
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # staff scoped to an organisation unit see every grid below it (migration 0022)
    org_unit_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # every access token carries the version it was issued under; logging out, a refresh-token
    # reuse or a password change bumps it, and older access tokens stop working at once
    token_version: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    # TOTP second factor (RFC 6238): the base32 secret, set at enrolment, in force once confirmed
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    totp_confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)  # a code is good only once


class RecoveryCode(Base):
    """A one-time code that stands in for the TOTP code when the phone is lost (hash only)."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class LoginThrottle(Base):
    """Failed sign-in attempts per account and per client address, shared by every API replica.

    ``key`` is ``user:<username>`` or ``addr:<ip>``. ``failures`` counts the attempts of the
    current window (an attempt is counted before its password is checked, so parallel guesses
    cannot overrun the limit); ``locked_until`` refuses every attempt until then.
    """

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RefreshToken(Base):
    """A refresh token, kept server-side as a SHA-256 hash (the token itself is never stored).

    Tokens rotate: each use marks the row ``used_at`` and issues a successor in the same
    ``family`` (one family per login). Presenting a used token again means it was copied:
    the whole family is revoked, so both the thief and the victim must log in again.
    """

    __tablename__ = "refresh_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    family: Mapped[str] = mapped_column(String(32), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
