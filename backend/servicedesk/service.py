"""Repair jobs and outage notices: recorded from the field, seen at the service centre at once.

A crew's PDA reports a job on arrival (R50) with a device-made id, so a report sent twice over
a bad GPRS link is one job. The service centre lists the active jobs: which area is being
worked on, by whom, until when. Outage notices are what customers see in the app.
"""

from __future__ import annotations

import contextlib
import hashlib

import msgspec
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.guards import Caller
from backend.errors import Conflict, Invalid, NotFound
from backend.errors import ErrorCode as E
from backend.field.grids.models import TransformerArea
from backend.field.readings.schemas import GpsFix
from backend.servicedesk.models import OutageKind, OutageNotice
from backend.servicedesk.models import RepairJob as RepairJobRow
from backend.servicedesk.orders import decisions as orders
from backend.servicedesk.orders.models import OrderStatus, WorkOrder
from backend.servicedesk.schemas import (
    Outage,
    OutageCreate,
    OutageEnd,
    RepairJob,
    RepairJobExtend,
    RepairJobFinish,
    RepairJobReport,
)
from backend.servicedesk.workflow.models import DoneBy
from backend.servicedesk.workflow.service import WorkingTime
from backend.types import from_epoch_ms, to_epoch_ms

FUTURE_SLACK_MS = 5 * 60_000


def job_view(row: RepairJobRow, now_ms: int, work_order_id: int | None = None) -> RepairJob:
    expected = to_epoch_ms(row.expected_finish_at)
    status = "finished" if row.finished_at else ("overdue" if expected < now_ms else "active")
    return RepairJob(
        id=row.id,
        client_id=row.client_id,
        status=status,  # type: ignore[arg-type]
        reported_by=row.reported_by,
        workers=list(row.workers),
        content=row.content,
        area=row.area,
        transformer_area_id=row.transformer_area_id,
        started_at=to_epoch_ms(row.started_at),
        expected_finish_at=expected,
        finished_at=to_epoch_ms(row.finished_at) if row.finished_at else None,
        finish_note=row.finish_note,
        fix=GpsFix(
            latitude=row.latitude,
            longitude=row.longitude,
            accuracy_m=row.accuracy_m,
            fix_at=row.fix_at,
        ),
        received_at=to_epoch_ms(row.created_at),
        work_order_id=work_order_id,
    )


async def _check_area(session: AsyncSession, area_id: int | None) -> None:
    if area_id is not None and await session.get(TransformerArea, area_id) is None:
        raise Invalid(
            E.AREA_NOT_FOUND,
            f"transformer area {area_id} does not exist",
            field="transformer_area_id",
            area=area_id,
        )


async def report_job(
    session: AsyncSession, caller: Caller, body: RepairJobReport, now_ms: int,
    wt: WorkingTime | None = None,
) -> tuple[RepairJob, bool]:  # fmt: skip
    """Record a job; (job, True) when new, (job, False) for a resend of the same report."""
    digest = hashlib.sha256(msgspec.json.encode(body, order="sorted")).hexdigest()
    client_id = str(body.client_id)
    existing = await session.scalar(select(RepairJobRow).where(RepairJobRow.client_id == client_id))
    if existing is not None:
        if existing.body_sha256 != digest or existing.reported_by != caller.user_id:
            raise Conflict(
                E.RESEND_DIFFERS,
                f"client_id {client_id} was already used for a different job report; a resend "
                "must carry exactly the same body",
                field="client_id",
                client_id=client_id,
            )
        return job_view(existing, now_ms), False
    if body.expected_finish_at <= body.started_at:
        raise Invalid(
            E.END_BEFORE_START,
            "expected_finish_at must be after started_at",
            field="expected_finish_at",
            start="started_at",
        )
    if body.started_at > now_ms + FUTURE_SLACK_MS:
        raise Invalid(
            E.IN_THE_FUTURE,
            "started_at is in the future: report a job on arrival",
            field="started_at",
        )
    await _check_area(session, body.transformer_area_id)
    row = RepairJobRow(
        client_id=client_id,
        reported_by=caller.user_id,
        workers=list(body.workers),
        content=body.content,
        area=body.area,
        transformer_area_id=body.transformer_area_id,
        started_at=from_epoch_ms(body.started_at),
        expected_finish_at=from_epoch_ms(body.expected_finish_at),
        latitude=body.fix.latitude,
        longitude=body.fix.longitude,
        accuracy_m=body.fix.accuracy_m,
        fix_at=body.fix.fix_at,
        body_sha256=digest,
        created_at=from_epoch_ms(now_ms),
        updated_at=from_epoch_ms(now_ms),
    )
    session.add(row)
    try:
        await session.flush()
        if body.work_order_id is not None and wt is not None:
            # the crew arrived at the fault it was sent to: the order moves on (R66)
            await orders.crew_event(
                session, caller, body.work_order_id, row.id, DoneBy.ARRIVAL, wt, now_ms
            )
        await session.commit()
    except IntegrityError:
        await session.rollback()
        return await report_job(session, caller, body, now_ms, wt)
    except Exception:
        await session.rollback()
        raise
    return job_view(row, now_ms, body.work_order_id), True


