"""TOTP second factor (RFC 6238, 30 s steps, 6 digits: what every authenticator app speaks) and
one-time recovery codes. Pure functions: the service stores secrets and spends codes.

A code is accepted for the current step and one step either side (phone clocks drift), and only
for a step later than the last one accepted, so an observed code cannot be replayed.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime

import pyotp
import segno

ISSUER = "meterline"
STEP_SECONDS = 30
RECOVERY_CODES = 10
_TOTP_CODE = re.compile(r"^\d{6}$")
_RECOVERY_CODE = re.compile(r"^[0-9a-f]{5}-?[0-9a-f]{5}$")


def new_secret() -> str:
    return pyotp.random_base32()  # 160 bits, as RFC 4226 recommends


def provisioning_uri(secret: str, username: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=ISSUER)


def qr_svg(uri: str) -> str:
    """The ``otpauth://`` URI as a QR code, an SVG ``data:`` URI an ``<img>`` can show."""
    return str(segno.make(uri, error="m").svg_data_uri(scale=5, border=2))


def is_totp_code(code: str) -> bool:
    return bool(_TOTP_CODE.fullmatch(code))


def matching_step(secret: str, code: str, now: datetime, after_step: int | None) -> int | None:
    """The time step ``code`` belongs to (now ± one step), if later than ``after_step``."""
    if not is_totp_code(code):
        return None
    totp = pyotp.TOTP(secret)
    current = int(now.timestamp()) // STEP_SECONDS
    for step in (current - 1, current, current + 1):
        if after_step is not None and step <= after_step:
            continue
        if hmac.compare_digest(totp.at(step * STEP_SECONDS), code):
            return step
    return None


def new_recovery_codes() -> list[str]:
    """Ten codes of 40 random bits each, ``xxxxx-xxxxx``: shown once, stored as hashes."""
    out = []
    for _ in range(RECOVERY_CODES):
        raw = secrets.token_hex(5)
        out.append(f"{raw[:5]}-{raw[5:]}")
    return out


def is_recovery_code(code: str) -> bool:
    return bool(_RECOVERY_CODE.fullmatch(code.strip().lower()))


def hash_recovery_code(code: str) -> str:
    return hashlib.sha256(code.strip().lower().replace("-", "").encode()).hexdigest()
