"""Password rules (ASVS 2.1): long enough for the role, not a known common or breached password,
not the username. Applied wherever a password is set: ``meterline users create|password`` and
``POST /api/auth/password``. Length is counted in characters, so a Chinese passphrase counts
as what it is; there are no composition rules (ASVS 2.1.9) and no forced rotation.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from backend.auth.models import Role

MIN_LENGTH_STAFF = 10  # inspectors and up: they can see many customers or order disconnects
MIN_LENGTH_CUSTOMER = 8
MAX_LENGTH = 256
COMMON_PASSWORDS = Path(__file__).with_name("common_passwords.txt")


class PasswordRejected(ValueError):
    """A password the rules refuse. ``code`` is stable for clients: ``too_short``, ``too_long``,
    ``common`` or ``like_username``; ``minimum`` is the length the role needs."""

    def __init__(self, code: str, message: str, *, minimum: int) -> None:
        super().__init__(f"password: {message}")
        self.code = code
        self.minimum = minimum


@cache
def common_passwords() -> frozenset[str]:
    lines = COMMON_PASSWORDS.read_text(encoding="utf-8").splitlines()
    return frozenset(line for line in lines if line and not line.startswith("#"))


def minimum_length(role: Role) -> int:
    return MIN_LENGTH_CUSTOMER if role == Role.CUSTOMER else MIN_LENGTH_STAFF


def check_password(password: str, *, role: Role, username: str) -> None:
    """Raise :class:`PasswordRejected` unless ``password`` may be set for this user."""
    minimum = minimum_length(role)
    if len(password) < minimum:
        raise PasswordRejected(
            "too_short", f"at least {minimum} characters for role {role.value}", minimum=minimum
        )
    if len(password) > MAX_LENGTH:
        raise PasswordRejected("too_long", f"at most {MAX_LENGTH} characters", minimum=minimum)
    folded = password.casefold()
    if folded in common_passwords():
        raise PasswordRejected(
            "common", "this password is on the list of common passwords", minimum=minimum
        )
    name = username.casefold()
    if folded == name or (len(name) >= 4 and name in folded and len(folded) - len(name) < 6):
        raise PasswordRejected("like_username", "too close to the username", minimum=minimum)
