"""What every notice channel shares: the provider's answer, delivery receipts, and applying a
receipt to its notice.

A notice is ``sent`` when a provider accepted it and ``delivered`` only when that provider
reports the customer's handset (or WeChat) received it — a receipt. Only ``delivered`` counts
for the disconnect-warning rule (``notices.warning_delivered_at``).
"""

from __future__ import annotations

import tomllib
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.prepaid.models import Notice, NoticeChannel, NoticeStatus
from backend.settings import SettingsError


class Receipt(msgspec.Struct, frozen=True):
    """A provider's report on one message: ``ref`` is the id it answered when sending."""

    ref: str
    delivered: bool
    at: datetime
    error: str | None = None


async def apply_receipts(
    session: AsyncSession, channel: NoticeChannel, receipts: list[Receipt]
) -> int:
    """Mark the notices the receipts name delivered (or failed). A notice already delivered
    stays so (a late failure report does not undo a delivery). Returns how many changed."""
    changed = 0
    for r in receipts:
        values: dict[str, Any] = (
            {"status": NoticeStatus.DELIVERED, "delivered_at": r.at}
            if r.delivered
            else {"status": NoticeStatus.FAILED, "last_error": (r.error or "not delivered")[:500]}
        )
        result = await session.execute(
            update(Notice)
            .where(
                Notice.provider_ref == r.ref,
                Notice.channel == channel,
                Notice.status.in_([NoticeStatus.SENT, NoticeStatus.PENDING]),
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        changed += result.rowcount  # type: ignore[attr-defined]
    return changed


def load_config(path: str) -> dict[str, Any]:
    """The channels' settings file (``METERLINE_NOTIFICATION_CONFIG``, TOML, kept out of the
    repository with mode 0600: it holds the providers' secrets)."""
    if not path:
        return {}
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SettingsError(f"METERLINE_NOTIFICATION_CONFIG {path}: {exc}") from None


def section(config: dict[str, Any], name: str, *keys: str) -> dict[str, Any]:
    found = config.get(name)
    if not isinstance(found, dict):
        raise SettingsError(f"notification config: a [{name}] section is needed")
    missing = [k for k in keys if not found.get(k)]
    if missing:
        raise SettingsError(f"notification config [{name}]: missing {', '.join(missing)}")
    return found
