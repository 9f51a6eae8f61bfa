"""HTTP bodies of the auth capability: one Struct per operation, unknown fields refused."""

from __future__ import annotations

from typing import Annotated

import msgspec

from backend.auth.models import Role

Username = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")]
Password = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]


SecondFactorCode = Annotated[
    str, msgspec.Meta(min_length=6, max_length=16, pattern=r"^[0-9a-fA-F-]+$")
]


class LoginIn(msgspec.Struct, forbid_unknown_fields=True):
    username: Username
    password: Password
    # the TOTP code (6 digits) or a recovery code, for users with a second factor: a login
    # without it answers 401 with ``extra.reason`` ``totp_required``
    code: SecondFactorCode | None = None


class LogoutIn(msgspec.Struct, forbid_unknown_fields=True):
    all_sessions: bool = False  # revoke every login of this user, not only this one


class AccessToken(msgspec.Struct):
    """The access token; the refresh token travels only in an httpOnly cookie."""

    access_token: str
    expires_in: int  # seconds until the access token expires
    token_type: str = "Bearer"
    # the user must enrol a second factor before anything else (METERLINE_AUTH_REQUIRE_TOTP)
    totp_enrolment_required: bool = False


class PasswordChangeIn(msgspec.Struct, forbid_unknown_fields=True):
    current_password: Password
    new_password: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]


class TotpEnrolIn(msgspec.Struct, forbid_unknown_fields=True):
    password: Password  # enrolling a factor needs the password again, not only a token


class TotpEnrolment(msgspec.Struct):
    """Shown once: the secret for the authenticator app, as text, URI and QR code."""

    secret: str
    otpauth_uri: str
    qr_svg: str  # a data: URI of an SVG image


class TotpConfirmIn(msgspec.Struct, forbid_unknown_fields=True):
    code: Annotated[str, msgspec.Meta(min_length=6, max_length=6, pattern=r"^[0-9]{6}$")]


class RecoveryCodes(msgspec.Struct):
    """Shown once: each code stands in for one TOTP code when the phone is lost."""

    recovery_codes: list[str]


class Me(msgspec.Struct):
    id: int
    username: str
    display_name: str
    role: Role
    customer_id: int | None
    grid_ids: list[int]
    totp_enabled: bool = False
    totp_enrolment_required: bool = False
    org_unit_id: int | None = None  # the organisation unit staff are scoped to (R110)


class UserCreate(msgspec.Struct, forbid_unknown_fields=True):
    """Input of ``meterline users create`` (validated like an HTTP body)."""

    username: Username
    password: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]  # rules: auth/policy.py
    role: Role
    display_name: Annotated[str, msgspec.Meta(max_length=100)] = ""
    customer_number: Annotated[str, msgspec.Meta(min_length=1, max_length=32)] | None = None
    grid_codes: Annotated[list[str], msgspec.Meta(max_length=100)] = []
