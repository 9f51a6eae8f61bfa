"""Days of credit left, from the recent spend rate (docs/prepaid.md, "Days left").

The rate is money charged per unit of *metered time*: each live consumption charge covers the
interval between two readings (``Charge.start_ms`` .. ``end_ms``), so the rate is the charges'
exact total over the span from the earliest start to the latest end, taken over the charges
that end in the last 24 hours — or, when there are none, in the last 7 days. A daily-read meter
(one charge covering 24 h) and a meter charged every 15 s are measured alike, and an account
whose spending has just gone up is told so the same day instead of at a 30-day average.
Without any charge in 7 days the figure is unknown (``None``), never a guess.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, Decimal
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.prepaid.models import Charge
from backend.settings import Settings

WINDOWS = (timedelta(hours=24), timedelta(days=7))
DAY_MS = 86_400_000


def widest_since_ms(now_ms: int) -> int:
    """Charges ending after this (and up to now) are all the windows need."""
    return now_ms - int(WINDOWS[-1].total_seconds() * 1000)


def live_ending(since_ms: int, now_ms: int) -> tuple[ColumnElement[bool], ...]:
    """The live charges that end after ``since_ms`` and by ``now_ms``: with a condition on the
    account, a range of ``ix_charges_live_end`` (by start, a charge's account index
    would read every charge the account ever had)."""
    return (Charge.reversed_at.is_(None), Charge.end_ms > since_ms, Charge.end_ms <= now_ms)


def daily_from(charges: Sequence[Any], now_ms: int) -> int:
    """Fen per day from the widest window's charges (rows with ``start_ms``, ``end_ms``,
    ``exact_cny``); the narrower windows are taken from them."""
    for window in WINDOWS:
        since_ms = now_ms - int(window.total_seconds() * 1000)
        rows = [r for r in charges if r.end_ms > since_ms]
        if not rows:
            continue
        span_ms = max(r.end_ms for r in rows) - min(r.start_ms for r in rows)
        total_fen = sum((Decimal(r.exact_cny) for r in rows), Decimal(0)) * 100
        if span_ms <= 0 or total_fen <= 0:
            continue
        return int((total_fen * DAY_MS / span_ms).to_integral_value(rounding=ROUND_CEILING))
    return 0


async def daily_spend_fen(session: AsyncSession, account_id: int, now: datetime) -> int:
    """Fen per day at the recent rate (rounded up); 0 without recent charges. One statement:
    the widest window's charges, the narrower windows taken from them."""
    now_ms = int(now.timestamp() * 1000)
    charges = (
        await session.execute(
            select(Charge.start_ms, Charge.end_ms, Charge.exact_cny).where(
                Charge.account_id == account_id, *live_ending(widest_since_ms(now_ms), now_ms)
            )
        )
    ).all()
    return daily_from(charges, now_ms)


def days_left(balance_fen: int, daily_fen: int) -> float | None:
    """Days the balance lasts at ``daily_fen``; None when nothing is being spent."""
    if daily_fen <= 0:
        return None
    return max(balance_fen, 0) / daily_fen


def is_low(settings: Settings, balance_fen: int, daily_fen: int) -> bool:
    """Below the low-balance threshold, or below the low days of credit at ``daily_fen``: what
    the customer is warned of (the engine), shown (the balance screen) and what the sweep's
    watch line stays clear of."""
    left = days_left(balance_fen, daily_fen)
    return balance_fen < settings.prepaid_low_balance_fen or (
        left is not None and left < settings.prepaid_low_balance_days
    )


async def days_of_credit(
    session: AsyncSession, account_id: int, balance_fen: int, now: datetime
) -> tuple[int, float | None]:
    daily = await daily_spend_fen(session, account_id, now)
    return daily, days_left(balance_fen, daily)
