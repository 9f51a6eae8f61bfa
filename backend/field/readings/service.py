"""Field readings: submit (idempotent by the device's id), correct, approve; never change.

A submission is the confirmation: the app shows the confirm step on the device, offline, and
only then queues the reading, so the server holds no drafts and no reading is ever mutable.
Resending the same id with the same body returns the same reading; the same id with another
body is a conflict. See docs/field.md.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import msgspec
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts.models import Customer
from backend.auth.guards import Caller
from backend.auth.scope import customer_scope
from backend.errors import Conflict, Invalid, NotFound
from backend.errors import ErrorCode as E
from backend.field.books.cycles import cycle_of
from backend.field.books.models import ReadingBook, ReadingBookItem
from backend.field.readings import checks, feed
from backend.field.readings.models import FieldFlag, FieldPhoto, FieldReading, FieldReadingKind
from backend.field.readings.plausibility import Finding
from backend.field.readings.schemas import (
    READABLE,
    TOTAL,
    CheckFlag,
    CheckHold,
    CorrectionSubmit,
    ReadingCheck,
    ReadingSubmit,
)
from backend.field.readings.schemas import FieldReading as FieldReadingOut
from backend.field.readings.view import pending_correction_of, view
from backend.field.scope import visible_meter, visible_meter_pk
from backend.metering.derived import DerivedData
from backend.metering.models import Meter, MeterStatus, ReadingSource
from backend.metering.quarantine import service as quarantine
from backend.metering.quarantine.rules import Hold
from backend.settings import Settings
from backend.types import from_epoch_ms

FUTURE_SLACK_MS = 5 * 60_000  # a phone clock a little ahead is normal; hours ahead is not


class Submitted(msgspec.Struct):
    reading: FieldReadingOut
    replayed: bool  # True: this id was seen before with this body; nothing new was stored


def body_digest(body: msgspec.Struct) -> str:
    """The same submission, however its JSON was spelt, hashes the same."""
    return hashlib.sha256(msgspec.json.encode(body, order="sorted")).hexdigest()


def check_registers(registers: dict[str, int]) -> None:
    unknown = sorted(set(registers) - READABLE)
    if unknown:
        raise Invalid(
            E.REGISTERS_UNREADABLE,
            f"registers: {', '.join(unknown)} not readable; use {', '.join(sorted(READABLE))}",
            field="registers",
            registers=", ".join(unknown),
            readable=", ".join(sorted(READABLE)),
        )
    if TOTAL not in registers:
        raise Invalid(
            E.TOTAL_REQUIRED,
            f"registers: {TOTAL} (the total, in Wh) is required",
            field="registers",
            register=TOTAL,
        )


def check_not_future(value: int, now_ms: int, field: str) -> None:
    if value > now_ms + FUTURE_SLACK_MS:
        ahead = (value - now_ms) / 60_000
        raise Invalid(
            E.CLOCK_AHEAD,
            f"{field} is {ahead:.0f} min in the future (server time): check the phone's date, "
            "time and time zone settings",
            field=field,
            minutes=round(ahead),
        )


async def check_photo(session: AsyncSession, sha: str | None) -> None:
    if sha is not None and await session.get(FieldPhoto, sha) is None:
        raise Invalid(
            E.PHOTO_NOT_UPLOADED,
            f"photo_sha256: no photo {sha} was uploaded; upload it first (POST /api/field/photos)",
            field="photo_sha256",
            photo=sha,
        )


async def _existing(
    session: AsyncSession, caller: Caller, client_id: str, digest: str, kind: FieldReadingKind
) -> Submitted | None:
    row = await session.scalar(select(FieldReading).where(FieldReading.client_id == client_id))
    if row is None:
        return None
    try:
        await visible_meter_pk(session, caller, row.meter_pk)
    except NotFound:
        raise Conflict(
            E.CLIENT_ID_TAKEN,
            f"client_id {client_id} is already used by another submission",
            field="client_id",
            client_id=client_id,
        ) from None
    if row.body_sha256 != digest or row.kind != kind:
        received = datetime.fromtimestamp(row.received_at / 1000, UTC).isoformat()
        raise Conflict(
            E.RESEND_DIFFERS,
            f"client_id {client_id} was already used for a different {row.kind} (received "
            f"{received}); a resend must carry exactly the same body, and a new reading needs "
            "a new client_id",
            field="client_id",
            client_id=client_id,
        )
    return Submitted(await view(session, row), replayed=True)


async def _book_for(
    session: AsyncSession, inspector_id: int, meter_pk: int, cycle: str
) -> int | None:
    return await session.scalar(
        select(ReadingBook.id)
        .join(ReadingBookItem, ReadingBookItem.book_id == ReadingBook.id)
        .where(
            ReadingBook.inspector_id == inspector_id,
            ReadingBook.cycle == cycle,
            ReadingBookItem.meter_pk == meter_pk,
        )
    )


def _flags(row: FieldReading, findings: list[Finding]) -> list[FieldFlag]:
    return [
        FieldFlag(
            field_reading_id=row.id,
            meter_pk=row.meter_pk,
            inspector_id=row.inspector_id,
            kind=f.kind.value,
            detail=f.detail,
            detail_code=f.code.value,
            detail_params=f.params,
            created_at=from_epoch_ms(row.received_at),
        )
        for f in findings
    ]


async def _meter_to_read(
    session: AsyncSession, caller: Caller, body: ReadingSubmit
) -> tuple[Meter, Customer | None]:
    check_registers(body.registers)
    meter, customer = await visible_meter(session, caller, body.meter_id)
    if meter.status == MeterStatus.REMOVED:
        raise Invalid(
            E.METER_REMOVED,
            f"meter {meter.meter_id} has been removed; read the meter that replaced it",
            field="meter_id",
            meter=meter.meter_id,
        )
    return meter, customer


async def _evaluate(
    session: AsyncSession,
    caller: Caller,
    body: ReadingSubmit,
    settings: Settings,
    now_ms: int,
    meter: Meter,
    customer: Customer | None,
    client_id: str,
    digest: str,
) -> tuple[FieldReading, list[Finding], dict[str, Hold]]:
    """The reading as it would be stored, every check's findings, and the registers that
    would wait for review before billing — nothing is stored here."""
    # the fix time becomes the reading's time, so it may not lie ahead; the phone's own clock
    # is only evidence (a wrong one is a clock_skew flag, never a reading the phone cannot send)
    check_not_future(body.fix.fix_at, now_ms, "fix.fix_at")
    ts = body.fix.fix_at  # docs/field.md "Which time is the reading's time"
    await feed.ensure_free(session, meter.id, meter.meter_id, ts, sorted(body.registers))
    row = FieldReading(
        client_id=client_id,
        kind=FieldReadingKind.READING,
        meter_pk=meter.id,
        inspector_id=caller.user_id,
        book_id=await _book_for(session, caller.user_id, meter.id, cycle_of(ts, settings.timezone)),
        registers=dict(sorted(body.registers.items())),
        photo_sha256=body.photo_sha256,
        latitude=body.fix.latitude,
        longitude=body.fix.longitude,
        accuracy_m=body.fix.accuracy_m,
        fix_at=body.fix.fix_at,
        device_at=body.device_at,
        ts=ts,
        received_at=now_ms,
        body_sha256=digest,
        note=body.note,
    )
    findings = await checks.value_findings(session, settings, meter.id, ts, body.registers[TOTAL])
    findings += await checks.position_findings(session, settings, row, meter, customer)
    held = await checks.holds(session, settings, meter, ts, body.registers, now_ms, findings)
    return row, findings, held


async def check_reading(
    session: AsyncSession, caller: Caller, body: ReadingSubmit, settings: Settings, now_ms: int
) -> ReadingCheck:
    """What submitting this body would find, before the inspector confirms: every flag and
    every register that would wait for review. Nothing is stored; the same body may then be
    submitted as it is."""
    meter, customer = await _meter_to_read(session, caller, body)
    _row, findings, held = await _evaluate(
        session, caller, body, settings, now_ms, meter, customer, str(body.client_id), ""
    )
    return ReadingCheck(
        flags=[CheckFlag(kind=f.kind.value, code=f.code.value, params=f.params) for f in findings],
        holds=[
            CheckHold(quantity=q, code=h.reason.value, params=h.params)
            for q, h in sorted(held.items())
        ],
    )


async def submit_reading(
    session: AsyncSession,
    caller: Caller,
    body: ReadingSubmit,
    settings: Settings,
    now_ms: int,
    derived: DerivedData,
) -> Submitted:
    client_id = str(body.client_id)
    digest = body_digest(body)
    replay = await _existing(session, caller, client_id, digest, FieldReadingKind.READING)
    if replay is not None:
        return replay
    meter, customer = await _meter_to_read(session, caller, body)
    ts = body.fix.fix_at
    await check_photo(session, body.photo_sha256)
    row, findings, held = await _evaluate(
        session, caller, body, settings, now_ms, meter, customer, client_id, digest
    )
    session.add(row)
    try:
        await session.flush()
        session.add_all(_flags(row, findings))
        await feed.insert(session, meter.id, ts, row.registers, now_ms, held=held)
        session.add_all(
            quarantine.hold_rows(meter.id, ts, row.registers, held, ReadingSource.FIELD, now_ms)
        )
        await session.commit()
    except IntegrityError:
        # the same id raced in from a second connection of the same device (or the key was
        # taken meanwhile): answer as a resend would, or say what collided
        await session.rollback()
        replay = await _existing(session, caller, client_id, digest, FieldReadingKind.READING)
        if replay is not None:
            return replay
        await feed.ensure_free(session, meter.id, meter.meter_id, ts, sorted(body.registers))
        raise
    await feed.committed(derived, meter.id, ts, sorted(body.registers))
    return Submitted(await view(session, row), replayed=False)


async def submit_correction(
    session: AsyncSession, caller: Caller, body: CorrectionSubmit, settings: Settings, now_ms: int
) -> Submitted:
    client_id = str(body.client_id)
    digest = body_digest(body)
    replay = await _existing(session, caller, client_id, digest, FieldReadingKind.CORRECTION)
    if replay is not None:
        return replay
    original = await session.scalar(
        select(FieldReading).where(FieldReading.client_id == str(body.corrects))
    )
    if original is None:
        raise NotFound(
            E.READING_NOT_FOUND,
            f"reading {body.corrects} not found",
            field="corrects",
            reading=str(body.corrects),
        )
    meter, _customer = await visible_meter_pk(
        session, caller, original.meter_pk
    )  # 404 outside grid
    if original.kind != FieldReadingKind.READING:
        raise Invalid(
            E.CORRECTION_OF_CORRECTION,
            f"corrects: {body.corrects} is itself a correction; refer to the original reading",
            field="corrects",
            reading=str(body.corrects),
        )
    unknown = sorted(set(body.registers) - READABLE)
    if unknown or not body.registers:
        raise Invalid(
            E.CORRECTION_REGISTERS,
            f"registers: give the corrected readable registers ({', '.join(unknown)})",
            field="registers",
            readable=", ".join(sorted(READABLE)),
        )
    pending = await pending_correction_of(session, original.id)
    if pending is not None:
        raise Conflict(
            E.CORRECTION_PENDING,
            f"correction {pending.client_id} of this reading is still pending approval; "
            "a supervisor must decide it first",
            field="corrects",
            correction=pending.client_id,
        )
    if body.fix is not None:
        check_not_future(body.fix.fix_at, now_ms, "fix.fix_at")
    await check_photo(session, body.photo_sha256)
    row = FieldReading(
        client_id=client_id,
        kind=FieldReadingKind.CORRECTION,
        meter_pk=original.meter_pk,
        inspector_id=caller.user_id,
        book_id=original.book_id,
        corrects_id=original.id,
        reason=body.reason,
        registers=dict(sorted(body.registers.items())),
        photo_sha256=body.photo_sha256,
        latitude=body.fix.latitude if body.fix else None,
        longitude=body.fix.longitude if body.fix else None,
        accuracy_m=body.fix.accuracy_m if body.fix else None,
        fix_at=body.fix.fix_at if body.fix else None,
        device_at=body.device_at,
        ts=original.ts,  # it corrects the value at the original reading's instant
        received_at=now_ms,
        body_sha256=digest,
        note=body.note,
    )
    findings: list[Finding] = []
    if TOTAL in body.registers:  # so the supervisor sees what the corrected value implies
        findings = await checks.value_findings(
            session, settings, meter.id, original.ts, body.registers[TOTAL]
        )
    session.add(row)
    try:
        await session.flush()
        session.add_all(_flags(row, findings))
        await session.commit()
    except IntegrityError:
        await session.rollback()
        replay = await _existing(session, caller, client_id, digest, FieldReadingKind.CORRECTION)
        if replay is not None:
            return replay
        raise
    return Submitted(await view(session, row), replayed=False)


async def get_reading(session: AsyncSession, caller: Caller, client_id: str) -> FieldReadingOut:
    row = await session.scalar(select(FieldReading).where(FieldReading.client_id == client_id))
    if row is None:
        raise NotFound(E.READING_NOT_FOUND, f"reading {client_id} not found", reading=client_id)
    await visible_meter_pk(session, caller, row.meter_pk)
    return await view(session, row)


async def list_readings(
    session: AsyncSession,
    caller: Caller,
    *,
    meter_id: str | None = None,
    inspector_id: int | None = None,
    since_ms: int | None = None,
    until_ms: int | None = None,
    limit: int = 200,
) -> list[FieldReadingOut]:
    query = (
        select(FieldReading)
        .join(Meter, Meter.id == FieldReading.meter_pk)
        .outerjoin(Customer, Customer.id == Meter.customer_id)
        .where(customer_scope(caller))
        .order_by(FieldReading.ts.desc(), FieldReading.id.desc())
        .limit(limit)
    )
    if meter_id is not None:
        query = query.where(Meter.meter_id == meter_id)
    if inspector_id is not None:
        query = query.where(FieldReading.inspector_id == inspector_id)
    if since_ms is not None:
        query = query.where(FieldReading.ts >= since_ms)
    if until_ms is not None:
        query = query.where(FieldReading.ts < until_ms)
    return [await view(session, row) for row in await session.scalars(query)]
