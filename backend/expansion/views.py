"""Applications as callers see them: the scope (a customer's own, an inspector's grids, the
back office's all), one application with its steps, deadlines, documents, fees and timeline,
and the queue."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import ColumnElement, false, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.guards import Caller
from backend.auth.models import Role
from backend.errors import ErrorCode as E
from backend.errors import NotFound
from backend.expansion.models import (
    Application,
    ApplicationDocument,
    ApplicationEntry,
    ApplicationEvent,
    ApplicationStatus,
    ApplicationStep,
    DocumentKind,
)
from backend.expansion.process import Book
from backend.expansion.schemas import (
    ApplicationPage,
    ApplicationRow,
    ApplicationView,
    Document,
    Entry,
    FeeLineView,
    StepView,
)
from backend.types import from_epoch_ms, to_epoch_ms


def application_scope(caller: Caller) -> ColumnElement[bool]:
    """A customer: what they applied for and their own customers'; staff scoped to grids:
    applications in those grids; the unscoped back office: all; anyone else: nothing."""
    if caller.unscoped:
        return true()
    if caller.role == Role.CUSTOMER:
        mine = [Application.applicant_user_id == caller.user_id]
        if caller.customer_id is not None:
            mine += [
                Application.customer_id == caller.customer_id,
                Application.created_customer_id == caller.customer_id,
            ]
        return or_(*mine)
    if caller.grid_ids:
        return Application.grid_id.in_(caller.grid_ids)
    return false()


def entry(
    app_id: int,
    at: datetime,
    actor: int | None,
    code: ApplicationEvent,
    at_step: str,
    **params: Any,
) -> ApplicationEntry:
    return ApplicationEntry(
        application_id=app_id, at=at, actor_id=actor, code=code, step=at_step, params=params
    )


async def find(session: AsyncSession, caller: Caller, app_id: int) -> Application:
    row = await session.scalar(
        select(Application)
        .where(Application.id == app_id, application_scope(caller))
        .execution_options(populate_existing=True)  # moves are UPDATEs: read them back fresh
    )
    if row is None:
        raise NotFound(
            E.APPLICATION_NOT_FOUND, f"application {app_id} not found", application=app_id
        )
    return row


async def missing_documents(session: AsyncSession, row: Application, book: Book) -> list[str]:
    have = set(
        await session.scalars(
            select(ApplicationDocument.kind).where(ApplicationDocument.application_id == row.id)
        )
    )
    return [d.value for d in book.of(row.supply_type).documents if d not in have]


async def view(session: AsyncSession, row: Application, book: Book, now_ms: int) -> ApplicationView:
    process = book.of(row.supply_type)
    stays = {
        s.step: s
        for s in await session.scalars(
            select(ApplicationStep)
            .where(ApplicationStep.application_id == row.id)
            .order_by(ApplicationStep.id)
        )
    }
    steps = []
    for s in process.steps:
        stay = stays.get(s.key)
        fin = to_epoch_ms(stay.finished_at) if stay and stay.finished_at else None
        steps.append(
            StepView(
                key=s.key,
                role=s.role.value,
                deadline=s.green if row.green_channel else s.deadline,
                unit=s.unit.value,
                started_at=to_epoch_ms(stay.started_at) if stay else None,
                due_at=to_epoch_ms(stay.due_at) if stay else None,
                finished_at=fin,
                on_time=(fin <= to_epoch_ms(stay.due_at)) if stay and fin is not None else None,
            )
        )
    docs = list(
        await session.scalars(
            select(ApplicationDocument)
            .where(ApplicationDocument.application_id == row.id)
            .order_by(ApplicationDocument.id)
        )
    )
    entries = await session.scalars(
        select(ApplicationEntry)
        .where(ApplicationEntry.application_id == row.id)
        .order_by(ApplicationEntry.id)
    )
    have = {d.kind for d in docs}
    due_ms = to_epoch_ms(row.step_due_at)
    return ApplicationView(
        id=row.id,
        number=row.number,
        supply_type=row.supply_type,
        kind=row.kind,
        channel=row.channel.value,
        status=row.status.value,
        category=row.category,
        applicant_name=row.applicant_name,
        phone=row.phone,
        address=row.address,
        capacity_kva=row.capacity_kva,
        green_channel=row.green_channel,
        step=row.step,
        step_due_at=due_ms,
        overdue=row.status is ApplicationStatus.OPEN and due_ms < now_ms,
        version=row.version,
        customer_id=row.created_customer_id or row.customer_id,
        transformer_area_id=row.transformer_area_id,
        created_at=to_epoch_ms(row.created_at),
        missing_documents=[d.value for d in process.documents if d not in have],
        documents=[
            Document(
                id=d.id,
                kind=d.kind,
                sha256=d.sha256,
                content_type=d.content_type,
                size_bytes=d.size_bytes,
                uploaded_at=to_epoch_ms(d.uploaded_at),
            )
            for d in docs
        ],
        steps=steps,
        fee_lines=[msgspec.convert(x, FeeLineView) for x in row.fee_lines],
        fees_fen=row.fees_fen,
        survey_photos=list(row.survey_photos),
        account_id=row.account_id,
        meter_id=row.meter_id,
        energised_at=to_epoch_ms(row.energised_at) if row.energised_at else None,
        timeline=[
            Entry(
                at=to_epoch_ms(e.at),
                code=e.code.value,
                step=e.step,
                actor_id=e.actor_id,
                params=dict(e.params),  # type: ignore[arg-type]
            )
            for e in entries
        ],
    )


async def get(
    session: AsyncSession, caller: Caller, app_id: int, book: Book, now_ms: int
) -> ApplicationView:
    return await view(session, await find(session, caller, app_id), book, now_ms)


async def page(
    session: AsyncSession,
    caller: Caller,
    book: Book,
    now_ms: int,
    *,
    status: ApplicationStatus | None,
    step: str | None,
    overdue: bool,
    limit: int,
    offset: int,
) -> ApplicationPage:
    """The queue: open applications by deadline (a customer's own, newest first)."""
    conds = [application_scope(caller)]
    if status is not None:
        conds.append(Application.status == status)
    if step is not None:
        conds.append(Application.step == step)
    if overdue:
        conds += [
            Application.status == ApplicationStatus.OPEN,
            Application.step_due_at < from_epoch_ms(now_ms),
        ]
    total = await session.scalar(select(func.count()).select_from(Application).where(*conds))
    order = (
        (Application.id.desc(),)
        if caller.role == Role.CUSTOMER
        else (Application.step_due_at, Application.id)
    )
    rows = list(
        await session.scalars(
            select(Application).where(*conds).order_by(*order).limit(limit).offset(offset)
        )
    )
    have: dict[int, set[DocumentKind]] = {r.id: set() for r in rows}
    for app_id, kind in await session.execute(
        select(ApplicationDocument.application_id, ApplicationDocument.kind).where(
            ApplicationDocument.application_id.in_(list(have))
        )
    ):
        have[app_id].add(kind)
    items = []
    for r in rows:
        due_ms = to_epoch_ms(r.step_due_at)
        items.append(
            ApplicationRow(
                id=r.id,
                number=r.number,
                supply_type=r.supply_type,
                kind=r.kind,
                status=r.status.value,
                applicant_name=r.applicant_name,
                green_channel=r.green_channel,
                step=r.step,
                step_due_at=due_ms,
                overdue=r.status is ApplicationStatus.OPEN and due_ms < now_ms,
                version=r.version,
                missing_documents=[
                    d.value for d in book.of(r.supply_type).documents if d not in have[r.id]
                ],
                created_at=to_epoch_ms(r.created_at),
            )
        )
    return ApplicationPage(items=items, total=total or 0)
