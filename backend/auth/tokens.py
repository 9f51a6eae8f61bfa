"""Access tokens (JWT, HS256, short-lived) and refresh tokens (opaque, stored as a hash).

An access token carries the user id (``sub``), the role and the user's token version (``ver``);
it is checked on every request and the user row is re-read too (one primary-key lookup), so
deactivating a user, logging out or a detected refresh-token theft (each bumps the version)
takes effect at once: there is no revocation delay. A refresh token is 256 random
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
    version: int = 0


def issue_access_token(
    settings: Settings, *, user_id: int, role: str, now: datetime, version: int = 0
) -> tuple[str, int]:
    """Return (token, lifetime in seconds)."""
    lifetime = timedelta(minutes=settings.access_token_minutes)
    claims = {
        "iss": ISSUER,
        "sub": str(user_id),
        "role": role,
        "typ": "access",
        "ver": version,
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
        return AccessClaims(
            user_id=int(claims["sub"]), role=str(claims["role"]), version=int(claims["ver"])
        )
    except (KeyError, ValueError, TypeError):
        raise InvalidToken("malformed claims") from None


def new_refresh_token() -> tuple[str, str]:
    """Return (token for the client, hash for the database)."""
    token = secrets.token_urlsafe(32)
    return token, hash_refresh_token(token)


def hash_refresh_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_family() -> str:
    return secrets.token_hex(16)
