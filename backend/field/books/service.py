"""Reading books (抄表册): which meters need a person this cycle, in walking order (R6).

A meter needs a person when it has no recent AMI reading (not networked, or its concentrator is
silent), when it is flagged for a check, or when its customer has a visit due (a key account's
safety inspection, R14). The book is stored (membership and order) so coverage can be judged
against it; its view adds live data (last values, expected range, done marks) and an ETag.
"""

from __future__ import annotations

import hashlib
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from datetime import timedelta

import msgspec
from sqlalchemy import ColumnElement, Select, delete, exists, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from backend.accounts.models import Customer
from backend.auth.guards import Caller
from backend.auth.models import Role, User
from backend.errors import ErrorCode as E
from backend.errors import NotFound
from backend.field.books import view as books_view
from backend.field.books.cycles import cycle_bounds, cycle_last_day, cycle_of, ids
from backend.field.books.models import (
    FieldTask,
    FieldTaskKind,
    FieldTaskStatus,
    ReadingBook,
    ReadingBookChange,
    ReadingBookItem,
)
from backend.field.books.routing import Stop, plan_route
from backend.field.books.schemas import BookSummary, Position
from backend.field.readings.history import meters_with_recent_ami
from backend.field.readings.models import FieldReading, FieldReadingKind
from backend.field.readings.plausibility import Thresholds
from backend.field.scope import grids_of
from backend.metering.models import Meter, MeterStatus
from backend.settings import Settings
from backend.types import from_epoch_ms, to_epoch_ms

TASK_LOOKAHEAD = timedelta(days=30)


@dataclass
class Needed:
    customer_id: int
    meter_pk: int | None
    lat: float | None
    lon: float | None
    label: str
    reasons: list[str] = field(default_factory=list)
    task_ids: list[int] = field(default_factory=list)


async def needed(
    session: AsyncSession, inspector_id: int, cycle: str, now_ms: int, settings: Settings
) -> list[Needed]:
    grids = await grids_of(session, inspector_id)
    if not grids:
        return []
    rows = (
        await session.execute(
            select(Meter, Customer)
            .join(Customer, Customer.id == Meter.customer_id)
            .where(Customer.grid_id.in_(sorted(grids)), Meter.status == MeterStatus.ACTIVE)
            .order_by(Meter.id)
        )
    ).all()
    recent = await meters_with_recent_ami(
        session, [m.id for m, _ in rows], now_ms - settings.field_ami_recent_hours * 3_600_000
    )
    # visits due this cycle or within TASK_LOOKAHEAD of its end: planned while passing by
    horizon = cycle_last_day(cycle) + TASK_LOOKAHEAD
    tasks = (
        await session.scalars(
            select(FieldTask)
            .join(Customer, Customer.id == FieldTask.customer_id)
            .where(
                Customer.grid_id.in_(sorted(grids)),
                FieldTask.status == FieldTaskStatus.OPEN,
                (FieldTask.due_on.is_(None)) | (FieldTask.due_on <= horizon),
            )
            .order_by(FieldTask.id)
        )
    ).all()
    meter_tasks: dict[int, list[FieldTask]] = {}
    customer_tasks: dict[int, list[FieldTask]] = {}
    for t in tasks:
        if t.kind == FieldTaskKind.METER_CHECK and t.meter_pk is not None:
            meter_tasks.setdefault(t.meter_pk, []).append(t)
        else:
            customer_tasks.setdefault(t.customer_id, []).append(t)
    items: list[Needed] = []
    by_customer: dict[int, Needed] = {}
    customers: dict[int, Customer] = {}
    for meter, customer in rows:
        customers[customer.id] = customer
        reasons = [] if meter.id in recent else ["no_ami"]
        checks = meter_tasks.get(meter.id, [])
        if checks:
            reasons.append("meter_check")
        if not reasons:
            continue
        lat, lon = _position(meter, customer)
        item = Needed(
            customer.id, meter.id, lat, lon, customer.address, reasons, [t.id for t in checks]
        )
        items.append(item)
        by_customer.setdefault(customer.id, item)
    for customer_id, visits in customer_tasks.items():
        found = by_customer.get(customer_id)
        if found is not None:
            item = found
        else:
            owner = customers.get(customer_id) or await session.get(Customer, customer_id)
            assert owner is not None
            item = Needed(owner.id, None, owner.latitude, owner.longitude, owner.address)
            items.append(item)
        for t in visits:
            if t.kind.value not in item.reasons:
                item.reasons.append(t.kind.value)
            item.task_ids.append(t.id)
    return items


