"""Quarantine: judge a reading before it reaches money, hold it, and let a person decide.

* Ingestion judges each batch in its plan (``backend.metering.ingest.plan``, pure) and stores
  implausible readings held; field readings are judged here (:func:`judge_reading`), with the
  database's previous accepted reading as the jump baseline.
* A held reading has the quality ``held`` in ``readings`` (``backend.metering.intervals``: not
  accepted, so neither consumption nor billing takes it) and a ``reading_holds`` row.
* :func:`decide` is a compare-and-set on the hold's status: exactly one release or reject
  wins; the loser gets 409. A release restores the reading's quality and announces it to the
  derived-data path, so consumption and billing take it exactly as a new reading; a reject
  makes it ``invalid`` for good.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.guards import Caller
from backend.auth.scope import meter_scope
from backend.errors import Conflict, NotFound
from backend.errors import ErrorCode as E
from backend.metering.derived import DerivedData, intervals_from
from backend.metering.intervals import ACCEPTED_QUALITIES, HELD, Point
from backend.metering.models import Meter, Reading
from backend.metering.quarantine.models import HoldStatus, ReadingHold
from backend.metering.quarantine.rules import Hold, Limits, Rating, judge
from backend.metering.quarantine.schemas import HeldReading, HoldDecision
from backend.texts import Text
from backend.types import utcnow
from protocols.contract import Quality


def rating_of(meter: Meter) -> Rating:
    return Rating(meter.rated_current_a, meter.voltage_v, meter.phases)


async def previous_accepted(
    session: AsyncSession, meter_pk: int, quantity: str, ts: int
) -> Point | None:
    """The chain's last accepted reading before ``ts``: where a jump is measured from."""
    row = (
        await session.execute(
            select(Reading.ts, Reading.value)
            .where(
                Reading.meter_pk == meter_pk,
                Reading.quantity == quantity,
                Reading.ts < ts,
                Reading.quality.in_(ACCEPTED_QUALITIES),
            )
            .order_by(Reading.ts.desc())
            .limit(1)
        )
    ).first()
    return Point(row[0], row[1]) if row else None


async def judge_reading(
    session: AsyncSession, meter: Meter, quantity: str, ts: int, value: int, now_ms: int,
    limits: Limits,
) -> Hold | None:  # fmt: skip
    """The rules (``rules.judge``) for one reading about to be stored."""
    previous = await previous_accepted(session, meter.id, quantity, ts)
    return judge(quantity, ts, value, now_ms, limits, rating=rating_of(meter), previous=previous)


def hold_rows(
    meter_pk: int, ts: int, values: dict[str, int], holds: dict[str, Hold], source: str,
    now_ms: int,
) -> list[ReadingHold]:  # fmt: skip
    """The hold rows for readings stored held (their quality in ``readings`` is ``held``)."""
    return [
        ReadingHold(
            meter_pk=meter_pk,
            quantity=q,
            ts=ts,
            value=values[q],
            quality=Quality.GOOD.value,
            source=source,
            reason=hold.reason.value,
            params=dict(hold.params),
            status=HoldStatus.HELD,
            held_at=now_ms,
        )
        for q, hold in sorted(holds.items())
    ]


def _out(hold: ReadingHold, meter_id: str) -> HeldReading:
    return HeldReading(
        id=hold.id,
        meter_id=meter_id,
        quantity=hold.quantity,
        ts=hold.ts,
        value=hold.value,
        source=hold.source,
        reason=Text(hold.reason, dict(hold.params or {})),
        status=hold.status.value,
        held_at=hold.held_at,
        decided_by=hold.decided_by,
        decided_at=hold.decided_at,
        note=hold.note,
    )


async def list_holds(
    session: AsyncSession,
    caller: Caller,
    *,
    status: HoldStatus | None = HoldStatus.HELD,
    meter_id: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[HeldReading]:
    query = (
        select(ReadingHold, Meter.meter_id)
        .join(Meter, Meter.id == ReadingHold.meter_pk)
        .where(meter_scope(caller))
        .order_by(ReadingHold.held_at, ReadingHold.id)
        .limit(limit)
        .offset(offset)
    )
    if status is not None:
        query = query.where(ReadingHold.status == status)
    if meter_id is not None:
        query = query.where(Meter.meter_id == meter_id)
    return [_out(h, m) for h, m in (await session.execute(query)).all()]


async def _visible_hold(
    session: AsyncSession, caller: Caller, hold_id: int
) -> tuple[ReadingHold, str]:
    row = (
        await session.execute(
            select(ReadingHold, Meter.meter_id)
            .join(Meter, Meter.id == ReadingHold.meter_pk)
            .where(ReadingHold.id == hold_id, meter_scope(caller))
        )
    ).first()
    if row is None:
        raise NotFound(E.HOLD_NOT_FOUND, f"held reading {hold_id} not found", hold=hold_id)
    return row[0], row[1]


async def get_hold(session: AsyncSession, caller: Caller, hold_id: int) -> HeldReading:
    hold, meter_id = await _visible_hold(session, caller, hold_id)
    return _out(hold, meter_id)


async def decide(
    session: AsyncSession,
    caller: Caller,
    hold_id: int,
    body: HoldDecision,
    derived: DerivedData,
    *,
    release: bool,
) -> HeldReading:
    """Release or reject a held reading: one compare-and-set on its status, so exactly one
    decision wins however many arrive at once (the others: 409 ``hold_decided``)."""
    hold, meter_id = await _visible_hold(session, caller, hold_id)
    status = HoldStatus.RELEASED if release else HoldStatus.REJECTED
    won = await session.execute(
        update(ReadingHold)
        .where(ReadingHold.id == hold.id, ReadingHold.status == HoldStatus.HELD)
        .values(status=status, decided_by=caller.user_id, decided_at=utcnow(), note=body.note)
        .execution_options(synchronize_session=False)
    )
    if won.rowcount != 1:  # type: ignore[attr-defined]
        await session.rollback()
        current = await session.scalar(select(ReadingHold.status).where(ReadingHold.id == hold_id))
        raise Conflict(
            E.HOLD_DECIDED,
            f"held reading {hold_id} was already {current}",
            hold=hold_id,
            status=str(current),
        )
    quality = hold.quality if release else Quality.INVALID.value
    await session.execute(
        update(Reading)
        .where(
            Reading.meter_pk == hold.meter_pk,
            Reading.quantity == hold.quantity,
            Reading.ts == hold.ts,
            Reading.quality == HELD,
        )
        .values(quality=quality)
        .execution_options(synchronize_session=False)
    )
    await session.commit()
    if release:  # consumption now, billing on the path's task: as a new reading
        await derived.announce_now(intervals_from([(hold.meter_pk, hold.quantity, hold.ts)]))
    await session.refresh(hold)
    return _out(hold, meter_id)


async def is_held(session: AsyncSession, meter_pk: int, ts: int) -> bool:
    """Whether a register of this meter at this instant waits for a decision."""
    found = await session.scalar(
        select(ReadingHold.id)
        .where(
            ReadingHold.meter_pk == meter_pk,
            ReadingHold.ts == ts,
            ReadingHold.status == HoldStatus.HELD,
        )
        .limit(1)
    )
    return found is not None
