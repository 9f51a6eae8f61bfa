"""Applications for supply: submitted, documented, moved step by step, seen by whom may.

Every move is a compare-and-set on (step, version): two people pressing "done" on the same
step at once move it once, and the second hears 409 ``application_moved``. Time is an argument
(``now_ms``), deadlines come from :mod:`backend.expansion.process`.
"""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path
from typing import Any

import msgspec
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts.models import Customer
from backend.auth.guards import Caller
from backend.auth.models import Role
from backend.auth.scope import customer_scope
from backend.errors import Conflict, Invalid, NotFound, Unprocessable
from backend.errors import ErrorCode as E
from backend.expansion import documents
from backend.expansion.models import (
    Application,
    ApplicationChannel,
    ApplicationDocument,
    ApplicationEvent,
    ApplicationKind,
    ApplicationStatus,
    ApplicationStep,
    DocumentKind,
)
from backend.expansion.process import Book, due, fee_lines, shipped_fees
from backend.expansion.schemas import (
    ApplicationCreate,
    ApplicationView,
    StepMove,
    SurveyRecord,
    Withdrawal,
)
from backend.expansion.views import entry, find, missing_documents, view
from backend.field.grids.models import TransformerArea
from backend.field.readings.models import FieldPhoto
from backend.servicedesk.workflow.service import WorkingTime
from backend.types import from_epoch_ms

BACK_OFFICE = frozenset({Role.SUPERVISOR, Role.OPERATOR, Role.ADMIN})


# --- submitting -------------------------------------------------------------------------------


async def _where(
    session: AsyncSession, caller: Caller, body: ApplicationCreate
) -> tuple[Customer | None, int | None, int | None]:
    """The existing customer (if any), the grid and the transformer area, all in scope."""
    customer: Customer | None = None
    if caller.role == Role.CUSTOMER:
        if body.customer_id is not None and body.customer_id != caller.customer_id:
            raise NotFound(
                E.CUSTOMER_NOT_FOUND,
                f"customer {body.customer_id} not found",
                field="customer_id",
                customer=body.customer_id,
            )
        if caller.customer_id is not None:
            customer = await session.get(Customer, caller.customer_id)
    elif body.customer_id is not None:
        customer = await session.scalar(
            select(Customer).where(Customer.id == body.customer_id, customer_scope(caller))
        )
        if customer is None:
            raise NotFound(
                E.CUSTOMER_NOT_FOUND,
                f"customer {body.customer_id} not found",
                field="customer_id",
                customer=body.customer_id,
            )
    area_id = body.transformer_area_id or (customer.transformer_area_id if customer else None)
    grid_id = customer.grid_id if customer else None
    if area_id is not None:
        area = await session.get(TransformerArea, area_id)
        if area is None:
            raise Invalid(
                E.AREA_NOT_FOUND,
                f"transformer area {area_id} does not exist",
                field="transformer_area_id",
                area=area_id,
            )
        grid_id = grid_id or area.grid_id
    if caller.role == Role.INSPECTOR and grid_id not in caller.grid_ids:
        # a customer manager applies on site for a place in their own grid (R113)
        raise Invalid(
            E.AREA_NOT_FOUND,
            "the place is not in one of your grids",
            field="transformer_area_id",
            area=area_id or 0,
        )
    return customer, grid_id, area_id


def _channel(caller: Caller) -> ApplicationChannel:
    if caller.role == Role.CUSTOMER:
        return ApplicationChannel.PWA
    return ApplicationChannel.FIELD if caller.role == Role.INSPECTOR else ApplicationChannel.COUNTER