async def _job(session: AsyncSession, caller: Caller, job_id: int) -> RepairJobRow:
    row = await session.get(RepairJobRow, job_id)
    # crews see their own jobs; the back office sees every job
    if row is None or (not caller.unscoped and row.reported_by != caller.user_id):
        raise NotFound(E.REPAIR_JOB_NOT_FOUND, f"repair job {job_id} not found", job=job_id)
    return row


async def get_job(session: AsyncSession, caller: Caller, job_id: int, now_ms: int) -> RepairJob:
    return job_view(await _job(session, caller, job_id), now_ms)


async def finish_job(
    session: AsyncSession, caller: Caller, job_id: int, body: RepairJobFinish, now_ms: int,
    wt: WorkingTime | None = None,
) -> RepairJob:  # fmt: skip
    row = await _job(session, caller, job_id)
    if row.finished_at is not None:
        if to_epoch_ms(row.finished_at) == body.finished_at and row.finish_note == body.note:
            return job_view(row, now_ms)  # a resend
        raise Conflict(
            E.REPAIR_JOB_FINISHED, f"repair job {job_id} is already finished", job=job_id
        )
    if body.finished_at < to_epoch_ms(row.started_at):
        raise Invalid(
            E.END_BEFORE_START,
            "finished_at is before the job started",
            field="finished_at",
            start="started_at",
        )
    if body.finished_at > now_ms + FUTURE_SLACK_MS:
        raise Invalid(E.IN_THE_FUTURE, "finished_at is in the future", field="finished_at")
    row.finished_at = from_epoch_ms(body.finished_at)
    row.finish_note = body.note
    order_id = await session.scalar(
        select(WorkOrder.id).where(
            WorkOrder.repair_job_id == job_id, WorkOrder.status == OrderStatus.OPEN
        )
    )
    if order_id is not None and wt is not None:  # the fault's repair node is done
        # the order moved on by other hands meanwhile: the job still ends
        with contextlib.suppress(Conflict, NotFound):
            await orders.crew_event(session, caller, order_id, job_id, DoneBy.REPAIR, wt, now_ms)
    await session.commit()
    return job_view(row, now_ms)


async def extend_job(
    session: AsyncSession, caller: Caller, job_id: int, body: RepairJobExtend, now_ms: int
) -> RepairJob:
    row = await _job(session, caller, job_id)
    if row.finished_at is not None:
        raise Conflict(
            E.REPAIR_JOB_FINISHED, f"repair job {job_id} is already finished", job=job_id
        )
    if body.expected_finish_at <= to_epoch_ms(row.started_at):
        raise Invalid(
            E.END_BEFORE_START,
            "expected_finish_at must be after started_at",
            field="expected_finish_at",
            start="started_at",
        )
    row.expected_finish_at = from_epoch_ms(body.expected_finish_at)
    await session.commit()
    return job_view(row, now_ms)


async def list_jobs(
    session: AsyncSession, caller: Caller, active_only: bool, now_ms: int, limit: int = 200
) -> list[RepairJob]:
    query = select(RepairJobRow).order_by(RepairJobRow.expected_finish_at, RepairJobRow.id)
    if active_only:
        query = query.where(RepairJobRow.finished_at.is_(None))
    if not caller.unscoped:
        query = query.where(RepairJobRow.reported_by == caller.user_id)
    return [job_view(r, now_ms) for r in await session.scalars(query.limit(limit))]


