"""Corrections: a supervisor approves or rejects; only an approved correction counts.

The original reading is never touched. An approval writes the corrected values into
``readings`` at the original's key (quality ``good``, source ``field``) and tells the
consumption engine, so consumption and billing are recomputed from that instant. Both the
correction and the decision are insert-only rows, so the whole history stays visible.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts.models import Customer
from backend.auth.guards import Caller
from backend.auth.scope import customer_scope
from backend.errors import Conflict, Forbidden, NotAllowed, NotFound
from backend.errors import ErrorCode as E
from backend.field.readings import feed
from backend.field.readings.models import CorrectionDecision, FieldReading, FieldReadingKind
from backend.field.readings.schemas import DecisionSubmit, ReadingHistory
from backend.field.readings.schemas import FieldReading as FieldReadingOut
from backend.field.readings.view import corrections_of, effective_registers, view
from backend.field.scope import visible_meter_pk
from backend.metering.derived import DerivedData
from backend.metering.models import Meter
from backend.texts import Param
from backend.types import from_epoch_ms


class ReadingImmutable(NotAllowed):
    """Raised on any attempt to change or delete a confirmed reading (R8)."""

    def __init__(self, what: str, code: E = E.READING_IMMUTABLE, **params: Param) -> None:
        super().__init__(
            code,
            f"{what} is confirmed and cannot be changed or deleted (R8); submit a correction "
            "instead: POST /api/field/corrections with the reading's id, the corrected registers "
            "and a reason",
        )
        self.params = params


def refuse_change(client_id: str) -> None:
    """The answer to PUT, PATCH or DELETE on a reading: there is no such thing."""
    raise ReadingImmutable(f"field reading {client_id}", reading=client_id)


@event.listens_for(FieldReading, "before_update")
@event.listens_for(CorrectionDecision, "before_update")
@event.listens_for(FieldReading, "before_delete")
@event.listens_for(CorrectionDecision, "before_delete")
def _insert_only(_mapper: Any, _connection: Any, target: Any) -> None:
    """The ORM refuses before the database's trigger has to."""
    if isinstance(target, FieldReading):
        raise ReadingImmutable(f"field reading {target.client_id}", reading=target.client_id)
    raise ReadingImmutable(
        f"the decision on correction {target.correction_id}",
        E.DECISION_IMMUTABLE,
        correction=target.correction_id,
    )


async def _correction(session: AsyncSession, caller: Caller, client_id: str) -> FieldReading:
    row = await session.scalar(
        select(FieldReading).where(
            FieldReading.client_id == client_id, FieldReading.kind == FieldReadingKind.CORRECTION
        )
    )
    if row is None:
        raise NotFound(
            E.CORRECTION_NOT_FOUND, f"correction {client_id} not found", correction=client_id
        )
    await visible_meter_pk(session, caller, row.meter_pk)
    return row


async def decide(
    session: AsyncSession,
    caller: Caller,
    client_id: str,
    body: DecisionSubmit,
    now_ms: int,
    derived: DerivedData,
) -> FieldReadingOut:
    correction = await _correction(session, caller, client_id)
    existing = await session.get(CorrectionDecision, correction.id)
    if existing is not None:
        if (
            existing.approved == body.approved
            and existing.note == body.note
            and (existing.decided_by == caller.user_id)
        ):
            return await view(session, correction)  # a resend of the same decision
        verdict = "approved" if existing.approved else "rejected"
        raise Conflict(
            E.CORRECTION_APPROVED if existing.approved else E.CORRECTION_REJECTED,
            f"correction {client_id} was already {verdict}; a decision is final",
            correction=client_id,
        )
    if correction.inspector_id == caller.user_id:
        raise Forbidden(
            E.OWN_CORRECTION,
            f"you submitted correction {client_id}; another supervisor must decide it",
            correction=client_id,
        )
    decision = CorrectionDecision(
        correction_id=correction.id,
        approved=body.approved,
        decided_by=caller.user_id,
        decided_at=from_epoch_ms(now_ms),
        note=body.note,
    )
    session.add(decision)
    try:
        await session.flush()
        if body.approved:
            await feed.apply_correction(
                session, correction.meter_pk, correction.ts, correction.registers, now_ms
            )
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise Conflict(
            E.DECIDED_CONCURRENTLY,
            f"correction {client_id} was decided at the same moment by someone else",
            correction=client_id,
        ) from None
    if body.approved:
        await feed.committed(
            derived, correction.meter_pk, correction.ts, sorted(correction.registers)
        )
    return await view(session, correction)


async def history(session: AsyncSession, caller: Caller, client_id: str) -> ReadingHistory:
    row = await session.scalar(select(FieldReading).where(FieldReading.client_id == client_id))
    if row is None:
        raise NotFound(E.READING_NOT_FOUND, f"reading {client_id} not found", reading=client_id)
    await visible_meter_pk(session, caller, row.meter_pk)
    if row.kind == FieldReadingKind.CORRECTION:
        original = await session.get(FieldReading, row.corrects_id)
        assert original is not None
        row = original
    corrections = await corrections_of(session, row.id)
    return ReadingHistory(
        original=await view(session, row),
        corrections=[await view(session, c) for c, _ in corrections],
        effective_registers=effective_registers(row, corrections),
    )


async def list_corrections(
    session: AsyncSession, caller: Caller, status: str = "pending_approval", limit: int = 200
) -> list[FieldReadingOut]:
    query = (
        select(FieldReading)
        .join(Meter, Meter.id == FieldReading.meter_pk)
        .outerjoin(Customer, Customer.id == Meter.customer_id)
        .outerjoin(CorrectionDecision, CorrectionDecision.correction_id == FieldReading.id)
        .where(FieldReading.kind == FieldReadingKind.CORRECTION, customer_scope(caller))
        .order_by(FieldReading.received_at, FieldReading.id)
        .limit(limit)
    )
    if status == "pending_approval":
        query = query.where(CorrectionDecision.correction_id.is_(None))
    elif status == "approved":
        query = query.where(CorrectionDecision.approved.is_(True))
    elif status == "rejected":
        query = query.where(CorrectionDecision.approved.is_(False))
    return [await view(session, row) for row in await session.scalars(query)]