async def submit(
    session: AsyncSession,
    caller: Caller,
    key: str,
    body: ApplicationCreate,
    book: Book,
    wt: WorkingTime,
    now_ms: int,
) -> tuple[ApplicationView, bool]:
    """(application, True) when made; the same key and body again: (it, False)."""
    digest = hashlib.sha256(msgspec.json.encode(body, order="sorted")).hexdigest()
    existing = await session.scalar(
        select(Application).where(
            Application.created_by == caller.user_id, Application.idempotency_key == key
        )
    )
    if existing is not None:
        if existing.request_hash != digest:
            raise Unprocessable(
                E.APPLICATION_KEY_REUSED,
                "Idempotency-Key was used for another application",
                field="Idempotency-Key",
            )
        return await view(session, existing, book, now_ms), False
    process = book.of(body.supply_type)
    if body.category not in process.categories:
        raise Invalid(
            E.CATEGORY_NOT_FOR_TYPE,
            f"category {body.category} is not supplied as {body.supply_type}",
            field="category",
            category=body.category.value,
            type=body.supply_type.value,
        )
    customer, grid_id, area_id = await _where(session, caller, body)
    if body.kind is ApplicationKind.INCREASE and customer is None:
        raise Invalid(
            E.INCREASE_NEEDS_CUSTOMER,
            "a capacity increase (增容) is for an existing customer: name customer_id",
            field="customer_id",
        )
    green = customer is not None and customer.key_account_class is not None
    now = from_epoch_ms(now_ms)
    first = process.steps[0]
    step_due = due(wt, first, now, green)
    row = Application(
        number=f"tmp-{uuid.uuid4().hex[:28]}",
        supply_type=body.supply_type,
        kind=body.kind,
        channel=_channel(caller),
        status=ApplicationStatus.OPEN,
        applicant_user_id=caller.user_id if caller.role == Role.CUSTOMER else None,
        customer_id=customer.id if customer else None,
        applicant_name=body.applicant_name,
        phone=body.phone,
        address=body.address,
        capacity_kva=body.capacity_kva,
        category=body.category.value,
        grid_id=grid_id,
        transformer_area_id=area_id,
        green_channel=green,
        step=first.key,
        step_started_at=now,
        step_due_at=step_due,
        version=1,
        survey_photos=[],
        fee_lines=[],
        fees_fen=0,
        idempotency_key=key,
        request_hash=digest,
        created_by=caller.user_id,
        created_at=now,
    )
    session.add(row)
    try:
        await session.flush()
    except IntegrityError:  # the same key at the same moment: the other request made it
        await session.rollback()
        return await submit(session, caller, key, body, book, wt, now_ms)
    row.number = f"YK{row.id:08d}"
    session.add(
        ApplicationStep(application_id=row.id, step=first.key, started_at=now, due_at=step_due)
    )
    session.add(
        entry(
            row.id,
            now,
            caller.user_id,
            ApplicationEvent.SUBMITTED,
            first.key,
            type=body.supply_type.value,
            kind=body.kind.value,
            channel=row.channel.value,
        )
    )
    if green:
        session.add(entry(row.id, now, None, ApplicationEvent.GREEN_CHANNEL, first.key))
    session.add(
        entry(
            row.id,
            now,
            None,
            ApplicationEvent.WAITING_DOCUMENTS,
            first.key,
            missing=", ".join(d.value for d in process.documents),
        )
    )
    await session.commit()
    return await view(session, row, book, now_ms), True


async def add_document(
    session: AsyncSession,
    caller: Caller,
    app_id: int,
    kind: DocumentKind,
    data: bytes,
    root: Path,
    book: Book,
    now_ms: int,
    max_bytes: int = documents.MAX_BYTES,
) -> ApplicationView:
    """Attach a document; the same bytes for the same kind again attach nothing new."""
    content_type = documents.check(data, max_bytes)
    row = await find(session, caller, app_id)
    still_open(row)
    sha = hashlib.sha256(data).hexdigest()
    documents.write(root, sha, data)  # the file before the row: a row never points at nothing
    exists = await session.scalar(
        select(ApplicationDocument.id).where(
            ApplicationDocument.application_id == app_id,
            ApplicationDocument.kind == kind,
            ApplicationDocument.sha256 == sha,
        )
    )
    if exists is None:
        now = from_epoch_ms(now_ms)
        session.add(
            ApplicationDocument(
                application_id=app_id,
                kind=kind,
                sha256=sha,
                content_type=content_type,
                size_bytes=len(data),
                uploaded_by=caller.user_id,
                uploaded_at=now,
            )
        )
        session.add(
            entry(
                app_id,
                now,
                caller.user_id,
                ApplicationEvent.DOCUMENT,
                row.step,
                document=kind.value,
            )
        )
        try:
            await session.commit()
        except IntegrityError:  # the same upload twice at once
            await session.rollback()
    return await view(session, await find(session, caller, app_id), book, now_ms)


