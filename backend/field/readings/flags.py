"""Supervisor review of plausibility flags: list what is open, resolve each with a note.

A flag is a question for a person, not a verdict: resolving it records who looked and what
they concluded; it changes no reading and no bill."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts.models import Customer
from backend.auth.guards import Caller
from backend.auth.scope import customer_scope
from backend.errors import Conflict, Invalid, NotFound
from backend.errors import ErrorCode as E
from backend.field.readings.models import FieldFlag, FieldReading, FlagStatus
from backend.field.readings.plausibility import FlagKind
from backend.field.readings.schemas import Flag, FlagResolve
from backend.field.readings.view import flag_view
from backend.metering.models import Meter
from backend.types import from_epoch_ms


async def list_flags(
    session: AsyncSession,
    caller: Caller,
    *,
    status: str | None = "open",
    kind: str | None = None,
    inspector_id: int | None = None,
    meter_id: str | None = None,
    limit: int = 500,
) -> list[Flag]:
    query = (
        select(FieldFlag, FieldReading.client_id, Meter.meter_id)
        .join(FieldReading, FieldReading.id == FieldFlag.field_reading_id)
        .join(Meter, Meter.id == FieldFlag.meter_pk)
        .outerjoin(Customer, Customer.id == Meter.customer_id)
        .where(customer_scope(caller))
        .order_by(FieldFlag.created_at, FieldFlag.id)
        .limit(limit)
    )
    if status is not None:
        if status not in {s.value for s in FlagStatus}:
            raise Invalid(
                E.NOT_ONE_OF,
                f"status {status!r} is not open or resolved",
                field="status",
                value=status,
                choices="open, resolved",
            )
        query = query.where(FieldFlag.status == FlagStatus(status))
    if kind is not None:
        if kind not in {k.value for k in FlagKind}:
            choices = ", ".join(k.value for k in FlagKind)
            raise Invalid(
                E.NOT_ONE_OF,
                f"kind {kind!r} is not one of {choices}",
                field="kind",
                value=kind,
                choices=choices,
            )
        query = query.where(FieldFlag.kind == kind)
    if inspector_id is not None:
        query = query.where(FieldFlag.inspector_id == inspector_id)
    if meter_id is not None:
        query = query.where(Meter.meter_id == meter_id)
    return [flag_view(f, cid, mid) for f, cid, mid in await session.execute(query)]


async def resolve(
    session: AsyncSession, caller: Caller, flag_id: int, body: FlagResolve, now_ms: int
) -> Flag:
    row = (
        await session.execute(
            select(FieldFlag, FieldReading.client_id, Meter.meter_id)
            .join(FieldReading, FieldReading.id == FieldFlag.field_reading_id)
            .join(Meter, Meter.id == FieldFlag.meter_pk)
            .outerjoin(Customer, Customer.id == Meter.customer_id)
            .where(FieldFlag.id == flag_id, customer_scope(caller))
        )
    ).first()
    if row is None:
        raise NotFound(E.FLAG_NOT_FOUND, f"flag {flag_id} not found", flag=flag_id)
    flag, client_id, meter_id = row
    if flag.status == FlagStatus.RESOLVED:
        if flag.resolution == body.note and flag.resolved_by == caller.user_id:
            return flag_view(flag, client_id, meter_id)  # a resend
        raise Conflict(
            E.FLAG_RESOLVED,
            f"flag {flag_id} is already resolved: {flag.resolution}",
            flag=flag_id,
            resolution=flag.resolution,
        )
    flag.status = FlagStatus.RESOLVED
    flag.resolved_by = caller.user_id
    flag.resolved_at = from_epoch_ms(now_ms)
    flag.resolution = body.note
    await session.commit()
    return flag_view(flag, client_id, meter_id)
