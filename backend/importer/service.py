"""Read a CSV, validate every row, upsert the good ones, report the bad ones with line numbers.

A bad row never stops the good ones: each row is validated on its own (msgspec), then rows are
written a chunk at a time (``CHUNK_ROWS`` per transaction, a handful of statements per chunk: see
"the batched path" below); a chunk the database refuses is replayed row by row in savepoints, so
a row the database refuses is reported and the rest carry on. Rows are upserted on their natural
key (customer number 户号, account number, meter id), so running the same file twice changes
nothing the second time (and writes nothing).

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
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

import msgspec
from sqlalchemy import (
    bindparam,
    func,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from backend.accounts.models import Account, AccountKind, Customer
from backend.areas.models import AreaSupply, Feeder, MeterBox, MeterPlacement, Substation
from backend.db import among
from backend.field.grids.models import Grid, TransformerArea
from backend.importer.schemas import (
    HEADER_ALIASES,
    VALUE_ALIASES,
    AreaRow,
    BoxRow,
    CustomerRow,
    MeterRow,
)
from backend.metering.models import Agent, Meter, MeterStatus
from backend.types import utcnow


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
_SUSPECT_FIRST = frozenset("=+-@\t\r ")  # a cell starting otherwise needs no closer look
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
        if value[:1] in _SUSPECT_FIRST or "\0" in value:
            check_cell(key, value)
        value = value.strip()
        if value:
            cleaned[key] = VALUE_ALIASES.get(value, value)
    try:
        return msgspec.convert(cleaned, row_type, strict=False)
    except msgspec.ValidationError as exc:
        raise ValueError(str(exc).replace("$.", "")) from None


def cycle_anchor(row: CustomerRow) -> date | None:
    """The row's 年阶梯 start (MM-DD) as the account's cycle anchor (year 2000, a leap year, as
    billing's default anchor), or None when the row leaves it as is."""
    if row.tier_cycle_start is None:
        return None
    if not row.account_number:
        raise RowError("tier_cycle_start: needs an account_number (the account it starts)")
    month, day = (int(x) for x in row.tier_cycle_start.split("-"))
    try:
        return date(2000, month, day)
    except ValueError:
        raise RowError(
            f"tier_cycle_start: {row.tier_cycle_start} is not a day of the year (MM-DD)"
        ) from None


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
    anchor = cycle_anchor(row)
    if row.account_number:
        account = await session.scalar(select(Account).where(Account.number == row.account_number))
        if account is None:
            session.add(
                Account(
                    number=row.account_number,
                    customer_id=customer.id,
                    kind=row.account_kind,
                    cycle_start=anchor,
                )
            )
            outcome = "updated" if outcome == "unchanged" else outcome
        elif account.customer_id != customer.id:
            raise RowError(f"account_number: {row.account_number} belongs to another customer")
        else:
            changes: dict[str, Any] = {"kind": row.account_kind}
            if anchor is not None:
                changes["cycle_start"] = anchor
            if _assign(account, changes) and outcome == "unchanged":
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


async def upsert_area(session: AsyncSession, row: AreaRow, opts: ImportOptions) -> str:
    """An area's substation, feeder, transformer and total meter (docs/areas.md)."""
    grid = await _grid(session, row.grid_code, None, opts) if row.grid_code else None
    area = await _area(session, row.area_code, row.area_name, grid, opts)
    feeder_id = None
    if row.feeder_code:
        station = None
        if row.substation_code:
            station = await session.scalar(
                select(Substation).where(Substation.code == row.substation_code)
            )
            if station is None:
                station = Substation(code=row.substation_code,
                                     name=row.substation_name or row.substation_code)  # fmt: skip
                session.add(station)
                await session.flush()
        feeder = await session.scalar(select(Feeder).where(Feeder.code == row.feeder_code))
        if feeder is None:
            feeder = Feeder(code=row.feeder_code, name=row.feeder_name or row.feeder_code,
                            substation_id=station.id if station else None)  # fmt: skip
            session.add(feeder)
            await session.flush()
        feeder_id = feeder.id
    total = None
    if row.total_meter_id:
        total = await session.scalar(select(Meter.id).where(Meter.meter_id == row.total_meter_id))
        if total is None:
            raise RowError(f"total_meter_id: no meter {row.total_meter_id} (import meters first)")
    values = {"feeder_id": feeder_id, "rated_kva": row.rated_kva, "total_meter_pk": total,
              "ct_ratio": row.ct_ratio, "pt_ratio": row.pt_ratio}  # fmt: skip
    supply = await session.get(AreaSupply, area.id)
    if supply is None:
        session.add(AreaSupply(transformer_area_id=area.id, **values))
        await session.flush()
        return "created"
    return "updated" if _assign(supply, values) else "unchanged"


async def upsert_box(session: AsyncSession, row: BoxRow, opts: ImportOptions) -> str:
    """A meter box in its area, and a meter placed in it from a day on (docs/areas.md)."""
    area = await session.scalar(
        select(TransformerArea.id).where(TransformerArea.code == row.area_code)
    )
    if area is None:
        raise RowError(f"area_code: no area {row.area_code} (import areas first)")
    outcome = "unchanged"
    box = await session.scalar(select(MeterBox).where(MeterBox.code == row.box_code))
    if box is None:
        box = MeterBox(code=row.box_code, transformer_area_id=area)
        session.add(box)
        await session.flush()
        outcome = "created"
    elif box.transformer_area_id != area:
        raise RowError(f"box_code: box {row.box_code} is in another area")
    if row.meter_id is None:
        return outcome
    if row.from_day is None:
        raise RowError("from_day: needed to place a meter")
    meter = await session.scalar(select(Meter.id).where(Meter.meter_id == row.meter_id))
    if meter is None:
        raise RowError(f"meter_id: no meter {row.meter_id} (import meters first)")
    open_ = await session.scalar(
        select(MeterPlacement).where(
            MeterPlacement.meter_pk == meter, MeterPlacement.to_day.is_(None)
        )
    )
    if open_ is not None and (open_.transformer_area_id, open_.meter_box_id) == (area, box.id):
        return outcome  # already there: a re-run changes nothing
    if open_ is not None and open_.from_day >= row.from_day:
        raise RowError(f"from_day: the meter's placement since {open_.from_day} is later")
    if open_ is not None:
        open_.to_day = row.from_day
    session.add(MeterPlacement(meter_pk=meter, transformer_area_id=area, meter_box_id=box.id,
                               from_day=row.from_day))  # fmt: skip
    await session.flush()
    return "created" if outcome == "created" else "updated"


IMPORTERS: dict[str, tuple[type[msgspec.Struct], Callable[..., Any]]] = {
    "customers": (CustomerRow, upsert_customer),
    "meters": (MeterRow, upsert_meter),
    "areas": (AreaRow, upsert_area),
    "boxes": (BoxRow, upsert_box),
}
# the natural key of each kind: a value twice in one file is ambiguous (an account number of
# another customer is refused row by row, as against the database)
KEYS: dict[str, tuple[str, ...]] = {
    "customers": ("number",),
    "meters": ("meter_id",),
    "areas": ("area_code",),
    "boxes": ("meter_id",),
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


# --- the batched path: one chunk of rows, a handful of statements -----------------------------
#
# Every rule a row must pass is checked in Python against the database's state as loaded for the
# chunk (and as the chunk's earlier rows leave it), so the statements that follow do not refuse a
# row; a chunk the database still refuses (a constraint this code does not know, a concurrent
# writer) is rolled back and replayed row by row through the per-row upserts above, in savepoints,
# so the refused row is reported with its line and the rest of the chunk lands.


def _insert(conn: AsyncConnection, table: Any) -> Any:
    """The dialect's INSERT (both have ``on_conflict_do_update`` and ``excluded``)."""
    return (pg_insert if conn.dialect.name == "postgresql" else sqlite_insert)(table)


def _upsert(conn: AsyncConnection, table: Any, key: str, columns: list[str]) -> Any:
    """INSERT … ON CONFLICT (key) DO UPDATE SET columns = excluded … RETURNING id, key."""
    stmt = _insert(conn, table)
    return stmt.on_conflict_do_update(
        index_elements=[key], set_={c: stmt.excluded[c] for c in columns}
    ).returning(table.c.id, table.c[key])


async def _fetch(
    conn: AsyncConnection, query: Callable[[list[Any]], Any], keys: set[Any]
) -> list[Any]:
    """The rows of ``query(keys)``, or none without a round trip when there are no keys."""
    return list((await conn.execute(query(sorted(keys, key=str)))).all()) if keys else []


def _by_code(
    conn: AsyncConnection, model: type[Grid] | type[TransformerArea]
) -> Callable[[list[Any]], Any]:
    return lambda ks: select(model.id, model.code, model.name).where(
        among(conn.dialect.name, model.code, ks)
    )


@dataclass
class _Ref:
    """A grid or transformer area as the rows seen so far leave it."""

    id: int | None  # None: created by this chunk
    name: str
    grid: str | None = None  # an area's grid code when it is created


Chunk = list[tuple[int, Any]]  # (line, validated row)
Outcomes = list[tuple[int, str | RowError]]  # (line, created|updated|unchanged or the refusal)


@dataclass
class _Checked:
    """A customer row's effect on reference data and its account, before it is applied."""

    grid: _Ref | None = None
    grid_renamed: bool = False
    area: _Ref | None = None
    area_renamed: bool = False
    account_changed: bool = False
    anchor: date | None = None  # the row's 年阶梯 start, when it gives one


@dataclass
class _CustomerPlan:
    """What a chunk of customer rows writes."""

    outcomes: Outcomes = field(default_factory=list)
    customers: list[dict[str, Any]] = field(default_factory=list)  # grid and area as codes
    # new or changed: number, customer number, kind, 年阶梯 anchor (None: left as is)
    accounts: list[tuple[str, str, AccountKind, date | None]] = field(default_factory=list)
    renamed: dict[str, dict[str, str]] = field(
        default_factory=lambda: {"grid": {}, "area": {}}
    )  # what → code → new name


def _customer_outcome(before: Any, values: dict[str, Any], checked: _Checked) -> str:
    if before is None:
        return "created"
    grid_id = checked.grid.id if checked.grid else None
    area_id = checked.area.id if checked.area else None
    if (
        any(getattr(before, k) != v for k, v in values.items())
        or (checked.grid is not None and grid_id is None) or before.grid_id != grid_id
        or (checked.area is not None and area_id is None) or before.transformer_area_id != area_id
    ):  # fmt: skip
        return "updated"
    return "unchanged"


class CustomerBatch:
    """Customers, their accounts, grids and transformer areas: a chunk at a time."""

    def __init__(self, opts: ImportOptions) -> None:
        self.opts = opts
        self.grids: dict[str, _Ref] = {}  # code → state; a cache across chunks
        self.areas: dict[str, _Ref] = {}

    def forget(self) -> None:
        self.grids.clear()
        self.areas.clear()

    async def _load_reference(self, conn: AsyncConnection, chunk: Chunk) -> None:
        for model, cache, attr in (
            (Grid, self.grids, "grid_code"),
            (TransformerArea, self.areas, "area_code"),
        ):
            wanted = {getattr(r, attr) for _, r in chunk if getattr(r, attr)} - set(cache)
            if wanted:
                for id_, code, name in await _fetch(conn, _by_code(conn, model), wanted):
                    cache[code] = _Ref(id_, name)

    def _reference(
        self, cache: dict[str, _Ref], what: str, code: str, name: str | None, grid: str | None
    ) -> tuple[_Ref, bool]:
        """The state after this row (a copy: applied only if the whole row passes), renamed?"""
        ref = cache.get(code)
        if ref is None:
            return _Ref(None, name or code, grid), False
        if not name or ref.name == name:
            return ref, False
        if not self.opts.rename_reference:
            raise RowError(
                f"{what}_name: {what} {code} is named {ref.name!r}, this row says {name!r}; "
                "reference data is renamed only with --rename-reference"
            )
        return _Ref(ref.id, name, ref.grid), True

    async def write(self, conn: AsyncConnection, chunk: Chunk) -> Outcomes:
        await self._load_reference(conn, chunk)
        existing = {
            row.number: row
            for row in await _fetch(conn, lambda ks: select(
                Customer.id, Customer.number, *(getattr(Customer, c) for c in _CUSTOMER_COLUMNS)
            ).where(among(conn.dialect.name, Customer.number, ks)), {r.number for _, r in chunk})
        }  # fmt: skip
        # number → (customer number, kind, cycle anchor)
        accounts: dict[str, tuple[str, AccountKind, date | None]] = {
            number: (owner, kind, anchor)
            for number, owner, kind, anchor in await _fetch(
                conn, lambda ks: select(
                    Account.number, Customer.number, Account.kind, Account.cycle_start
                )
                .join(Customer, Customer.id == Account.customer_id)
                .where(among(conn.dialect.name, Account.number, ks)),
                {r.account_number for _, r in chunk if r.account_number},
            )
        }  # fmt: skip
        plan = _CustomerPlan()
        for line, row in chunk:
            try:
                checked = self._check(row, accounts)
            except RowError as exc:
                plan.outcomes.append((line, exc))
                continue
            plan.outcomes.append((line, self._apply(row, checked, existing, accounts, plan)))
        await self._write_reference(conn, plan.renamed)
        await self._write_customers(conn, plan, {n: row.id for n, row in existing.items()})
        return plan.outcomes

    def _check(
        self, row: CustomerRow, accounts: dict[str, tuple[str, AccountKind, date | None]]
    ) -> _Checked:
        """What the row would leave, or the reason it is refused (nothing applied yet)."""
        checked = _Checked()
        if row.grid_code:
            checked.grid, checked.grid_renamed = self._reference(
                self.grids, "grid", row.grid_code, row.grid_name, None
            )
        if row.area_code:
            checked.area, checked.area_renamed = self._reference(
                self.areas, "area", row.area_code, row.area_name, row.grid_code
            )
        if row.account_number:
            held = accounts.get(row.account_number)
            if held is not None and held[0] != row.number:
                raise RowError(f"account_number: {row.account_number} belongs to another customer")
            checked.anchor = cycle_anchor(row)
            checked.account_changed = (
                held is None
                or held[1] != row.account_kind
                or (checked.anchor is not None and held[2] != checked.anchor)
            )
        elif row.tier_cycle_start is not None:
            cycle_anchor(row)  # refused: no account to start
        return checked

    def _apply(
        self, row: CustomerRow, checked: _Checked, existing: dict[str, Any],
        accounts: dict[str, tuple[str, AccountKind, date | None]], plan: _CustomerPlan,
    ) -> str:  # fmt: skip
        """The row passes: what it leaves becomes the state the next rows see."""
        for cache, code, ref, was_renamed, what in (
            (self.grids, row.grid_code, checked.grid, checked.grid_renamed, "grid"),
            (self.areas, row.area_code, checked.area, checked.area_renamed, "area"),
        ):
            if code and ref is not None:
                cache[code] = ref
                if was_renamed:
                    plan.renamed[what][code] = ref.name
        values = {
            "number": row.number, "name": row.name, "phone": row.phone,
            "category": row.category, "address": row.address, "latitude": row.latitude,
            "longitude": row.longitude, "protected": row.protected,
            "key_account_class": row.key_account_class,
        }  # fmt: skip
        outcome = _customer_outcome(existing.get(row.number), values, checked)
        if outcome != "unchanged":
            plan.customers.append(values | {"grid": row.grid_code, "area": row.area_code})
        if checked.account_changed and row.account_number:
            held = accounts.get(row.account_number)
            anchor = checked.anchor
            if anchor is None and held is not None:
                anchor = held[2]
            accounts[row.account_number] = (row.number, row.account_kind, anchor)
            plan.accounts.append((row.account_number, row.number, row.account_kind, checked.anchor))
            outcome = "updated" if outcome == "unchanged" else outcome
        return outcome

    async def _write_customers(
        self, conn: AsyncConnection, plan: _CustomerPlan, ids: dict[str, int]
    ) -> None:
        """The new and changed customers in one upsert, then their new or changed accounts."""
        if plan.customers:
            now = utcnow()
            params = [
                {k: v for k, v in c.items() if k not in ("grid", "area")}
                | {
                    "grid_id": self.grids[c["grid"]].id if c["grid"] else None,
                    "transformer_area_id": self.areas[c["area"]].id if c["area"] else None,
                    "updated_at": now,
                }
                for c in plan.customers
            ]
            stmt = _upsert(conn, Customer.__table__, "number", [*_CUSTOMER_COLUMNS, "updated_at"])
            ids.update((n, i) for i, n in (await conn.execute(stmt, params)).all())
        if plan.accounts:
            stmt = _insert(conn, Account.__table__)
            stmt = stmt.on_conflict_do_update(
                index_elements=["number"],
                set_={
                    "kind": stmt.excluded.kind,
                    # an empty tier_cycle_start leaves the account's as it is
                    "cycle_start": func.coalesce(
                        stmt.excluded.cycle_start, Account.__table__.c.cycle_start
                    ),
                },
                where=Account.__table__.c.customer_id == stmt.excluded.customer_id,
            ).returning(Account.__table__.c.id)  # RETURNING: multi-row VALUES, not row by row
            await conn.execute(
                stmt,
                [
                    {"number": n, "customer_id": ids[c], "kind": k, "cycle_start": a}
                    for n, c, k, a in plan.accounts
                ],
            )

    async def _write_reference(
        self, conn: AsyncConnection, renamed: dict[str, dict[str, str]]
    ) -> None:
        """New grids, then new areas (in their grids), then renames: ids back into the cache."""
        for model, cache, what in (
            (Grid, self.grids, "grid"),
            (TransformerArea, self.areas, "area"),
        ):
            new = {code: ref for code, ref in cache.items() if ref.id is None}
            if new:
                params: list[dict[str, Any]] = [
                    {"code": code, "name": ref.name} for code, ref in new.items()
                ]
                if model is TransformerArea:
                    for p, ref in zip(params, new.values(), strict=True):
                        p["grid_id"] = self.grids[ref.grid].id if ref.grid else None
                stmt = _insert(conn, model.__table__).returning(model.id, model.code)
                for id_, code in (await conn.execute(stmt, params)).all():
                    cache[code].id = id_
            changes = [{"b_code": c, "b_name": n} for c, n in renamed[what].items()]
            if changes:
                await conn.execute(
                    update(model)
                    .where(model.code == bindparam("b_code"))
                    .values(name=bindparam("b_name")),
                    changes,
                )


_CUSTOMER_COLUMNS = [
    "name", "phone", "category", "address", "latitude", "longitude", "grid_id",
    "transformer_area_id", "protected", "key_account_class",
]  # fmt: skip
_METER_COLUMNS = [
    "serial", "protocol", "address", "agent_id", "customer_id", "account_id", "status",
    "installed_on", "expires_on", "latitude", "longitude", "relay_control_mode",
    "replaces_meter_id",
]  # fmt: skip


class MeterBatch:
    """Meters (and the agents they name): a chunk at a time.

    A replacement (换表) in a chunk whose old meter is itself written earlier in the same chunk,
    or a row for a meter an earlier row of the chunk replaced, ends the batch there: the rows
    before are written first, so every row sees the state the rows before it left.
    """

    def __init__(self, opts: ImportOptions) -> None:
        self.opts = opts
        self.agents: set[str] = set()  # known to exist; a cache across chunks

    def forget(self) -> None:
        self.agents.clear()

    async def write(self, conn: AsyncConnection, chunk: Chunk) -> Outcomes:
        outcomes: Outcomes = []
        while len(outcomes) < len(chunk):
            outcomes += await self._write_some(conn, chunk[len(outcomes) :])
        return outcomes

    async def _owners(
        self, conn: AsyncConnection, chunk: Chunk
    ) -> tuple[dict[str, int], dict[str, tuple[int, int]], dict[int, int]]:
        """customer number → id, account number → (id, customer id), customer id → its only
        account's id."""
        customers: dict[str, int] = {
            number: id_
            for number, id_ in await _fetch(
                conn, lambda ks: select(Customer.number, Customer.id)
                .where(among(conn.dialect.name, Customer.number, ks)),
                {r.customer_number for _, r in chunk if r.customer_number},
            )
        }  # fmt: skip
        accounts: dict[str, tuple[int, int]] = {
            number: (id_, owner)
            for number, id_, owner in await _fetch(
                conn, lambda ks: select(Account.number, Account.id, Account.customer_id)
                .where(among(conn.dialect.name, Account.number, ks)),
                {r.account_number for _, r in chunk if r.account_number},
            )
        }  # fmt: skip
        only: dict[int, int] = {
            owner: first
            for owner, n, first in await _fetch(
                conn, lambda ks: select(Account.customer_id, func.count(), func.min(Account.id))
                .where(among(conn.dialect.name, Account.customer_id, ks))
                .group_by(Account.customer_id),
                {customers[r.customer_number] for _, r in chunk
                 if r.customer_number in customers and not r.account_number},
            )
            if n == 1
        }  # fmt: skip
        return customers, accounts, only

    async def _write_some(self, conn: AsyncConnection, chunk: Chunk) -> Outcomes:
        plan = _MeterPlan(*await self._owners(conn, chunk))
        wanted_agents = {r.agent_id for _, r in chunk if r.agent_id} - self.agents
        if wanted_agents:
            self.agents |= set(
                await conn.scalars(select(Agent.id).where(Agent.id.in_(wanted_agents)))
            )
        meter_ids = {r.meter_id for _, r in chunk} | {r.replaces for _, r in chunk if r.replaces}
        plan.state = {
            row.meter_id: dict(row._mapping)
            for row in await _fetch(conn, lambda ks: select(
                Meter.id, Meter.meter_id, Meter.removed_at,
                *(getattr(Meter, c) for c in _METER_COLUMNS),
            ).where(among(conn.dialect.name, Meter.meter_id, ks)), meter_ids)
        }  # fmt: skip
        for line, row in chunk:
            if row.meter_id in plan.replaced or (
                row.replaces in plan.upserts and plan.state[row.replaces]["id"] is None
            ):
                break  # write what is pending first: this row depends on it
            try:
                customer_id, account_id = plan.owner(row)
                old = plan.state.get(row.replaces) if row.replaces else None
                if row.replaces and (old is None or row.replaces == row.meter_id):
                    raise RowError(f"replaces: no other meter {row.replaces}")
            except RowError as exc:
                plan.outcomes.append((line, exc))
                continue
            values: dict[str, Any] = {
                "serial": row.serial, "protocol": row.protocol, "address": row.address,
                "agent_id": row.agent_id, "customer_id": customer_id, "account_id": account_id,
                "status": row.status, "installed_on": row.installed_on,
                "expires_on": row.expires_on, "latitude": row.latitude,
                "longitude": row.longitude,
            }  # fmt: skip
            if row.relay_control_mode is not None:
                values["relay_control_mode"] = row.relay_control_mode
            if old is not None:
                values["replaces_meter_id"] = old["id"]
                self._remove(plan, row, old)
            if row.agent_id and row.agent_id not in self.agents:
                self.agents.add(row.agent_id)
                plan.new_agents.append(row.agent_id)
            plan.outcomes.append((line, plan.apply(row.meter_id, values)))
        await self._flush(conn, plan)
        return plan.outcomes

    def _remove(self, plan: _MeterPlan, row: MeterRow, old: dict[str, Any]) -> None:
        """换表: the old meter's chain ends at local midnight of the new one's installation."""
        if old["status"] == MeterStatus.REMOVED:
            return
        day = row.installed_on or datetime.now(self.opts.tz).date()
        old["status"] = MeterStatus.REMOVED
        old["removed_at"] = datetime.combine(day, time(0), self.opts.tz)
        plan.removals[old["id"]] = old["removed_at"]
        plan.replaced.add(str(row.replaces))

    @staticmethod
    async def _flush(conn: AsyncConnection, plan: _MeterPlan) -> None:
        """New agents, the new and changed meters in one upsert, then the replaced ones."""
        if plan.new_agents:
            stmt = _insert(conn, Agent.__table__).on_conflict_do_nothing(index_elements=["id"])
            await conn.execute(stmt, [{"id": a, "online": False} for a in plan.new_agents])
        if plan.upserts:
            stmt = _upsert(conn, Meter.__table__, "meter_id", _METER_COLUMNS)
            for id_, meter_id in (await conn.execute(stmt, list(plan.upserts.values()))).all():
                plan.state[meter_id]["id"] = id_
        if plan.removals:
            await conn.execute(
                update(Meter)
                .where(Meter.id == bindparam("b_id"))
                .values(status=MeterStatus.REMOVED, removed_at=bindparam("b_removed")),
                [{"b_id": i, "b_removed": r} for i, r in plan.removals.items()],
            )


@dataclass
class _MeterPlan:
    """A run of meter rows: what the database holds for them, and what they write."""

    customers: dict[str, int]  # customer number → id
    accounts: dict[str, tuple[int, int]]  # account number → (id, customer id)
    only: dict[int, int]  # customer id → its only account's id
    state: dict[str, dict[str, Any]] = field(default_factory=dict)  # meter id → columns
    outcomes: Outcomes = field(default_factory=list)
    upserts: dict[str, dict[str, Any]] = field(default_factory=dict)  # meter id → values
    removals: dict[int, datetime] = field(default_factory=dict)  # replaced id → removed_at
    replaced: set[str] = field(default_factory=set)  # meter ids replaced by these rows
    new_agents: list[str] = field(default_factory=list)

    def owner(self, row: MeterRow) -> tuple[int | None, int | None]:
        """(customer id, account id) the row names; the account defaults to the customer's
        only one."""
        customer_id = account_id = None
        if row.customer_number:
            customer_id = self.customers.get(row.customer_number)
            if customer_id is None:
                raise RowError(
                    f"customer_number: no customer {row.customer_number} (import it first)"
                )
        if row.account_number:
            held = self.accounts.get(row.account_number)
            if held is None or held[1] != customer_id:
                raise RowError(f"account_number: no account {row.account_number} of this customer")
            account_id = held[0]
        elif customer_id is not None:
            account_id = self.only.get(customer_id)
        return customer_id, account_id

    def apply(self, meter_id: str, values: dict[str, Any]) -> str:
        """The row's values become the meter's state; created, updated or unchanged."""
        before = self.state.get(meter_id)
        if before is None:
            outcome = "created"
            before = self.state[meter_id] = {
                "id": None, "meter_id": meter_id, "relay_control_mode": 2,
                "replaces_meter_id": None, "removed_at": None,
            }  # fmt: skip
        elif any(before[k] != v for k, v in values.items()):
            outcome = "updated"
        else:
            outcome = "unchanged"
        before.update(values)
        if outcome != "unchanged":
            self.upserts[meter_id] = {"meter_id": meter_id} | {c: before[c] for c in _METER_COLUMNS}
        return outcome


class AreaBatch:
    """Areas are few (one per transformer): each row in its own savepoint, no batch plan."""

    upsert: Callable[..., Any] = staticmethod(upsert_area)

    def __init__(self, opts: ImportOptions) -> None:
        self.opts = opts

    def forget(self) -> None:
        pass

    async def write(self, conn: AsyncConnection, chunk: Chunk) -> Outcomes:
        session = AsyncSession(bind=conn)
        outcomes: Outcomes = []
        for line, row in chunk:
            try:
                async with session.begin_nested():
                    outcomes.append((line, await self.upsert(session, row, self.opts)))
            except ValueError as exc:
                outcomes.append((line, RowError(_reason(exc))))
        await session.flush()
        return outcomes


class BoxBatch(AreaBatch):
    """Meter boxes and placements: each row in its own savepoint, like the areas."""

    upsert = staticmethod(upsert_box)


BATCHES: dict[str, Callable[[ImportOptions], CustomerBatch | MeterBatch | AreaBatch]] = {
    "customers": CustomerBatch,
    "meters": MeterBatch,
    "areas": AreaBatch,
    "boxes": BoxBatch,
}
CHUNK_ROWS = 2000  # rows per transaction: a few statements each


async def import_file(
    factory: async_sessionmaker[AsyncSession],
    kind: str,
    path: Path,
    *,
    timezone: str = "Asia/Shanghai",
    encoding: str = "utf-8-sig",
    progress: Callable[[int], None] = lambda _: None,
    rename_reference: bool = False,
    chunk_rows: int = CHUNK_ROWS,
) -> ImportReport:
    row_type, _ = IMPORTERS[kind]
    opts = ImportOptions(ZoneInfo(timezone), rename_reference=rename_reference)
    batch = BATCHES[kind](opts)
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
            raws: dict[int, dict[str, str]] = {}
            chunk: Chunk = []
            read = 0
            for line, raw in rows:
                report.rows += 1
                read += 1
                try:
                    duplicate = _duplicate_reason(raw, line, dups, KEYS[kind])
                    if duplicate:
                        raise RowError(duplicate)
                    chunk.append((line, parse_row(raw, row_type)))
                    raws[line] = raw
                except ValueError as exc:
                    report.rejected.append(Rejected(line, _reason(exc), raw))
                if len(chunk) >= chunk_rows:
                    await _write_chunk(session, kind, batch, chunk, raws, report, opts)
                    progress(read)
                    chunk, raws, read = [], {}, 0
            await _write_chunk(session, kind, batch, chunk, raws, report, opts)
            progress(read)
    report.rejected.sort(key=lambda r: r.line)
    return report


def _reason(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


async def _write_chunk(
    session: AsyncSession,
    kind: str,
    batch: CustomerBatch | MeterBatch | AreaBatch,
    chunk: Chunk,
    raws: dict[int, dict[str, str]],
    report: ImportReport,
    opts: ImportOptions,
) -> None:
    """One transaction: the batch's statements, or, if the database refuses them, row by row."""
    if not chunk:
        return
    try:
        outcomes = await batch.write(await session.connection(), chunk)
        await session.commit()
    except SQLAlchemyError:
        await session.rollback()
        batch.forget()  # what it cached may have been rolled back
        outcomes = []
        upsert = IMPORTERS[kind][1]
        for line, row in chunk:
            try:
                async with session.begin_nested():
                    outcomes.append((line, await upsert(session, row, opts)))
            except (ValueError, SQLAlchemyError) as exc:
                outcomes.append((line, RowError(_reason(exc))))
        await session.commit()
        session.expunge_all()
    for line, outcome in outcomes:
        if isinstance(outcome, RowError):
            report.rejected.append(Rejected(line, str(outcome), raws[line]))
        else:
            setattr(report, outcome, getattr(report, outcome) + 1)


def write_rejects(report: ImportReport, out: Path) -> None:
    """The rejected rows as CSV: line, reason, then the row's columns as read."""
    header = list(dict.fromkeys(k for r in report.rejected for k in r.row if k != "__error__"))
    with out.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["line", "reason", *header])
        for r in report.rejected:
            w.writerow([r.line, r.reason, *(r.row.get(h, "") for h in header)])
