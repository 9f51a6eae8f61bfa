"""Access tokens (JWT, HS256, short-lived) and refresh tokens (opaque, stored as a hash).

An access token carries the user id (``sub``) and role; it is checked on every request but the
user row is re-read too, so deactivating a user takes effect at once. A refresh token is 256 random
bits, shown to the client once; the server keeps only its SHA-256.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

import jwt
import msgspec

from backend.settings import Settings

ALGORITHM = "HS256"
ISSUER = "meterline"


class InvalidToken(Exception):
    """The token is missing, malformed, badly signed, expired or of the wrong type."""


class AccessClaims(msgspec.Struct, frozen=True):
    user_id: int
    role: str


def issue_access_token(
    settings: Settings, *, user_id: int, role: str, now: datetime
) -> tuple[str, int]:
    """Return (token, lifetime in seconds)."""
    lifetime = timedelta(minutes=settings.access_token_minutes)
    claims = {
        "iss": ISSUER,
        "sub": str(user_id),
        "role": role,
        "typ": "access",
        "iat": int(now.timestamp()),
        "exp": int((now + lifetime).timestamp()),
    }
    token = jwt.encode(claims, settings.ensure_secret(), algorithm=ALGORITHM)
    return token, int(lifetime.total_seconds())


def decode_access_token(settings: Settings, token: str) -> AccessClaims:
    try:
        claims = jwt.decode(
            token,
            settings.ensure_secret(),
            algorithms=[ALGORITHM],  # pinned: never trust the token's own "alg"
            issuer=ISSUER,
            options={"require": ["exp", "iat", "sub", "iss"]},
        )
    except jwt.PyJWTError as exc:
        raise InvalidToken(str(exc)) from None
    if claims.get("typ") != "access":
        raise InvalidToken("not an access token")
    try:
        return AccessClaims(user_id=int(claims["sub"]), role=str(claims["role"]))
    except (KeyError, ValueError):
        raise InvalidToken("malformed claims") from None


def new_refresh_token() -> tuple[str, str]:
    """Return (token for the client, hash for the database)."""
    token = secrets.token_urlsafe(32)
    return token, hash_refresh_token(token)


def hash_refresh_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_family() -> str:
    return secrets.token_hex(16)
