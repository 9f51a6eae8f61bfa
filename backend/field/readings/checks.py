"""Gather the facts each plausibility check needs and run them on one field reading."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts.models import Customer
from backend.field.geo import haversine_m
from backend.field.readings import plausibility as p
from backend.field.readings.history import ami_around, previous_sample, usual_before
from backend.field.readings.models import FieldReading, FieldReadingKind
from backend.field.readings.schemas import TOTAL
from backend.field.scope import meter_position
from backend.field.tracks.models import TrackPoint
from backend.metering.models import Meter
from backend.metering.quarantine import service as quarantine
from backend.metering.quarantine.rules import Hold, HoldReason, limits_of
from backend.settings import Settings

REPEAT_LIMIT = 20


async def value_findings(
    session: AsyncSession, settings: Settings, meter_pk: int, ts: int, value: int
) -> list[p.Finding]:
    """Checks on the register value: below previous, usual range, AMI agreement."""
    th = p.Thresholds.from_settings(settings)
    previous = await previous_sample(session, meter_pk, ts)
    usual = await usual_before(session, meter_pk, previous, settings.field_usual_lookback_days, th)
    before, after = await ami_around(
        session, meter_pk, ts, settings.field_ami_window_hours * p.HOUR_MS
    )
    found = [
        p.check_value_below_previous(value, previous, th),
        p.check_consumption(value, ts, previous, usual, th),
        p.check_ami(value, before, after, th),
    ]
    return [f for f in found if f is not None]


async def holds(
    session: AsyncSession,
    settings: Settings,
    meter: Meter,
    ts: int,
    registers: dict[str, int],
    now_ms: int,
    findings: list[p.Finding],
) -> dict[str, Hold]:
    """The registers that wait for a person before billing (quarantine): an implausible value
    (beyond the register's range, a jump beyond the meter's rating), and the total when the
    reading disagrees with the meter's AMI readings beyond the tolerance."""
    limits = limits_of(settings)
    held: dict[str, Hold] = {}
    for quantity, value in sorted(registers.items()):
        hold = await quarantine.judge_reading(session, meter, quantity, ts, value, now_ms, limits)
        if hold is not None:
            held[quantity] = hold
    ami = next((f for f in findings if f.kind == p.FlagKind.AMI_DISAGREEMENT), None)
    if ami is not None and TOTAL not in held:
        held[TOTAL] = Hold(HoldReason.AMI_DISAGREEMENT, dict(ami.params))
    return held


async def position_findings(
    session: AsyncSession,
    settings: Settings,
    reading: FieldReading,
    meter: Meter,
    customer: Customer | None,
) -> list[p.Finding]:
    """Checks on where and when: distance, accuracy, speed, reused fix, lateness, clock."""
    if reading.latitude is None or reading.longitude is None or reading.fix_at is None:
        return []
    th = p.Thresholds.from_settings(settings)
    fix = p.Fix(reading.fix_at, reading.latitude, reading.longitude, reading.accuracy_m or 0.0)
    here = meter_position(meter, customer)
    found = [
        p.check_far_from_meter(fix, here, th),
        p.check_accuracy(fix.accuracy_m, th),
        p.check_speed(fix, await neighbour_fixes(session, reading), th),
        p.check_repeated_coordinates(await same_fix(session, reading, here), th),
        p.check_late_submission(fix.ts, reading.received_at, th),
        p.check_clock_skew(reading.device_at, fix.ts, th),
    ]
    return [f for f in found if f is not None]


async def neighbour_fixes(session: AsyncSession, reading: FieldReading) -> list[p.Fix]:
    """The inspector's fixes just before and just after this one, from readings and track."""
    assert reading.fix_at is not None
    at = reading.fix_at
    candidates: list[p.Fix] = []
    for older in (True, False):
        tq = select(TrackPoint.ts, TrackPoint.latitude, TrackPoint.longitude, TrackPoint.accuracy_m)
        tq = tq.where(TrackPoint.inspector_id == reading.inspector_id)
        tq = (
            tq.where(TrackPoint.ts <= at).order_by(TrackPoint.ts.desc())
            if older
            else tq.where(TrackPoint.ts >= at).order_by(TrackPoint.ts)
        )
        rq = select(
            FieldReading.fix_at,
            FieldReading.latitude,
            FieldReading.longitude,
            FieldReading.accuracy_m,
        ).where(
            FieldReading.inspector_id == reading.inspector_id,
            FieldReading.fix_at.is_not(None),
            FieldReading.client_id != reading.client_id,
        )
        rq = (
            rq.where(FieldReading.fix_at <= at).order_by(FieldReading.fix_at.desc())
            if older
            else rq.where(FieldReading.fix_at >= at).order_by(FieldReading.fix_at)
        )
        side = [
            p.Fix(r[0], r[1], r[2], r[3] or 0.0)
            for q in (tq.limit(1), rq.limit(1))
            for r in (await session.execute(q)).all()
            if r[0] is not None and r[1] is not None and r[2] is not None
        ]
        if side:
            candidates.append(min(side, key=lambda f: abs(f.ts - at)))
    return candidates


async def same_fix(
    session: AsyncSession, reading: FieldReading, here: tuple[float, float] | None
) -> list[p.SameFix]:
    rows = (
        await session.execute(
            select(FieldReading.client_id, Meter, Customer)
            .join(Meter, Meter.id == FieldReading.meter_pk)
            .outerjoin(Customer, Customer.id == Meter.customer_id)
            .where(
                FieldReading.latitude == reading.latitude,
                FieldReading.longitude == reading.longitude,
                FieldReading.meter_pk != reading.meter_pk,
                FieldReading.kind == FieldReadingKind.READING,
                FieldReading.client_id != reading.client_id,
            )
            .order_by(FieldReading.id)
            .limit(REPEAT_LIMIT)
        )
    ).all()
    out = []
    for client_id, meter, customer in rows:
        there = meter_position(meter, customer)
        apart = None if here is None or there is None else haversine_m(*here, *there)
        out.append(p.SameFix(meter.meter_id, client_id, apart))
    return out
