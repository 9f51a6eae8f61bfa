"""HTTP bodies of the auth capability: one Struct per operation, unknown fields refused."""

from __future__ import annotations

from typing import Annotated

import msgspec

from backend.auth.models import Role

Username = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")]
Password = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
RefreshTokenText = Annotated[str, msgspec.Meta(min_length=16, max_length=128)]


class LoginIn(msgspec.Struct, forbid_unknown_fields=True):
    username: Username
    password: Password


class RefreshIn(msgspec.Struct, forbid_unknown_fields=True):
    refresh_token: RefreshTokenText


class LogoutIn(msgspec.Struct, forbid_unknown_fields=True):
    refresh_token: RefreshTokenText | None = None
    all_sessions: bool = False  # revoke every refresh token of this user


class TokenPair(msgspec.Struct):
    access_token: str
    refresh_token: str
    expires_in: int  # seconds until the access token expires
    token_type: str = "Bearer"


class Me(msgspec.Struct):
    id: int
    username: str
    display_name: str
    role: Role
    customer_id: int | None
    grid_ids: list[int]


class UserCreate(msgspec.Struct, forbid_unknown_fields=True):
    """Input of ``meterline users create`` (validated like an HTTP body)."""

    username: Username
    password: Annotated[str, msgspec.Meta(min_length=8, max_length=256)]
    role: Role
    display_name: Annotated[str, msgspec.Meta(max_length=100)] = ""
    customer_number: Annotated[str, msgspec.Meta(min_length=1, max_length=32)] | None = None
    grid_codes: Annotated[list[str], msgspec.Meta(max_length=100)] = []
