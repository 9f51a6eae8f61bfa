"""Read a CSV, validate every row, upsert the good ones, report the bad ones with line numbers.

A bad row never stops the good ones: each row is validated on its own (msgspec) and written in
its own savepoint, so a row the database refuses is reported and the rest carry on. Rows are
upserted on their natural key (customer number 户号, account number, meter id), so running the
same file twice changes nothing the second time.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, time
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

import msgspec
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.accounts.models import Account, Customer
from backend.field.grids.models import Grid, TransformerArea
from backend.importer.schemas import HEADER_ALIASES, VALUE_ALIASES, CustomerRow, MeterRow
from backend.metering.models import Agent, Meter, MeterStatus

COMMIT_EVERY = 500


class ImportFileError(ValueError):
    """The file as a whole cannot be read (missing, wrong encoding, unknown header)."""


@dataclass
class Rejected:
    line: int
    reason: str
    row: dict[str, str]


@dataclass
class ImportReport:
    kind: str
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[Rejected] = field(default_factory=list)

    @property
    def imported(self) -> int:
        return self.created + self.updated + self.unchanged


class RowError(ValueError):
    """A row that validated but contradicts the database (unknown customer, ...)."""


def read_rows(
    fh: TextIO, row_type: type[msgspec.Struct]
) -> tuple[list[str], Iterator[tuple[int, dict[str, str]]]]:
    """Header check, then (line number, raw row) pairs; the line is where the row starts."""
    reader = csv.reader(fh)
    try:
        header = next(reader)
    except StopIteration:
        raise ImportFileError("the file is empty: expected a header line") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ImportFileError(f"line 1: {exc}") from None
    names = [HEADER_ALIASES.get(h.strip(), h.strip()) for h in header]
    known = set(row_type.__struct_fields__)
    unknown = [h for h, n in zip(header, names, strict=True) if n not in known]
    if unknown:
        raise ImportFileError(
            f"line 1: unknown column(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )

    def rows() -> Iterator[tuple[int, dict[str, str]]]:
        start = 2
        while True:
            try:
                values = next(reader)
            except StopIteration:
                return
            except (UnicodeDecodeError, csv.Error) as exc:
                yield start, {"__error__": str(exc)}
                start = reader.line_num + 1
                continue
            if any(v.strip() for v in values):
                yield (
                    start,
                    dict(zip(names, values, strict=False))
                    | (
                        {"__error__": f"{len(values)} fields, header has {len(names)}"}
                        if len(values) != len(names)
                        else {}
                    ),
                )
            start = reader.line_num + 1

    return names, rows()


def parse_row(raw: dict[str, str], row_type: type[msgspec.Struct]) -> Any:
    if "__error__" in raw:
        raise ValueError(raw["__error__"])
    cleaned = {}
    for key, value in raw.items():
        value = value.strip()
        if value:
            cleaned[key] = VALUE_ALIASES.get(value, value)
    try:
        return msgspec.convert(cleaned, row_type, strict=False)
    except msgspec.ValidationError as exc:
        raise ValueError(str(exc).replace("$.", "")) from None


async def _grid(session: AsyncSession, code: str, name: str | None) -> Grid:
    grid = await session.scalar(select(Grid).where(Grid.code == code))
    if grid is None:
        grid = Grid(code=code, name=name or code)
        session.add(grid)
        await session.flush()
    elif name and grid.name != name:
        grid.name = name
    return grid


async def _area(
    session: AsyncSession, code: str, name: str | None, grid: Grid | None
) -> TransformerArea:
    area = await session.scalar(select(TransformerArea).where(TransformerArea.code == code))
    if area is None:
        area = TransformerArea(code=code, name=name or code, grid_id=grid.id if grid else None)
        session.add(area)
        await session.flush()
    elif name and area.name != name:
        area.name = name
    return area


def _assign(obj: Any, values: dict[str, Any]) -> bool:
    changed = False
    for key, value in values.items():
        if getattr(obj, key) != value:
            setattr(obj, key, value)
            changed = True
    return changed


async def upsert_customer(session: AsyncSession, row: CustomerRow, _: ZoneInfo) -> str:
    grid = await _grid(session, row.grid_code, row.grid_name) if row.grid_code else None
    area = await _area(session, row.area_code, row.area_name, grid) if row.area_code else None
    values = {
        "name": row.name, "phone": row.phone, "category": row.category,
        "address": row.address, "latitude": row.latitude, "longitude": row.longitude,
        "grid_id": grid.id if grid else None, "transformer_area_id": area.id if area else None,
        "protected": row.protected, "key_account_class": row.key_account_class,
    }  # fmt: skip
    customer = await session.scalar(select(Customer).where(Customer.number == row.number))
    outcome = "unchanged"
    if customer is None:
        customer = Customer(number=row.number, **values)
        session.add(customer)
        await session.flush()
        outcome = "created"
    elif _assign(customer, values):
        outcome = "updated"
    if row.account_number:
        account = await session.scalar(select(Account).where(Account.number == row.account_number))
        if account is None:
            session.add(
                Account(number=row.account_number, customer_id=customer.id, kind=row.account_kind)
            )
            outcome = "updated" if outcome == "unchanged" else outcome
        elif account.customer_id != customer.id:
            raise RowError(f"account_number: {row.account_number} belongs to another customer")
        elif _assign(account, {"kind": row.account_kind}) and outcome == "unchanged":
            outcome = "updated"
    return outcome


async def upsert_meter(session: AsyncSession, row: MeterRow, tz: ZoneInfo) -> str:
    customer_id = account_id = None
    if row.customer_number:
        customer_id = await session.scalar(
            select(Customer.id).where(Customer.number == row.customer_number)
        )
        if customer_id is None:
            raise RowError(f"customer_number: no customer {row.customer_number} (import it first)")
    if row.account_number:
        account = await session.scalar(select(Account).where(Account.number == row.account_number))
        if account is None or account.customer_id != customer_id:
            raise RowError(f"account_number: no account {row.account_number} of this customer")
        account_id = account.id
    elif customer_id is not None:
        ids = list(
            await session.scalars(select(Account.id).where(Account.customer_id == customer_id))
        )
        account_id = ids[0] if len(ids) == 1 else None  # the customer's only account
    if row.agent_id and await session.get(Agent, row.agent_id) is None:
        session.add(Agent(id=row.agent_id, online=False))  # known before it first connects
        await session.flush()
    values: dict[str, Any] = {
        "serial": row.serial, "protocol": row.protocol, "address": row.address,
        "agent_id": row.agent_id, "customer_id": customer_id, "account_id": account_id,
        "status": row.status, "installed_on": row.installed_on, "expires_on": row.expires_on,
        "latitude": row.latitude, "longitude": row.longitude,
    }  # fmt: skip
    if row.relay_control_mode is not None:
        values["relay_control_mode"] = row.relay_control_mode
    meter = await session.scalar(select(Meter).where(Meter.meter_id == row.meter_id))
    if row.replaces:
        old = await session.scalar(select(Meter).where(Meter.meter_id == row.replaces))
        if old is None or old.meter_id == row.meter_id:
            raise RowError(f"replaces: no other meter {row.replaces}")
        values["replaces_meter_id"] = old.id
        if old.status != MeterStatus.REMOVED:  # the old chain ends where the new one starts
            old.status = MeterStatus.REMOVED
            day = row.installed_on or datetime.now(tz).date()
            old.removed_at = datetime.combine(day, time(0), tz)
    outcome = "unchanged"
    if meter is None:
        session.add(Meter(meter_id=row.meter_id, **values))
        outcome = "created"
    elif _assign(meter, values):
        outcome = "updated"
    await session.flush()
    return outcome


IMPORTERS: dict[str, tuple[type[msgspec.Struct], Callable[..., Any]]] = {
    "customers": (CustomerRow, upsert_customer),
    "meters": (MeterRow, upsert_meter),
}


async def import_file(
    factory: async_sessionmaker[AsyncSession],
    kind: str,
    path: Path,
    *,
    timezone: str = "Asia/Shanghai",
    encoding: str = "utf-8-sig",
    progress: Callable[[int], None] = lambda _: None,
) -> ImportReport:
    row_type, upsert = IMPORTERS[kind]
    tz = ZoneInfo(timezone)
    report = ImportReport(kind)
    try:
        fh = path.open(encoding=encoding, newline="")
    except OSError as exc:
        raise ImportFileError(f"{path}: {exc.strerror}") from None
    with fh:
        _, rows = read_rows(fh, row_type)
        async with factory() as session:
            pending = 0
            for line, raw in rows:
                report.rows += 1
                progress(1)
                try:
                    row = parse_row(raw, row_type)
                    async with session.begin_nested():
                        outcome = await upsert(session, row, tz)
                except (ValueError, SQLAlchemyError) as exc:
                    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                    report.rejected.append(Rejected(line, reason, raw))
                    continue
                setattr(report, outcome, getattr(report, outcome) + 1)
                pending += 1
                if pending >= COMMIT_EVERY:
                    await session.commit()
                    pending = 0
            await session.commit()
    return report


def write_rejects(report: ImportReport, out: Path) -> None:
    """The rejected rows as CSV: line, reason, then the row's columns as read."""
    header = list(dict.fromkeys(k for r in report.rejected for k in r.row if k != "__error__"))
    with out.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["line", "reason", *header])
        for r in report.rejected:
            w.writerow([r.line, r.reason, *(r.row.get(h, "") for h in header)])