def _position(meter: Meter, customer: Customer) -> tuple[float | None, float | None]:
    if meter.latitude is not None and meter.longitude is not None:
        return meter.latitude, meter.longitude
    return customer.latitude, customer.longitude


def _order(items: list[Needed], start: tuple[float, float] | None) -> list[Needed]:
    keys = plan_route(
        [Stop(i, it.lat, it.lon, it.label) for i, it in enumerate(items)], start=start
    )
    return [items[k] for k in keys]


async def _write_items(session: AsyncSession, book: ReadingBook, ordered: list[Needed]) -> None:
    await session.execute(delete(ReadingBookItem).where(ReadingBookItem.book_id == book.id))
    await session.flush()
    session.add_all(
        ReadingBookItem(
            book_id=book.id,
            seq=n,
            customer_id=it.customer_id,
            meter_pk=it.meter_pk,
            reasons=",".join(it.reasons),
            task_ids=",".join(str(t) for t in it.task_ids),
        )
        for n, it in enumerate(ordered, 1)
    )


async def _inspector(session: AsyncSession, inspector_id: int) -> User:
    user = await session.get(User, inspector_id)
    if user is None or user.role != Role.INSPECTOR:
        raise NotFound(
            E.INSPECTOR_NOT_FOUND,
            f"inspector {inspector_id} not found",
            field="inspector_id",
            inspector=inspector_id,
        )
    return user


async def generate(
    session: AsyncSession,
    caller: Caller,
    inspector_id: int,
    cycle: str | None,
    now_ms: int,
    settings: Settings,
    start: Position | None = None,
) -> tuple[ReadingBook, bool]:
    """The inspector's book for the cycle, made on first request (idempotent); True if made."""
    if not caller.unscoped and inspector_id != caller.user_id:
        raise NotFound(
            E.INSPECTOR_NOT_FOUND,
            f"inspector {inspector_id} not found",
            field="inspector_id",
            inspector=inspector_id,
        )
    await _inspector(session, inspector_id)
    cycle = cycle or cycle_of(now_ms, settings.timezone)
    existing = await session.scalar(
        select(ReadingBook).where(
            ReadingBook.inspector_id == inspector_id, ReadingBook.cycle == cycle
        )
    )
    if existing is not None:
        return existing, False
    point = (start.latitude, start.longitude) if start else None
    ordered = _order(await needed(session, inspector_id, cycle, now_ms, settings), point)
    at = from_epoch_ms(now_ms)
    book = ReadingBook(
        inspector_id=inspector_id,
        cycle=cycle,
        version=1,
        generated_at=at,
        planned_at=at,
        start_latitude=point[0] if point else None,
        start_longitude=point[1] if point else None,
    )
    session.add(book)
    try:
        await session.flush()
        await _write_items(session, book, ordered)
        await session.commit()
    except IntegrityError:  # generated concurrently: the other one stands
        await session.rollback()
        raced = await session.scalar(
            select(ReadingBook).where(
                ReadingBook.inspector_id == inspector_id, ReadingBook.cycle == cycle
            )
        )
        if raced is None:
            raise
        return raced, False
    return book, True


async def visible_book(session: AsyncSession, caller: Caller, book_id: int) -> ReadingBook:
    book = await session.get(ReadingBook, book_id)
    if book is None or (not caller.unscoped and book.inspector_id != caller.user_id):
        raise NotFound(E.BOOK_NOT_FOUND, f"book {book_id} not found", book=book_id)
    return book


