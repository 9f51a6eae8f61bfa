"""How a stored field reading looks on the API, with its flags, decision and history."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts.models import Customer
from backend.field.readings.models import (
    CorrectionDecision,
    FieldFlag,
    FieldReading,
    FieldReadingKind,
)
from backend.field.readings.schemas import Decision, Flag, GpsFix, ReadingStatus
from backend.field.readings.schemas import FieldReading as FieldReadingOut
from backend.metering.models import Meter
from backend.metering.quarantine.service import is_held
from backend.types import to_epoch_ms


def flag_view(flag: FieldFlag, reading_id: str, meter_id: str) -> Flag:
    return Flag(
        id=flag.id,
        kind=flag.kind,
        detail=flag.detail,
        code=flag.detail_code,
        params=flag.detail_params or {},
        status=flag.status.value,
        reading_id=reading_id,
        meter_id=meter_id,
        inspector_id=flag.inspector_id,
        created_at=to_epoch_ms(flag.created_at),
        resolved_by=flag.resolved_by,
        resolved_at=to_epoch_ms(flag.resolved_at) if flag.resolved_at else None,
        resolution=flag.resolution,
    )


def decision_view(d: CorrectionDecision | None) -> Decision | None:
    if d is None:
        return None
    return Decision(
        approved=d.approved,
        decided_by=d.decided_by,
        decided_at=to_epoch_ms(d.decided_at),
        note=d.note,
    )


async def view(session: AsyncSession, row: FieldReading) -> FieldReadingOut:
    meter_id, number = (
        await session.execute(
            select(Meter.meter_id, Customer.number)
            .outerjoin(Customer, Customer.id == Meter.customer_id)
            .where(Meter.id == row.meter_pk)
        )
    ).one()
    flags = await session.scalars(
        select(FieldFlag).where(FieldFlag.field_reading_id == row.id).order_by(FieldFlag.id)
    )
    decision = None
    corrects = None
    status: ReadingStatus = "counted"
    if row.kind == FieldReadingKind.READING and await is_held(session, row.meter_pk, row.ts):
        status = "held"  # waits for a person before billing (quarantine)
    if row.kind == FieldReadingKind.CORRECTION:
        decision = await session.get(CorrectionDecision, row.id)
        status = (
            "pending_approval"
            if decision is None
            else ("approved" if decision.approved else "rejected")
        )
        corrects = await session.scalar(
            select(FieldReading.client_id).where(FieldReading.id == row.corrects_id)
        )
    fix = None
    if row.fix_at is not None and row.latitude is not None and row.longitude is not None:
        fix = GpsFix(
            latitude=row.latitude,
            longitude=row.longitude,
            accuracy_m=row.accuracy_m or 0.0,
            fix_at=row.fix_at,
        )
    return FieldReadingOut(
        id=row.client_id,
        kind=row.kind.value,
        status=status,
        meter_id=meter_id,
        customer_number=number,
        inspector_id=row.inspector_id,
        registers=dict(row.registers),
        ts=row.ts,
        fix=fix,
        device_at=row.device_at,
        received_at=row.received_at,
        photo_sha256=row.photo_sha256,
        note=row.note,
        book_id=row.book_id,
        corrects=corrects,
        reason=row.reason,
        decision=decision_view(decision),
        flags=[flag_view(f, row.client_id, meter_id) for f in flags],
    )


async def pending_correction_of(session: AsyncSession, original_id: int) -> FieldReading | None:
    return await session.scalar(
        select(FieldReading)
        .outerjoin(CorrectionDecision, CorrectionDecision.correction_id == FieldReading.id)
        .where(FieldReading.corrects_id == original_id, CorrectionDecision.correction_id.is_(None))
    )


async def corrections_of(
    session: AsyncSession, original_id: int
) -> list[tuple[FieldReading, CorrectionDecision | None]]:
    rows = await session.execute(
        select(FieldReading, CorrectionDecision)
        .outerjoin(CorrectionDecision, CorrectionDecision.correction_id == FieldReading.id)
        .where(FieldReading.corrects_id == original_id)
        .order_by(FieldReading.id)
    )
    return [(r[0], r[1]) for r in rows]


def effective_registers(
    original: FieldReading, corrections: list[tuple[FieldReading, CorrectionDecision | None]]
) -> dict[str, int]:
    """The original's values with every approved correction applied, in the order decided."""
    values = dict(original.registers)
    approved = [(d.decided_at, c.id, c) for c, d in corrections if d is not None and d.approved]
    for _, _, c in sorted(approved, key=lambda t: (t[0], t[1])):
        values.update(c.registers)
    return values
