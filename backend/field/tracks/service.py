"""Track points (idempotent batches), the replay of a day, and coverage of a reading book."""

from __future__ import annotations

import bisect
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts.models import Customer
from backend.auth.guards import Caller
from backend.auth.models import Role, User
from backend.errors import ErrorCode as E
from backend.errors import Invalid, NotFound
from backend.field.books.cycles import cycle_bounds, ids, local_day_bounds, local_day_of
from backend.field.books.models import FieldTask, FieldTaskStatus, ReadingBookItem
from backend.field.books.routing import path_length_m
from backend.field.books.schemas import Coverage, CoverageItem
from backend.field.books.service import visible_book
from backend.field.readings.models import FieldFlag, FieldReading, FieldReadingKind
from backend.field.readings.plausibility import FlagKind
from backend.field.readings.service import FUTURE_SLACK_MS
from backend.field.tracks.models import TrackPoint
from backend.field.tracks.schemas import (
    PointEvent,
    ReadingEvent,
    Replay,
    TrackPointIn,
    TrackUpload,
    TrackUploaded,
)
from backend.metering.models import Meter


async def upload(
    session: AsyncSession, caller: Caller, body: TrackUpload, now_ms: int
) -> TrackUploaded:
    for n, p in enumerate(body.points):
        if p.ts > now_ms + FUTURE_SLACK_MS:
            raise Invalid(
                E.IN_THE_FUTURE,
                f"points[{n}].ts is in the future (server time)",
                field=f"points[{n}].ts",
            )
    batch: dict[int, TrackPointIn] = {}
    for p in body.points:  # within one batch the first point of an instant wins
        batch.setdefault(p.ts, p)
    stored = set(
        await session.scalars(
            select(TrackPoint.ts).where(
                TrackPoint.inspector_id == caller.user_id, TrackPoint.ts.in_(sorted(batch))
            )
        )
    )
    new = [p for ts, p in sorted(batch.items()) if ts not in stored]
    if new:
        dialect = session.get_bind().dialect.name
        insert_ = postgresql.insert if dialect == "postgresql" else sqlite.insert
        stmt = insert_(TrackPoint).values(
            [
                {
                    "inspector_id": caller.user_id,
                    "ts": p.ts,
                    "latitude": p.latitude,
                    "longitude": p.longitude,
                    "accuracy_m": p.accuracy_m,
                    "received_at": now_ms,
                }
                for p in new
            ]
        )
        await session.execute(stmt.on_conflict_do_nothing(index_elements=["inspector_id", "ts"]))
        await session.commit()
    return TrackUploaded(accepted=len(new), duplicates=len(body.points) - len(new))


async def _inspector(session: AsyncSession, caller: Caller, inspector_id: int) -> User:
    user = await session.get(User, inspector_id)
    if (user is None or user.role != Role.INSPECTOR) or (
        not caller.unscoped and caller.user_id != inspector_id
    ):
        raise NotFound(
            E.INSPECTOR_NOT_FOUND, f"inspector {inspector_id} not found", inspector=inspector_id
        )
    return user


async def _points(session: AsyncSession, inspector_id: int, lo: int, hi: int) -> list[TrackPoint]:
    return list(
        await session.scalars(
            select(TrackPoint)
            .where(TrackPoint.inspector_id == inspector_id, TrackPoint.ts >= lo, TrackPoint.ts < hi)
            .order_by(TrackPoint.ts)
        )
    )


async def replay(
    session: AsyncSession, caller: Caller, inspector_id: int, day: str, timezone: str
) -> Replay:
    await _inspector(session, caller, inspector_id)
    lo, hi = local_day_bounds(day, timezone)
    points = await _points(session, inspector_id, lo, hi)
    rows = (
        await session.execute(
            select(FieldReading, Meter.meter_id, Customer.number, Customer.address)
            .join(Meter, Meter.id == FieldReading.meter_pk)
            .outerjoin(Customer, Customer.id == Meter.customer_id)
            .where(
                FieldReading.inspector_id == inspector_id,
                FieldReading.fix_at >= lo,
                FieldReading.fix_at < hi,
            )
            .order_by(FieldReading.fix_at, FieldReading.id)
        )
    ).all()
    flags: dict[int, list[str]] = {}
    reading_ids = [r[0].id for r in rows]
    if reading_ids:
        for rid, kind in await session.execute(
            select(FieldFlag.field_reading_id, FieldFlag.kind)
            .where(FieldFlag.field_reading_id.in_(reading_ids))
            .order_by(FieldFlag.id)
        ):
            flags.setdefault(rid, []).append(kind)
    timeline: list[PointEvent | ReadingEvent] = [
        PointEvent(ts=p.ts, latitude=p.latitude, longitude=p.longitude, accuracy_m=p.accuracy_m)
        for p in points
    ]
    for reading, meter_id, number, address in rows:
        assert reading.fix_at is not None
        timeline.append(
            ReadingEvent(
                ts=reading.fix_at,
                reading_id=reading.client_id,
                kind=reading.kind.value,
                meter_id=meter_id,
                customer_number=number,
                address=address or "",
                registers=dict(reading.registers),
                latitude=reading.latitude or 0.0,
                longitude=reading.longitude or 0.0,
                accuracy_m=reading.accuracy_m or 0.0,
                flags=flags.get(reading.id, []),
            )
        )
    # points before readings at the same instant: the walk arrives, then the reading happens
    timeline.sort(key=lambda e: (e.ts, isinstance(e, ReadingEvent)))
    return Replay(
        inspector_id=inspector_id,
        date=day,
        timezone=timezone,
        first_ts=timeline[0].ts if timeline else None,
        last_ts=timeline[-1].ts if timeline else None,
        walked_m=round(path_length_m([(p.latitude, p.longitude) for p in points])),
        points=len(points),
        readings=len(rows),
        timeline=timeline,
    )


