"""Read a CSV, validate every row, upsert the good ones, report the bad ones with line numbers.

A bad row never stops the good ones: each row is validated on its own (msgspec) and written in
its own savepoint, so a row the database refuses is reported and the rest carry on. Rows are
upserted on their natural key (customer number 户号, account number, meter id), so running the
same file twice changes nothing the second time.

Guards against a file doing more than it says (docs/import.md):

* reference data — a grid's or a transformer area's name — is never renamed by a row that
  happens to name it differently; that row is rejected unless ``rename_reference`` is given;
* a key (customer number, meter id) twice in one file rejects *every* row
  carrying it, each naming the other lines: which one is right is for a person to say;
* a cell that a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``, tab or carriage
  return first) is rejected, as is a NUL anywhere; a phone number or a signed number
  (``+86 138…``, ``-12.5``) is data, not a formula, and passes.
"""

from __future__ import annotations

import csv
import re
from collections import defaultdict
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


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_SIGNED_NUMBER = re.compile(r"^[+-]?[0-9][0-9 .()-]*$")  # +86 138 0000 0000, -12.5


def check_cell(key: str, value: str) -> None:
    """Refuse a cell a spreadsheet would execute when this data is exported again, and NUL."""
    if "\0" in value:
        raise ValueError(f"{key}: contains a NUL character")
    stripped = value.strip(" ")
    if stripped.startswith(_FORMULA_START) and not _SIGNED_NUMBER.fullmatch(stripped):
        raise ValueError(
            f"{key}: a cell may not start with {stripped[0]!r} (a spreadsheet formula)"
        )


def parse_row(raw: dict[str, str], row_type: type[msgspec.Struct]) -> Any:
    if "__error__" in raw:
        raise ValueError(raw["__error__"])
    cleaned = {}
    for key, value in raw.items():
        check_cell(key, value)
        value = value.strip()
        if value:
            cleaned[key] = VALUE_ALIASES.get(value, value)
    try:
        return msgspec.convert(cleaned, row_type, strict=False)
    except msgspec.ValidationError as exc:
        raise ValueError(str(exc).replace("$.", "")) from None


@dataclass(frozen=True)
class ImportOptions:
    tz: ZoneInfo
    rename_reference: bool = False  # a row may rename a grid or transformer area


def _rename(obj: Grid | TransformerArea, what: str, name: str | None, opts: ImportOptions) -> None:
    if not name or obj.name == name:
        return
    if not opts.rename_reference:
        raise RowError(
            f"{what}_name: {what} {obj.code} is named {obj.name!r}, this row says {name!r}; "
            "reference data is renamed only with --rename-reference"
        )
    obj.name = name


async def _grid(session: AsyncSession, code: str, name: str | None, opts: ImportOptions) -> Grid:
    grid = await session.scalar(select(Grid).where(Grid.code == code))
    if grid is None:
        grid = Grid(code=code, name=name or code)
        session.add(grid)
        await session.flush()
    _rename(grid, "grid", name, opts)
    return grid


async def _area(
    session: AsyncSession, code: str, name: str | None, grid: Grid | None, opts: ImportOptions
) -> TransformerArea:
    area = await session.scalar(select(TransformerArea).where(TransformerArea.code == code))
    if area is None:
        area = TransformerArea(code=code, name=name or code, grid_id=grid.id if grid else None)
        session.add(area)
        await session.flush()
    _rename(area, "area", name, opts)
    return area


def _assign(obj: Any, values: dict[str, Any]) -> bool:
    changed = False
    for key, value in values.items():
        if getattr(obj, key) != value:
            setattr(obj, key, value)
            changed = True
    return changed


async def upsert_customer(session: AsyncSession, row: CustomerRow, opts: ImportOptions) -> str:
    grid = await _grid(session, row.grid_code, row.grid_name, opts) if row.grid_code else None
    area = await _area(session, row.area_code, row.area_name, grid, opts) if row.area_code else None
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


async def _meter_owner(session: AsyncSession, row: MeterRow) -> tuple[int | None, int | None]:
    """(customer id, account id) the row names; the account defaults to the customer's only."""
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
    return customer_id, account_id


async def _replace(session: AsyncSession, row: MeterRow, tz: ZoneInfo) -> int:
    """换表: the meter this one replaces ends its chain at local midnight of installation."""
    old = await session.scalar(select(Meter).where(Meter.meter_id == row.replaces))
    if old is None or old.meter_id == row.meter_id:
        raise RowError(f"replaces: no other meter {row.replaces}")
    if old.status != MeterStatus.REMOVED:  # the old chain ends where the new one starts
        old.status = MeterStatus.REMOVED
        day = row.installed_on or datetime.now(tz).date()
        old.removed_at = datetime.combine(day, time(0), tz)
    return old.id


async def upsert_meter(session: AsyncSession, row: MeterRow, opts: ImportOptions) -> str:
    customer_id, account_id = await _meter_owner(session, row)
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
        values["replaces_meter_id"] = await _replace(session, row, opts.tz)
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
# the natural key of each kind: a value twice in one file is ambiguous (an account number of
# another customer is refused row by row, as against the database)
KEYS: dict[str, tuple[str, ...]] = {
    "customers": ("number",),
    "meters": ("meter_id",),
}


def duplicates(
    rows: Iterator[tuple[int, dict[str, str]]], keys: tuple[str, ...]
) -> dict[tuple[str, str], list[int]]:
    """(column, value) → the lines carrying it, for the values on more than one line."""
    seen: dict[tuple[str, str], list[int]] = defaultdict(list)
    for line, raw in rows:
        for key in keys:
            value = raw.get(key, "").strip()
            if value:
                seen[(key, value)].append(line)
    return {k: lines for k, lines in seen.items() if len(lines) > 1}


def _duplicate_reason(
    raw: dict[str, str], line: int, dups: dict[tuple[str, str], list[int]], keys: tuple[str, ...]
) -> str | None:
    for key in keys:
        lines = dups.get((key, raw.get(key, "").strip()))
        if lines:
            others = ", ".join(str(n) for n in lines if n != line)
            return (
                f"{key}: {raw[key].strip()} is on lines {line} and {others} of this file; "
                "none of them was imported"
            )
    return None


async def import_file(
    factory: async_sessionmaker[AsyncSession],
    kind: str,
    path: Path,
    *,
    timezone: str = "Asia/Shanghai",
    encoding: str = "utf-8-sig",
    progress: Callable[[int], None] = lambda _: None,
    rename_reference: bool = False,
) -> ImportReport:
    row_type, upsert = IMPORTERS[kind]
    opts = ImportOptions(ZoneInfo(timezone), rename_reference=rename_reference)
    report = ImportReport(kind)
    try:
        fh = path.open(encoding=encoding, newline="")
    except OSError as exc:
        raise ImportFileError(f"{path}: {exc.strerror}") from None
    with fh:
        dups = duplicates(read_rows(fh, row_type)[1], KEYS[kind])  # a first pass: keys only
        fh.seek(0)
        _, rows = read_rows(fh, row_type)
        async with factory() as session:
            pending = 0
            for line, raw in rows:
                report.rows += 1
                progress(1)
                try:
                    duplicate = _duplicate_reason(raw, line, dups, KEYS[kind])
                    if duplicate:
                        raise RowError(duplicate)
                    row = parse_row(raw, row_type)
                    async with session.begin_nested():
                        outcome = await upsert(session, row, opts)
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
