"""Who may see a photo: its uploader, the back office, and inspectors whose grid holds a
reading that shows it."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts.models import Customer
from backend.auth.guards import Caller
from backend.auth.scope import customer_scope
from backend.field.readings.models import FieldPhoto, FieldReading
from backend.metering.models import Meter


async def visible_photo(session: AsyncSession, caller: Caller, sha256: str) -> FieldPhoto | None:
    row = await session.get(FieldPhoto, sha256)
    if row is None or caller.unscoped or row.uploaded_by == caller.user_id:
        return row
    shown = await session.scalar(
        select(FieldReading.id)
        .join(Meter, Meter.id == FieldReading.meter_pk)
        .join(Customer, Customer.id == Meter.customer_id)
        .where(FieldReading.photo_sha256 == sha256, customer_scope(caller))
        .limit(1)
    )
    return row if shown is not None else None
