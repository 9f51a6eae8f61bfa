"""Meters, readings, consumption, anomalies, agents and collection rate under /api."""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo

from litestar import get
from litestar.datastructures import State
from litestar.params import FromQuery, QueryParameter
from sqlalchemy import ColumnElement, select

from backend.auth.guards import (
    BACK_OFFICE,
    EVERYONE,
    STAFF,
    ApiController,
    CallerDep,
    DbSession,
    requires_role,
)
from backend.metering import service
from backend.metering.models import Meter, MeterStatus
from backend.metering.schemas import (
    AgentPage,
    AnomalyPage,
    CollectionRatePage,
    DailyOut,
    EnergyQuantity,
    IntervalOut,
    MeterOut,
    MeterPage,
    MonthlyOut,
    RateGrouping,
    ReadingPage,
)
from backend.paging import (
    FromDay,
    FromMonth,
    FromTime,
    Id,
    Limit,
    Offset,
    OptId,
    RequiredFrom,
    RequiredTo,
    ToDay,
    ToMonth,
    ToTime,
    utc_ms,
)
from backend.types import from_epoch_ms
from protocols.contract.quantities import Quantity

ENERGY_IMPORT = EnergyQuantity(Quantity.ENERGY_IMPORT)


class MeterController(ApiController):
    path = "/api/meters"
    tags = ("metering",)

    @get("/", guards=[requires_role(*EVERYONE)], summary="List meters")
    async def list_meters(
        self,
        caller: CallerDep,
        db_session: DbSession,
        limit: Limit = 50,
        offset: Offset = 0,
        status: FromQuery[MeterStatus | None] = None,
        online: FromQuery[bool | None] = None,
        customer_id: OptId = None,
        account_id: OptId = None,
        agent_id: Annotated[str | None, QueryParameter(min_length=1, max_length=64)] = None,
        grid_id: OptId = None,
        transformer_area_id: OptId = None,
        meter_id: Annotated[str | None, QueryParameter(min_length=1, max_length=64)] = None,
    ) -> MeterPage:
        """Meters the caller may see (customers: their own; inspectors: their grids)."""
        conds: list[ColumnElement[bool]] = []
        for column, value in (
            (Meter.status, status),
            (Meter.online, online),
            (Meter.customer_id, customer_id),
            (Meter.account_id, account_id),
            (Meter.agent_id, agent_id),
            (Meter.meter_id, meter_id),
        ):
            if value is not None:
                conds.append(column == value)
        items, total = await service.list_meters(
            db_session, caller, limit=limit, offset=offset, filters=conds,
            grid_id=grid_id, transformer_area_id=transformer_area_id,
        )  # fmt: skip
        return MeterPage(items, total, limit, offset)

    @get("/offline", guards=[requires_role(*STAFF)], summary="Offline meters")
    async def offline(
        self,
        caller: CallerDep,
        db_session: DbSession,
        silent_since: Annotated[
            str | None,
            QueryParameter(
                description="only meters not seen since (ISO 8601)",
                format="date-time",
                max_length=40,
            ),
        ] = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> MeterPage:
        """Active meters that are not online, longest silent first."""
        since_ms = utc_ms(silent_since, "silent_since")
        since = from_epoch_ms(since_ms) if since_ms is not None else None
        items, total = await service.list_meters(
            db_session, caller, limit=limit, offset=offset,
            filters=service.offline_filters(since),
            order=(Meter.last_seen_at.is_not(None), Meter.last_seen_at, Meter.id),
        )  # fmt: skip
        return MeterPage(items, total, limit, offset)

    @get("/pending", guards=[requires_role(*BACK_OFFICE)], summary="Pending meters")
    async def pending(
        self, caller: CallerDep, db_session: DbSession, limit: Limit = 50, offset: Offset = 0
    ) -> MeterPage:
        """Meters seen on the wire that nobody has registered yet (status pending)."""
        items, total = await service.list_meters(
            db_session, caller, limit=limit, offset=offset,
            filters=[Meter.status == MeterStatus.PENDING],
        )  # fmt: skip
        return MeterPage(items, total, limit, offset)

    @get("/{meter_pk:int}", guards=[requires_role(*EVERYONE)], summary="One meter")
    async def detail(self, caller: CallerDep, db_session: DbSession, meter_pk: Id) -> MeterOut:
        return service.meter_out(await service.get_meter(db_session, caller, meter_pk))

    @get("/{meter_pk:int}/readings", guards=[requires_role(*EVERYONE)], summary="Readings")
    async def readings(
        self,
        caller: CallerDep,
        db_session: DbSession,
        meter_pk: Id,
        quantity: FromQuery[Quantity | None] = None,
        from_: FromTime = None,
        to: ToTime = None,
        cursor: Annotated[
            str | None,
            QueryParameter(pattern=service.CURSOR, description="next_cursor of the previous page"),
        ] = None,
        limit: Limit = 100,
    ) -> ReadingPage:
        """Readings of one meter, newest first, in [from, to)."""
        items, nxt = await service.list_readings(
            db_session, caller, meter_pk, quantity=quantity, from_ms=utc_ms(from_, "from"),
            to_ms=utc_ms(to, "to"), cursor=cursor, limit=limit,
        )  # fmt: skip
        return ReadingPage(items, limit, nxt)

    @get(
        "/{meter_pk:int}/consumption/intervals",
        guards=[requires_role(*EVERYONE)],
        summary="Interval consumption",
    )
    async def intervals(
        self,
        caller: CallerDep,
        db_session: DbSession,
        meter_pk: Id,
        from_: RequiredFrom,
        to: RequiredTo,
        quantity: FromQuery[EnergyQuantity] = ENERGY_IMPORT,
    ) -> list[IntervalOut]:
        """Energy between consecutive readings ending in [from, to), at most 31 days."""
        lo, hi = utc_ms(from_, "from") or 0, utc_ms(to, "to") or 0
        return await service.intervals(db_session, caller, meter_pk, str(quantity), lo, hi)

    @get(
        "/{meter_pk:int}/consumption/daily",
        guards=[requires_role(*EVERYONE)],
        summary="Daily consumption of a meter",
    )
    async def daily(
        self,
        caller: CallerDep,
        db_session: DbSession,
        meter_pk: Id,
        from_: FromDay,
        to: ToDay,
        quantity: FromQuery[EnergyQuantity | None] = None,
    ) -> list[DailyOut]:
        await service.get_meter(db_session, caller, meter_pk)
        ids = select(Meter.id).where(Meter.id == meter_pk)
        q = str(quantity) if quantity is not None else None
        return await service.daily(db_session, ids, q, from_, to)

    @get(
        "/{meter_pk:int}/consumption/monthly",
        guards=[requires_role(*EVERYONE)],
        summary="Monthly consumption of a meter",
    )
    async def monthly(
        self,
        caller: CallerDep,
        db_session: DbSession,
        meter_pk: Id,
        from_: FromMonth,
        to: ToMonth,
        quantity: FromQuery[EnergyQuantity | None] = None,
    ) -> list[MonthlyOut]:
        await service.get_meter(db_session, caller, meter_pk)
        first, last = service.month_days(from_, to)
        ids = select(Meter.id).where(Meter.id == meter_pk)
        q = str(quantity) if quantity is not None else None
        return service.monthly(await service.daily(db_session, ids, q, first, last))


class MeteringController(ApiController):
    path = "/api"
    tags = ("metering",)

    @get("/agents", guards=[requires_role(*BACK_OFFICE)], summary="Edge agents")
    async def agents(
        self,
        db_session: DbSession,
        online: FromQuery[bool | None] = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> AgentPage:
        """Agents (concentrators) with their online state and number of meters."""
        items, total = await service.list_agents(
            db_session, online=online, limit=limit, offset=offset
        )
        return AgentPage(items, total, limit, offset)

    @get("/anomalies", guards=[requires_role(*STAFF)], summary="Consumption anomalies")
    async def anomalies(
        self,
        caller: CallerDep,
        db_session: DbSession,
        meter_pk: OptId = None,
        from_: FromTime = None,
        to: ToTime = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> AnomalyPage:
        """Readings refused because a cumulative register went backwards (never charged)."""
        items, total = await service.list_anomalies(
            db_session, caller, meter_pk=meter_pk, from_ms=utc_ms(from_, "from"),
            to_ms=utc_ms(to, "to"), limit=limit, offset=offset,
        )  # fmt: skip
        return AnomalyPage(items, total, limit, offset)

    @get("/collection-rate", guards=[requires_role(*STAFF)], summary="Collection success rate")
    async def collection_rate(
        self,
        caller: CallerDep,
        db_session: DbSession,
        state: State,
        from_: FromDay,
        to: ToDay,
        group: FromQuery[RateGrouping] = RateGrouping.OVERALL,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> CollectionRatePage:
        """采集成功率 per local day, overall or per grid / transformer area (台区), paged by
        day then group; from a summary kept per day and group."""
        tz = ZoneInfo(state.settings.timezone)
        items, total = await service.collection_rate(
            db_session, caller, from_, to, group, tz, limit, offset
        )
        return CollectionRatePage(items, total, limit, offset)