def in_order(seqs: Sequence[int]) -> set[int]:
    """Indices of a longest strictly increasing run of route positions (patience sorting):
    the readings that followed the route. The others were read out of order."""
    tails: list[int] = []  # tails[k]: seq value ending an increasing run of length k+1
    tail_idx: list[int] = []
    parent = [-1] * len(seqs)
    for i, s in enumerate(seqs):
        k = bisect.bisect_left(tails, s)
        if k == len(tails):
            tails.append(s)
            tail_idx.append(i)
        else:
            tails[k] = s
            tail_idx[k] = i
        parent[i] = tail_idx[k - 1] if k > 0 else -1
    keep: set[int] = set()
    i = tail_idx[-1] if tail_idx else -1
    while i != -1:
        keep.add(i)
        i = parent[i]
    return keep


async def coverage(session: AsyncSession, caller: Caller, book_id: int, timezone: str) -> Coverage:
    book = await visible_book(session, caller, book_id)
    lo, hi = cycle_bounds(book.cycle, timezone)
    rows = (
        await session.execute(
            select(ReadingBookItem, Meter.meter_id, Customer.number, Customer.address)
            .join(Customer, Customer.id == ReadingBookItem.customer_id)
            .outerjoin(Meter, Meter.id == ReadingBookItem.meter_pk)
            .where(ReadingBookItem.book_id == book.id)
            .order_by(ReadingBookItem.seq)
        )
    ).all()
    meter_pks = [r[0].meter_pk for r in rows if r[0].meter_pk is not None]
    first_read: dict[int, FieldReading] = {}
    for reading in await session.scalars(
        select(FieldReading)
        .where(
            FieldReading.kind == FieldReadingKind.READING,
            FieldReading.meter_pk.in_(meter_pks),
            FieldReading.ts >= lo,
            FieldReading.ts < hi,
        )
        .order_by(FieldReading.ts, FieldReading.id)
    ):
        first_read.setdefault(reading.meter_pk, reading)
    far_ids = set(
        await session.scalars(
            select(FieldFlag.field_reading_id).where(
                FieldFlag.kind == FlagKind.FAR_FROM_METER.value,
                FieldFlag.field_reading_id.in_([r.id for r in first_read.values()]),
            )
        )
    )
    open_tasks = set(
        await session.scalars(select(FieldTask.id).where(FieldTask.status == FieldTaskStatus.OPEN))
    )
    missed: list[CoverageItem] = []
    read: list[CoverageItem] = []
    far: list[CoverageItem] = []
    for item, meter_id, number, address in rows:
        entry = CoverageItem(
            seq=item.seq, meter_id=meter_id, customer_number=number, address=address
        )
        if item.meter_pk is None:
            if any(t in open_tasks for t in ids(item.task_ids)):
                missed.append(entry)
            continue
        first = first_read.get(item.meter_pk)
        if first is None:
            missed.append(entry)
            continue
        reading = first
        entry.reading_id = reading.client_id
        entry.read_at = reading.ts
        read.append(entry)
        if reading.id in far_ids:
            far.append(entry)
    read.sort(key=lambda e: (e.read_at or 0, e.seq))
    keep = in_order([e.seq for e in read])
    out_of_order = sorted((e for i, e in enumerate(read) if i not in keep), key=lambda e: e.seq)
    by_day: dict[str, list[int]] = {}
    for e in read:
        assert e.read_at is not None
        by_day.setdefault(local_day_of(e.read_at, timezone), []).append(e.read_at)
    walked = 0.0
    for day in by_day:
        d_lo, d_hi = local_day_bounds(day, timezone)
        pts = await _points(session, book.inspector_id, d_lo, d_hi)
        walked += path_length_m([(p.latitude, p.longitude) for p in pts])
    return Coverage(
        book_id=book.id,
        inspector_id=book.inspector_id,
        cycle=book.cycle,
        total=len(rows),
        read=len(read),
        missed=missed,
        out_of_order=out_of_order,
        far_from_meter=far,
        first_read_at=read[0].read_at if read else None,
        last_read_at=read[-1].read_at if read else None,
        time_spent_ms=sum(max(v) - min(v) for v in by_day.values()),
        days=sorted(by_day),
        walked_m=round(walked),
    )
