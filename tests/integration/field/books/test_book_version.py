"""A book's version kept by the database as things in it change: the 304 is one indexed read."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from backend.accounts.models import Customer
from backend.field.books.models import FieldTask, FieldTaskKind, ReadingBookChange
from backend.field.books.service import compact_changes
from backend.metering.models import Meter, Reading
from tests.integration.field.conftest import Tokens
from tests.integration.field.district import NOW_MS, District
from tests.support.statements import counted

BOOK = "/api/field/books/current"
Change = Callable[[AsyncSession, dict[str, Any], District], Awaitable[None]]


async def _ami_reading(session: AsyncSession, item: dict[str, Any], district: District) -> None:
    """An AMI reading of a meter in the book arrives (its concentrator is back)."""
    meter = district.meter(item["meter"]["meter_id"])
    await session.execute(
        insert(Reading).values(
            meter_pk=meter.pk, quantity="energy_import", ts=NOW_MS - 60_000,
            value=meter.value_at(NOW_MS - 60_000), received_at=NOW_MS,
        )
    )  # fmt: skip


async def _meter_edit(session: AsyncSession, item: dict[str, Any], district: District) -> None:
    """The meter in the book was replaced in the field: a new serial number."""
    meter = district.meter(item["meter"]["meter_id"])
    await session.execute(update(Meter).where(Meter.id == meter.pk).values(serial="SN-NEW-1"))


async def _customer_edit(session: AsyncSession, item: dict[str, Any], _: District) -> None:
    cid = item["customer"]["id"]
    await session.execute(update(Customer).where(Customer.id == cid).values(address="新地址 1 号"))


async def _task_edit(session: AsyncSession, item: dict[str, Any], _: District) -> None:
    """A visit of a customer in the book is given a new note (an assignment's details)."""
    await session.execute(
        update(FieldTask)
        .where(FieldTask.customer_id == item["customer"]["id"])
        .values(note="带梯子")
    )


CHANGES: dict[str, Change] = {
    "an AMI reading": _ami_reading,
    "a meter edit": _meter_edit,
    "a customer edit": _customer_edit,
    "a task edit": _task_edit,
}


@pytest.mark.parametrize("kind", list(CHANGES))
async def test_each_kind_of_change_to_something_in_the_book_moves_its_etag(
    kind: str,
    client: AsyncTestClient,
    auth: Tokens,
    session: AsyncSession,
    district: District,
) -> None:
    headers = auth("insp-west")
    item = (await client.get(BOOK, headers=headers)).json()["items"][0]
    session.add(
        FieldTask(kind=FieldTaskKind.CUSTOMER_VISIT, customer_id=item["customer"]["id"])
    )  # in the book only after a replan: adding it changes nothing the book shows
    await session.commit()
    first = await client.get(BOOK, headers=headers)
    etag = first.headers["ETag"]
    assert (await client.get(BOOK, headers={**headers, "If-None-Match": etag})).status_code == 304
    await CHANGES[kind](session, item, district)
    await session.commit()
    changed = await client.get(BOOK, headers={**headers, "If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["ETag"] != etag
    again = await client.get(BOOK, headers={**headers, "If-None-Match": changed.headers["ETag"]})
    assert again.status_code == 304


async def test_a_reading_of_a_meter_outside_the_book_keeps_the_etag(
    client: AsyncTestClient, auth: Tokens, session: AsyncSession, district: District
) -> None:
    headers = auth("insp-west")
    first = await client.get(BOOK, headers=headers)
    in_book = {i["meter"]["meter_id"] for i in first.json()["items"] if i["meter"]}
    other = next(m for m in district.meters if m.meter_id not in in_book)
    await session.execute(
        insert(Reading).values(
            meter_pk=other.pk, quantity="energy_import", ts=NOW_MS - 60_000,
            value=other.value_at(NOW_MS - 60_000), received_at=NOW_MS,
        )
    )  # fmt: skip
    await session.commit()
    same = await client.get(BOOK, headers={**headers, "If-None-Match": first.headers["ETag"]})
    assert same.status_code == 304


async def test_the_nothing_changed_answer_is_one_statement_however_large_the_book(
    client: AsyncTestClient, auth: Tokens, session: AsyncSession, district: District
) -> None:
    headers = auth("insp-west")
    app: Any = client.app

    async def not_modified() -> list[str]:
        etag = (await client.get(BOOK, headers=headers)).headers["ETag"]
        await client.get(BOOK, headers={**headers, "If-None-Match": etag})  # caller cached
        with counted(app.state.engine) as statements:
            r = await client.get(BOOK, headers={**headers, "If-None-Match": etag})
        assert r.status_code == 304
        return list(statements)

    small = await not_modified()
    # the book's meters get many readings: the 304 reads none of them
    for item in (await client.get(BOOK, headers=headers)).json()["items"]:
        if item["meter"] is None:
            continue
        meter = district.meter(item["meter"]["meter_id"])
        await session.execute(
            insert(Reading),
            [
                {"meter_pk": meter.pk, "quantity": "energy_import", "ts": NOW_MS - n * 3_600_000,
                 "value": meter.value_at(NOW_MS - n * 3_600_000), "received_at": NOW_MS}
                for n in range(1, 25)
            ],
        )  # fmt: skip
    await session.commit()
    large = await not_modified()
    assert len(small) == len(large) == 1
    assert re.search(r"\breadings\b", large[0]) is None, large[0]


async def test_compacting_the_change_log_keeps_every_books_etag_and_its_next_change_moves_it(
    client: AsyncTestClient,
    auth: Tokens,
    engine: AsyncEngine,
    session: AsyncSession,
    district: District,
) -> None:
    """The log keeps one row a book; a handheld whose book has not changed still gets 304, in
    parallel compactions no row is counted twice, and the next change still moves the ETag."""
    headers = auth("insp-west")
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    items = (await client.get(BOOK, headers=headers)).json()["items"]
    for item in items[:3]:
        await _ami_reading(session, item, district)
        await _customer_edit(session, item, district)
    await session.commit()
    etag = (await client.get(BOOK, headers=headers)).headers["ETag"]
    c = ReadingBookChange
    before = (await session.execute(select(func.count(c.id)))).scalar_one()
    books = (await session.execute(select(func.count(func.distinct(c.book_id))))).scalar_one()
    assert before > books

    # two processes compacting at once (small batches: several transactions each)
    folded = await asyncio.gather(
        compact_changes(sessions, batch=2), compact_changes(sessions, batch=2)
    )
    assert sum(folded) == before - books
    assert (await session.execute(select(func.count(c.id)))).scalar_one() == books
    assert await compact_changes(sessions) == 0  # nothing left to fold
    same = await client.get(BOOK, headers={**headers, "If-None-Match": etag})
    assert same.status_code == 304

    await _meter_edit(session, next(i for i in items if i["meter"]), district)
    await session.commit()
    changed = await client.get(BOOK, headers={**headers, "If-None-Match": etag})
    assert changed.status_code == 200


async def test_a_book_asked_again_unchanged_is_sent_as_built_and_a_change_is_in_the_next_one(
    client: AsyncTestClient, auth: Tokens, session: AsyncSession
) -> None:
    """The encoded book is kept under its ETag: a handheld that lost its copy (or a second
    device) gets it for the one indexed read of the 304, and never a copy older than the
    book's facts."""
    headers = auth("insp-west")
    app: Any = client.app
    first = await client.get(BOOK, headers=headers)
    await client.get(BOOK, headers=headers)  # caller cached
    with counted(app.state.engine) as statements:
        again = await client.get(BOOK, headers=headers)
    assert again.status_code == 200
    assert again.content == first.content
    assert again.headers["ETag"] == first.headers["ETag"]
    built = [s for s in statements if re.search(r"\b(readings|reading_book_items|customers)\b", s)]
    assert built == []

    item = first.json()["items"][0]
    await _customer_edit(session, item, District({}, {}, {}))
    await session.commit()
    changed = await client.get(BOOK, headers=headers)
    assert changed.headers["ETag"] != first.headers["ETag"]
    shown = next(i for i in changed.json()["items"] if i["seq"] == item["seq"])
    assert shown["customer"]["address"] == "新地址 1 号"
