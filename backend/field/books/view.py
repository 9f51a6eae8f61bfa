"""A reading book as the handheld stores it offline: customers, meters, last values, ranges."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts.models import Customer
from backend.field.books.cycles import cycle_bounds, ids
from backend.field.books.models import FieldTask, ReadingBook, ReadingBookItem
from backend.field.books.routing import path_length_m
from backend.field.books.schemas import (
    Book,
    BookCustomer,
    BookItem,
    BookMeter,
    BookTask,
    Done,
    Expected,
    LastValue,
)
from backend.field.readings.history import first_values_since, latest_values
from backend.field.readings.models import FieldReading, FieldReadingKind
from backend.field.readings.plausibility import (
    DAY_MS,
    Sample,
    Thresholds,
    daily_rates,
    usual_daily_wh,
)
from backend.field.readings.schemas import READABLE, TOTAL
from backend.metering.models import Meter
from backend.settings import Settings
from backend.types import to_epoch_ms


@dataclass
class _Facts:
    """Everything a book's items refer to, each read once for the whole book."""

    items: Sequence[ReadingBookItem]
    customers: dict[int, Customer]
    meters: dict[int, Meter]
    tasks: dict[int, FieldTask]
    latest: dict[int, dict[str, tuple[int, int, str]]]
    firsts: dict[int, Sample]
    done: dict[int, Done]


async def facts(session: AsyncSession, book: ReadingBook, settings: Settings) -> _Facts:
    """Everything the book's view is made of (a few statements, index seeks per meter)."""
    return await _facts(session, book, settings)


async def render(session: AsyncSession, book: ReadingBook, settings: Settings) -> Book:
    return build(book, await _facts(session, book, settings), settings)


def build(book: ReadingBook, facts: _Facts, settings: Settings) -> Book:
    th = Thresholds.from_settings(settings)
    out_items = []
    points = []
    for item in facts.items:
        customer = facts.customers[item.customer_id]
        meter = facts.meters.get(item.meter_pk) if item.meter_pk is not None else None
        position = _position(meter, customer)
        if position is not None:
            points.append(position)
        out_items.append(_item(item, customer, meter, facts, th))
    return Book(
        id=book.id,
        cycle=book.cycle,
        version=book.version,
        inspector_id=book.inspector_id,
        generated_at=to_epoch_ms(book.generated_at),
        planned_at=to_epoch_ms(book.planned_at),
        route_length_m=round(path_length_m(points)),
        total=len(out_items),
        done=sum(1 for i in out_items if i.done is not None),
        items=out_items,
    )


async def _facts(session: AsyncSession, book: ReadingBook, settings: Settings) -> _Facts:
    items = (
        await session.scalars(
            select(ReadingBookItem)
            .where(ReadingBookItem.book_id == book.id)
            .order_by(ReadingBookItem.seq)
        )
    ).all()
    customer_ids = sorted({i.customer_id for i in items})
    meter_pks = sorted({i.meter_pk for i in items if i.meter_pk is not None})
    customers = {
        c.id: c
        for c in await session.scalars(select(Customer).where(Customer.id.in_(customer_ids)))
    }
    meters = {m.id: m for m in await session.scalars(select(Meter).where(Meter.id.in_(meter_pks)))}
    task_ids = sorted({t for i in items for t in ids(i.task_ids)})
    tasks = {
        t.id: t for t in await session.scalars(select(FieldTask).where(FieldTask.id.in_(task_ids)))
    }
    latest = await latest_values(session, meter_pks, READABLE)
    lookback = settings.field_usual_lookback_days * DAY_MS
    firsts = await first_values_since(
        session, {pk: v[TOTAL][0] - lookback for pk, v in latest.items() if TOTAL in v}
    )
    lo, hi = cycle_bounds(book.cycle, settings.timezone)
    done: dict[int, Done] = {}
    for client_id, meter_pk, ts in await session.execute(
        select(FieldReading.client_id, FieldReading.meter_pk, FieldReading.ts)
        .where(
            FieldReading.kind == FieldReadingKind.READING,
            FieldReading.meter_pk.in_(meter_pks),
            FieldReading.ts >= lo,
            FieldReading.ts < hi,
        )
        .order_by(FieldReading.ts)
    ):
        done.setdefault(meter_pk, Done(reading_id=client_id, ts=ts))
    return _Facts(items, customers, meters, tasks, latest, firsts, done)


def _position(meter: Meter | None, customer: Customer) -> tuple[float, float] | None:
    """Where the stop is: the meter's own fix, else the customer's address."""
    if meter is not None and meter.latitude is not None and meter.longitude is not None:
        return meter.latitude, meter.longitude
    if customer.latitude is not None and customer.longitude is not None:
        return customer.latitude, customer.longitude
    return None


def _item(
    item: ReadingBookItem,
    customer: Customer,
    meter: Meter | None,
    facts: _Facts,
    th: Thresholds,
) -> BookItem:
    return BookItem(
        seq=item.seq,
        kind="reading" if meter is not None else "visit",
        reasons=[r for r in item.reasons.split(",") if r],
        customer=BookCustomer(
            id=customer.id,
            number=customer.number,
            name=customer.name,
            address=customer.address,
            phone=customer.phone,
            category=customer.category.value,
            key_account_class=customer.key_account_class,
            latitude=customer.latitude,
            longitude=customer.longitude,
        ),
        meter=_book_meter(meter, facts, th) if meter is not None else None,
        tasks=[_task(facts.tasks[t]) for t in ids(item.task_ids) if t in facts.tasks],
        done=facts.done.get(meter.id) if meter is not None else None,
    )


def _task(t: FieldTask) -> BookTask:
    return BookTask(
        id=t.id,
        kind=t.kind.value,
        status=t.status.value,
        due_on=t.due_on.isoformat() if t.due_on else None,
        note=t.note,
    )


def _book_meter(meter: Meter, facts: _Facts, th: Thresholds) -> BookMeter:
    last = facts.latest.get(meter.id, {})
    previous = Sample(last[TOTAL][0], last[TOTAL][1]) if TOTAL in last else None
    usual = usual_daily_wh(facts.firsts.get(meter.id), previous, th)
    expected = None
    if previous is not None and usual is not None:
        low_rate, high_rate = daily_rates(usual, th)
        expected = Expected(
            previous_wh=previous.value,
            previous_ts=previous.ts,
            low_wh_per_day=math.floor(low_rate),  # rounded outwards: never narrower
            high_wh_per_day=math.ceil(high_rate),
        )
    return BookMeter(
        meter_id=meter.meter_id,
        serial=meter.serial,
        latitude=meter.latitude,
        longitude=meter.longitude,
        last={
            q: LastValue(value_wh=v, ts=ts, source=src) for q, (ts, v, src) in sorted(last.items())
        },
        expected=expected,
    )
