"""Storing and looking up tariffs."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts.models import CustomerCategory
from backend.tariffs.model import Tariff, TariffError, tariff_from_json, tariff_to_json
from backend.tariffs.models import TariffRecord
from backend.tariffs.rating import Schedule


async def store_tariffs(session: AsyncSession, tariffs: Sequence[Tariff]) -> tuple[int, int]:
    """Add tariffs; a code already stored with the same definition is skipped. A code stored
    with a different definition is refused: a published tariff is never edited in place
    (bills were computed from it), a change is a new tariff with a later effective date.
    Returns (added, unchanged)."""
    added = unchanged = 0
    for t in tariffs:
        existing = await session.scalar(select(TariffRecord).where(TariffRecord.code == t.code))
        body = tariff_to_json(t).decode()
        if existing is not None:
            if tariff_from_json(existing.definition) != t:
                raise TariffError(
                    f"tariff {t.code!r} is already stored with a different definition; "
                    "give the change a new code and a later effective_from"
                )
            unchanged += 1
            continue
        clash = await session.scalar(
            select(TariffRecord.code).where(
                TariffRecord.category == t.category, TariffRecord.effective_from == t.effective_from
            )
        )
        if clash is not None:
            raise TariffError(
                f"tariff {t.code!r}: {clash!r} already takes effect for {t.category.value} on "
                f"{t.effective_from.isoformat()}"
            )
        session.add(
            TariffRecord(
                code=t.code,
                name=t.name,
                category=t.category,
                effective_from=t.effective_from,
                definition=body,
            )
        )
        added += 1
    await session.flush()
    return added, unchanged


async def all_tariffs(session: AsyncSession) -> list[Tariff]:
    rows = (await session.scalars(select(TariffRecord).order_by(TariffRecord.effective_from))).all()
    return [tariff_from_json(r.definition) for r in rows]


async def schedules(session: AsyncSession) -> dict[CustomerCategory, Schedule]:
    by_category: dict[CustomerCategory, list[Tariff]] = defaultdict(list)
    for t in await all_tariffs(session):
        by_category[t.category].append(t)
    return {c: Schedule(ts) for c, ts in by_category.items()}