def outage_view(row: OutageNotice, now_ms: int) -> Outage:
    if row.cancelled:
        status = "cancelled"
    elif row.ended_at is not None:
        status = "ended"
    else:
        status = "upcoming" if to_epoch_ms(row.starts_at) > now_ms else "ongoing"
    return Outage(
        id=row.id,
        kind=row.kind.value,
        status=status,  # type: ignore[arg-type]
        area=row.area,
        transformer_area_id=row.transformer_area_id,
        starts_at=to_epoch_ms(row.starts_at),
        expected_end_at=to_epoch_ms(row.expected_end_at),
        ended_at=to_epoch_ms(row.ended_at) if row.ended_at else None,
        reason=row.reason,
        repair_job_id=row.repair_job_id,
    )


async def create_outage(
    session: AsyncSession, caller: Caller, body: OutageCreate, now_ms: int
) -> Outage:
    if body.expected_end_at <= body.starts_at:
        raise Invalid(
            E.END_BEFORE_START,
            "expected_end_at must be after starts_at",
            field="expected_end_at",
            start="starts_at",
        )
    await _check_area(session, body.transformer_area_id)
    if (
        body.repair_job_id is not None
        and await session.get(RepairJobRow, body.repair_job_id) is None
    ):
        raise Invalid(
            E.REPAIR_JOB_NOT_FOUND,
            f"repair job {body.repair_job_id} does not exist",
            field="repair_job_id",
            job=body.repair_job_id,
        )
    row = OutageNotice(
        kind=OutageKind(body.kind),
        area=body.area,
        transformer_area_id=body.transformer_area_id,
        starts_at=from_epoch_ms(body.starts_at),
        expected_end_at=from_epoch_ms(body.expected_end_at),
        reason=body.reason,
        repair_job_id=body.repair_job_id,
        created_by=caller.user_id,
        created_at=from_epoch_ms(now_ms),
    )
    session.add(row)
    await session.commit()
    return outage_view(row, now_ms)


async def _outage(session: AsyncSession, outage_id: int) -> OutageNotice:
    row = await session.get(OutageNotice, outage_id)
    if row is None:
        raise NotFound(E.OUTAGE_NOT_FOUND, f"outage notice {outage_id} not found", outage=outage_id)
    return row


async def end_outage(session: AsyncSession, outage_id: int, body: OutageEnd, now_ms: int) -> Outage:
    row = await _outage(session, outage_id)
    if row.cancelled:
        raise Conflict(
            E.OUTAGE_CANCELLED, f"outage notice {outage_id} was cancelled", outage=outage_id
        )
    if row.ended_at is not None:
        if to_epoch_ms(row.ended_at) == body.ended_at:
            return outage_view(row, now_ms)
        raise Conflict(
            E.OUTAGE_ENDED, f"outage notice {outage_id} has already ended", outage=outage_id
        )
    if body.ended_at > now_ms + FUTURE_SLACK_MS:
        raise Invalid(E.IN_THE_FUTURE, "ended_at is in the future", field="ended_at")
    row.ended_at = from_epoch_ms(body.ended_at)
    await session.commit()
    return outage_view(row, now_ms)


async def cancel_outage(session: AsyncSession, outage_id: int, now_ms: int) -> Outage:
    row = await _outage(session, outage_id)
    if row.ended_at is not None:
        raise Conflict(
            E.OUTAGE_ENDED, f"outage notice {outage_id} has already ended", outage=outage_id
        )
    row.cancelled = True
    await session.commit()
    return outage_view(row, now_ms)


async def list_outages(
    session: AsyncSession,
    now_ms: int,
    current_only: bool,
    transformer_area_id: int | None = None,
    limit: int = 200,
) -> list[Outage]:
    """Notices ordered by start. ``current_only``: upcoming and ongoing (not ended, not
    cancelled, expected end not yet passed) — what a customer needs to know now."""
    query = select(OutageNotice).order_by(OutageNotice.starts_at, OutageNotice.id)
    if current_only:
        query = query.where(
            OutageNotice.cancelled.is_(False),
            OutageNotice.ended_at.is_(None),
            OutageNotice.expected_end_at > from_epoch_ms(now_ms),
        )
    if transformer_area_id is not None:
        query = query.where(OutageNotice.transformer_area_id == transformer_area_id)
    return [outage_view(r, now_ms) for r in await session.scalars(query.limit(limit))]