async def replan(
    session: AsyncSession,
    caller: Caller,
    book_id: int,
    now_ms: int,
    settings: Settings,
    start: Position | None = None,
) -> ReadingBook:
    """Bring the book up to date mid-cycle: keep what was read, in place; add meters that now
    need a person, drop unread ones that no longer do, and re-plan the rest of the walk from
    the last meter read (or the start). The version moves only if something changed."""
    book = await visible_book(session, caller, book_id)
    lo, hi = cycle_bounds(book.cycle, settings.timezone)
    old = (
        await session.scalars(
            select(ReadingBookItem)
            .where(ReadingBookItem.book_id == book.id)
            .order_by(ReadingBookItem.seq)
        )
    ).all()
    read = set(
        await session.scalars(
            select(FieldReading.meter_pk).where(
                FieldReading.kind == FieldReadingKind.READING,
                FieldReading.ts >= lo,
                FieldReading.ts < hi,
                FieldReading.meter_pk.in_([i.meter_pk for i in old if i.meter_pk is not None]),
            )
        )
    )
    kept = [i for i in old if i.meter_pk in read]
    fresh = [
        n
        for n in await needed(session, book.inspector_id, book.cycle, now_ms, settings)
        if n.meter_pk is None or n.meter_pk not in read
    ]
    point = (start.latitude, start.longitude) if start else None
    if kept and point is None:
        last = await session.get(Meter, kept[-1].meter_pk)
        customer = await session.get(Customer, kept[-1].customer_id)
        assert last is not None
        assert customer is not None
        lat, lon = _position(last, customer)
        point = (lat, lon) if lat is not None and lon is not None else None
    elif point is None and book.start_latitude is not None and book.start_longitude is not None:
        point = (book.start_latitude, book.start_longitude)
    kept_needed = [
        Needed(i.customer_id, i.meter_pk, None, None, "", i.reasons.split(","), ids(i.task_ids))
        for i in kept
    ]
    ordered = kept_needed + _order(fresh, point)
    before = [(i.customer_id, i.meter_pk, i.reasons, i.task_ids) for i in old]
    after = [
        (n.customer_id, n.meter_pk, ",".join(n.reasons), ",".join(map(str, n.task_ids)))
        for n in ordered
    ]
    if before != after:
        await _write_items(session, book, ordered)
        book.version += 1
        book.planned_at = from_epoch_ms(now_ms)
        await session.commit()
    return book


def _etag(book: ReadingBook, changes: int, last: int, settings: Settings) -> str:
    """The book's version: its row, the count and newest id of its changes (kept by triggers,
    migration 0034) and the settings the view is made with. Both the count and the id: on
    PostgreSQL a change may commit after a newer one, and the count still moves then."""
    marks = (
        Thresholds.from_settings(settings), settings.field_usual_lookback_days, settings.timezone,
        (book.id, book.cycle, book.version, book.inspector_id),
        (to_epoch_ms(book.generated_at), to_epoch_ms(book.planned_at)), changes, last,
    )  # fmt: skip
    return f'"{hashlib.sha256(msgspec.json.encode(marks)).hexdigest()[:32]}"'


def _stamped(*where: ColumnElement[bool]) -> Select[ReadingBook, int, int]:
    c = ReadingBookChange
    left = select(func.count(c.id)).where(c.book_id == ReadingBook.id).scalar_subquery()
    changes = ReadingBook.changes_folded + left
    last = select(func.coalesce(func.max(c.id), 0)).where(c.book_id == ReadingBook.id)
    return select(ReadingBook, changes, last.scalar_subquery()).where(*where)


COMPACT_BATCH = 5_000  # change rows folded per transaction: short, whatever the backlog