def still_open(row: Application) -> None:
    """A withdrawn (撤回) or energised application takes no more steps: 409."""
    if row.status is ApplicationStatus.CANCELLED:
        raise Conflict(
            E.APPLICATION_WITHDRAWN, f"application {row.id} was withdrawn", application=row.id
        )
    if row.status is not ApplicationStatus.OPEN:
        raise Conflict(
            E.APPLICATION_CLOSED, f"application {row.id} is {row.status}", application=row.id
        )


# --- moving -----------------------------------------------------------------------------------


def may_act(caller: Caller, role: Role, step: str) -> None:
    if caller.role in BACK_OFFICE or (caller.role == Role.INSPECTOR and role == Role.INSPECTOR):
        return
    raise Conflict(E.STEP_NOT_YOURS, f"step {step} is worked by {role}", step=step, role=role.value)


async def move_on(
    session: AsyncSession,
    caller: Caller,
    row: Application,
    version: int,
    book: Book,
    wt: WorkingTime,
    now_ms: int,
    **values: Any,
) -> None:
    """Finish the current step and enter the next, compare-and-set on (step, version); the
    caller commits. ``values`` are further columns set by the same update."""
    process = book.of(row.supply_type)
    nxt = process.after(row.step)
    now = from_epoch_ms(now_ms)
    app_id, step = row.id, row.step
    assert nxt is not None  # energise is the last step and is left by energise() only
    next_due = due(wt, nxt, now, row.green_channel)
    if nxt.key == "fees":  # entering fees: computed from the published table, never typed
        lines = fee_lines(shipped_fees(), row.supply_type, row.capacity_kva)
        values["fee_lines"] = [msgspec.to_builtins(x) for x in lines]
        values["fees_fen"] = sum(x.amount_fen for x in lines)
    done = await session.execute(
        update(Application)
        .where(
            Application.id == app_id,
            Application.version == version,
            Application.step == step,
            Application.status == ApplicationStatus.OPEN,
        )
        .values(
            step=nxt.key,
            step_started_at=now,
            step_due_at=next_due,
            version=Application.version + 1,
            **values,
        )
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        await session.rollback()
        raise Conflict(
            E.APPLICATION_MOVED,
            f"application {app_id} was moved meanwhile",
            application=app_id,
            step=step,
        )
    await session.execute(
        update(ApplicationStep)
        .where(
            ApplicationStep.application_id == app_id,
            ApplicationStep.step == step,
            ApplicationStep.finished_at.is_(None),
        )
        .values(finished_at=now, finished_by=caller.user_id)
    )
    session.add(
        ApplicationStep(application_id=app_id, step=nxt.key, started_at=now, due_at=next_due)
    )
    session.add(
        entry(app_id, now, caller.user_id, ApplicationEvent.ADVANCED, step, step=step, next=nxt.key)
    )
    if "fees_fen" in values:
        session.add(
            entry(app_id, now, None, ApplicationEvent.FEES, nxt.key, total_fen=values["fees_fen"])
        )


async def advance(
    session: AsyncSession,
    caller: Caller,
    app_id: int,
    body: StepMove,
    book: Book,
    wt: WorkingTime,
    now_ms: int,
) -> ApplicationView:
    row = await find(session, caller, app_id)
    still_open(row)
    if row.step != body.step or row.version != body.version:
        raise Conflict(
            E.APPLICATION_MOVED,
            f"application {app_id} was moved meanwhile",
            application=app_id,
            step=body.step,
        )
    step = book.of(row.supply_type).step(row.step)
    may_act(caller, step.role, step.key)
    if step.key in ("survey", "energise"):
        raise Conflict(
            E.STEP_NEEDS_ITS_ACTION, f"step {step.key} is done by its own action", step=step.key
        )
    if step.key == "acceptance":
        missing = await missing_documents(session, row, book)
        if missing and not row.green_channel:
            raise Conflict(
                E.DOCUMENTS_MISSING,
                "documents are missing: " + ", ".join(missing),
                missing=", ".join(missing),
            )
        if missing:  # 容缺受理: a key account's application goes on, recorded
            session.add(
                entry(
                    row.id,
                    from_epoch_ms(now_ms),
                    caller.user_id,
                    ApplicationEvent.ACCEPTED_INCOMPLETE,
                    step.key,
                    missing=", ".join(missing),
                )
            )
    await move_on(session, caller, row, body.version, book, wt, now_ms)
    await session.commit()
    return await view(session, await find(session, caller, app_id), book, now_ms)


async def survey(
    session: AsyncSession,
    caller: Caller,
    app_id: int,
    body: SurveyRecord,
    book: Book,
    wt: WorkingTime,
    now_ms: int,
) -> ApplicationView:
    """现场勘查 recorded on site with its GPS fix and photos; the survey step is then done."""
    row = await find(session, caller, app_id)
    still_open(row)
    if row.step != "survey":
        raise Conflict(
            E.APPLICATION_MOVED,
            f"application {app_id} is not at its survey",
            application=app_id,
            step="survey",
        )
    may_act(caller, Role.INSPECTOR, "survey")
    known = set(
        await session.scalars(select(FieldPhoto.sha256).where(FieldPhoto.sha256.in_(body.photos)))
    )
    for sha in body.photos:
        if sha not in known:
            raise NotFound(E.PHOTO_NOT_FOUND, f"photo {sha} not found", field="photos", photo=sha)
    session.add(
        entry(
            row.id,
            from_epoch_ms(now_ms),
            caller.user_id,
            ApplicationEvent.SURVEYED,
            "survey",
            photos=len(body.photos),
        )
    )
    await move_on(
        session,
        caller,
        row,
        body.version,
        book,
        wt,
        now_ms,
        survey_latitude=body.fix.latitude,
        survey_longitude=body.fix.longitude,
        survey_accuracy_m=body.fix.accuracy_m,
        survey_photos=list(body.photos),
        survey_note=body.note,
    )
    await session.commit()
    return await view(session, await find(session, caller, app_id), book, now_ms)


async def withdraw(
    session: AsyncSession,
    caller: Caller,
    app_id: int,
    body: Withdrawal,
    book: Book,
    now_ms: int,
) -> tuple[ApplicationView, bool]:
    """撤回 before energisation, compare-and-set on ``version`` like every move: (it, True) when
    this request withdrew it; (it, False) when it already was withdrawn (nothing twice)."""
    row = await find(session, caller, app_id)  # a customer's own only, another's: 404
    if row.status is ApplicationStatus.CANCELLED:
        return await view(session, row, book, now_ms), False
    still_open(row)
    now = from_epoch_ms(now_ms)
    done = await session.execute(
        update(Application)
        .where(
            Application.id == app_id,
            Application.version == body.version,
            Application.status == ApplicationStatus.OPEN,
        )
        .values(status=ApplicationStatus.CANCELLED, version=Application.version + 1)
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        await session.rollback()
        row = await find(session, caller, app_id)
        if row.status is ApplicationStatus.CANCELLED:  # the same withdrawal, at the same time
            return await view(session, row, book, now_ms), False
        still_open(row)
        raise Conflict(
            E.APPLICATION_MOVED,
            f"application {app_id} was moved meanwhile",
            application=app_id,
            step=row.step,
        )
    # the step's stay stays unfinished: a withdrawal is no lead time of the step
    session.add(
        entry(
            app_id,
            now,
            caller.user_id,
            ApplicationEvent.CANCELLED,
            row.step,
            reason=body.reason.value,
        )
    )
    await session.commit()
    return await view(session, await find(session, caller, app_id), book, now_ms), True
