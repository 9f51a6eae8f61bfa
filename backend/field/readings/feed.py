"""A confirmed field reading goes into ``readings`` exactly like an AMI reading (R4, R7).

Natural key (meter, ts, quantity), source ``field``. ``ts`` is the GPS fix time (see
docs/field.md: the phone's clock can be set by hand, the satellites' cannot). After the commit
the reading is announced once to metering's derived-data path, as ingestion announces its
batches: consumption at once, then billing — read and bill in one pass (遍抄遍算).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from backend.errors import Conflict
from backend.errors import ErrorCode as E
from backend.metering.derived import DerivedData, intervals_from
from backend.metering.intervals import HELD
from backend.metering.models import Reading, ReadingSource
from backend.types import from_epoch_ms
from protocols.contract import Quality


async def ensure_free(
    session: AsyncSession, meter_pk: int, meter_id: str, ts: int, quantities: list[str]
) -> None:
    """Refuse a reading whose natural key is taken: one instant holds one value per register."""
    taken = (
        await session.execute(
            select(Reading.quantity, Reading.source).where(
                Reading.meter_pk == meter_pk, Reading.ts == ts, Reading.quantity.in_(quantities)
            )
        )
    ).first()
    if taken is not None:
        raise Conflict(
            E.READING_EXISTS,
            f"meter {meter_id} already has a {taken[1]} reading of {taken[0]} at "
            f"{from_epoch_ms(ts).isoformat()} (ts {ts}); a second reading at the same instant "
            "is refused",
            field="fix.fix_at",
            meter=meter_id,
            source=str(taken[1]),
            reading_at=ts,
        )


async def insert(
    session: AsyncSession,
    meter_pk: int,
    ts: int,
    registers: Mapping[str, int],
    received_at: int,
    held: Collection[str] = (),
) -> None:
    """``held``: registers stored held for review (quarantine): not billed nor counted yet."""
    session.add_all(
        Reading(
            meter_pk=meter_pk,
            quantity=q,
            ts=ts,
            value=v,
            quality=HELD if q in held else Quality.GOOD,
            source=ReadingSource.FIELD.value,
            received_at=received_at,
        )
        for q, v in sorted(registers.items())
    )


async def apply_correction(
    session: AsyncSession, meter_pk: int, ts: int, registers: Mapping[str, int], received_at: int
) -> None:
    """An approved correction replaces the values at the original reading's key."""
    rows = [
        {
            "meter_pk": meter_pk,
            "quantity": q,
            "ts": ts,
            "value": v,
            # approved: the consumption chain takes it like any good reading
            "quality": Quality.GOOD,
            "source": ReadingSource.FIELD.value,
            "received_at": received_at,
        }
        for q, v in sorted(registers.items())
    ]
    dialect = session.get_bind().dialect.name
    insert_ = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert_(Reading).values(rows)
    stmt = stmt.on_conflict_do_update(
        index_elements=["meter_pk", "quantity", "ts"],
        set_={
            "value": stmt.excluded.value,
            "quality": stmt.excluded.quality,
            "received_at": stmt.excluded.received_at,
        },
    )
    await session.execute(stmt)


async def committed(derived: DerivedData, meter_pk: int, ts: int, quantities: list[str]) -> None:
    """Announce the committed reading to the derived-data path: consumption runs now, so the
    inspector's and supervisor's next request already sees it; billing follows on the path's
    task. The readings are committed and safe: a failure there is logged, and the next reading
    of the meter (or a rebuild, or billing's catch-up) repairs what it missed; the inspector's
    submission still succeeds."""
    await derived.announce_now(intervals_from([(meter_pk, q, ts) for q in quantities]))