async def compact_changes(
    sessions: async_sessionmaker[AsyncSession], *, batch: int = COMPACT_BATCH
) -> int:
    """Fold every book's change rows but its newest into ``reading_books.changes_folded``,
    in transactions of at most ``batch`` rows; returns how many were folded. The ETag (the
    count, folded + left, and the newest id) is the same before and after, so a handheld's
    304 still holds. The count comes from what the DELETE itself removed, so two processes
    compacting at once never count a row twice."""
    c = ReadingBookChange
    newer = aliased(ReadingBookChange)
    folded = 0
    while True:
        async with sessions() as session:
            ids = (
                await session.scalars(
                    select(c.id)
                    .where(exists().where(newer.book_id == c.book_id, newer.id > c.id))
                    .order_by(c.id)
                    .limit(batch)
                )
            ).all()
            if not ids:
                return folded
            gone = (
                await session.scalars(delete(c).where(c.id.in_(ids)).returning(c.book_id))
            ).all()
            for book_id, n in Counter(gone).items():
                await session.execute(
                    update(ReadingBook)
                    .where(ReadingBook.id == book_id)
                    .values(changes_folded=ReadingBook.changes_folded + n)
                )
            await session.commit()
        folded += len(gone)
        if len(ids) < batch:
            return folded


async def current_etag(
    session: AsyncSession, inspector_id: int, cycle: str, settings: Settings
) -> str | None:
    """The ETag of the inspector's book for the cycle, if it exists: one indexed read, so the
    handheld's "nothing changed?" is answered without reading what the book is made of."""
    row = (
        await session.execute(
            _stamped(ReadingBook.inspector_id == inspector_id, ReadingBook.cycle == cycle)
        )
    ).first()
    return None if row is None else _etag(row[0], row[1], row[2], settings)


async def etag_of(session: AsyncSession, book: ReadingBook, settings: Settings) -> str:
    row = (await session.execute(_stamped(ReadingBook.id == book.id))).one()
    return _etag(book, row[1], row[2], settings)


async def view(
    session: AsyncSession, book: ReadingBook, settings: Settings, if_none_match: list[str]
) -> tuple[bytes | None, str]:
    """The book as the handheld gets it (encoded JSON) and its ETag; None instead of the book
    when ``if_none_match`` holds that ETag: nothing changed, and the book is not read. A book
    encoded under its current ETag before is sent as it was (``RENDERED_BOOKS``)."""
    etag = await etag_of(session, book, settings)
    if etag in if_none_match or f"W/{etag}" in if_none_match:
        return None, etag
    key = (settings.database_url, book.id, etag)
    if (body := _rendered.get(key)) is not None:
        _rendered.move_to_end(key)
        return body, etag
    # facts read after the ETag: a change in between gives newer facts under the older ETag,
    # which the next request no longer matches, never the reverse
    facts = await books_view.facts(session, book, settings)
    body = msgspec.json.encode(books_view.build(book, facts, settings))
    _rendered[key] = body
    while len(_rendered) > RENDERED_BOOKS:
        _rendered.popitem(last=False)
    return body, etag


RENDERED_BOOKS = 32  # books kept encoded per process, by version (about 350 KB each at 500 stops)
# A book's body under its ETag: every change to what the book shows moves the ETag (the
# triggers of migration 0034), so a body stored under the current ETag is the book as it is
# now. The route checks the caller may see the book before it asks; the database's URL is
# in the key so that two databases in one process never share a body.
_rendered: OrderedDict[tuple[str, int, str], bytes] = OrderedDict()


async def list_books(
    session: AsyncSession, caller: Caller, inspector_id: int | None, cycle: str | None
) -> list[BookSummary]:
    query = select(ReadingBook).order_by(ReadingBook.cycle.desc(), ReadingBook.inspector_id)
    if not caller.unscoped:
        query = query.where(ReadingBook.inspector_id == caller.user_id)
    if inspector_id is not None:
        query = query.where(ReadingBook.inspector_id == inspector_id)
    if cycle is not None:
        query = query.where(ReadingBook.cycle == cycle)
    out = []
    for book in await session.scalars(query.limit(500)):
        total = len(
            (
                await session.scalars(
                    select(ReadingBookItem.id).where(ReadingBookItem.book_id == book.id)
                )
            ).all()
        )
        out.append(
            BookSummary(
                id=book.id,
                cycle=book.cycle,
                version=book.version,
                inspector_id=book.inspector_id,
                total=total,
                planned_at=to_epoch_ms(book.planned_at),
            )
        )
    return out
