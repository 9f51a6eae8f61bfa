"""Transformer areas under /api/areas: the network, outages, line loss, quality, load and
reliability for the back office; a customer's own outages."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from litestar import get, post, put
from litestar.datastructures import State
from litestar.params import FromQuery, JSONBody, QueryParameter

from backend.areas import service
from backend.areas.correlator import correlate
from backend.areas.figures import LossState, VoltageLimits
from backend.areas.schemas import (
    AreaOut,
    CutRequest,
    FeederOutageOut,
    LoadOut,
    LossOut,
    MeterMove,
    MonthLossOut,
    MyOutage,
    OutageOut,
    PlacementOut,
    QualityOut,
    ReliabilityOut,
)
from backend.areas.wills import judge_wills
from backend.auth.guards import BACK_OFFICE, CallerDep, DbSession, ReadSession, requires_role
from backend.auth.models import Role
from backend.controllers import FieldApiController, now_ms
from backend.errors import ErrorCode as E
from backend.errors import Invalid
from backend.paging import FromDay, FromMonth, Id, Limit, OptId, ToDay, ToMonth
from backend.servicedesk.workflow.service import working_time

Permille = Annotated[int, QueryParameter(ge=0, le=500)]


def _tz(state: State) -> ZoneInfo:
    return ZoneInfo(state.settings.timezone)


def _month(value: str, name: str) -> date:
    try:
        return date.fromisoformat(f"{value}-01")
    except ValueError:
        raise Invalid(
            E.BAD_DATE, f"{name}: {value} is not a month", field=name, value=value
        ) from None


def _today(state: State) -> date:
    return datetime.fromtimestamp(now_ms(state) / 1000, _tz(state)).date()


class AreaController(FieldApiController):
    """Every handler documents the 400, 404 and 409 its service may answer."""

    path = "/api/areas"
    tags = ("areas",)

    @get("/", guards=[requires_role(*BACK_OFFICE)], summary="Transformer areas")
    async def list_areas(self, db_session: DbSession, state: State) -> list[AreaOut]:
        """Every area with its feeder, transformer, total meter, open outage and yesterday's
        line loss."""
        return await service.list_areas(db_session, _today(state), _tz(state))

    @get("/outages", guards=[requires_role(*BACK_OFFICE)], summary="Outages found from meters")
    async def outages(
        self,
        db_session: DbSession,
        transformer_area_id: OptId = None,
        open_only: FromQuery[bool] = False,
        limit: Limit = 100,
    ) -> list[OutageOut]:
        return await service.list_outages(
            db_session, area_id=transformer_area_id, open_only=open_only, limit=limit
        )

    @get("/feeder-outages", guards=[requires_role(*BACK_OFFICE)], summary="Feeder outages")
    async def feeder_outages(
        self, db_session: DbSession, open_only: FromQuery[bool] = False, limit: Limit = 100
    ) -> list[FeederOutageOut]:
        """Several areas of one feeder that went dark together, as one outage of the feeder."""
        return await service.list_feeder_outages(db_session, open_only=open_only, limit=limit)

    @post("/outages/correlate", guards=[requires_role(*BACK_OFFICE)], summary="Correlate now")
    async def correlate_now(self, db_session: DbSession, state: State) -> dict[str, int]:
        """Apply the power events that arrived since the last round at once, then judge the
        agents' last wills (the background round runs every few seconds anyway)."""
        s = state.settings
        wt = working_time(s.prepaid_holiday_calendar, s.timezone)
        applied = await correlate(db_session, _tz(state), wt, now_ms(state))
        await judge_wills(db_session, _tz(state), wt, now_ms(state))
        return {"applied": applied}

    @get("/outages/mine", guards=[requires_role(Role.CUSTOMER)], summary="My outages")
    async def mine(self, caller: CallerDep, db_session: DbSession) -> list[MyOutage]:
        """The outages that cut the caller's own meters, with what they were told."""
        assert caller.customer_id is not None
        return await service.my_outages(db_session, caller.customer_id)

    @get("/loss", guards=[requires_role(*BACK_OFFICE)], summary="Line loss per area and day")
    async def loss(
        self,
        read_session: ReadSession,
        from_: FromDay,
        to: ToDay,
        transformer_area_id: OptId = None,
        abnormal_only: FromQuery[bool] = False,
    ) -> list[LossOut]:
        rows = await service.line_loss(read_session, from_, to, transformer_area_id)
        if abnormal_only:
            rows = [r for r in rows if r.state in (LossState.HIGH, LossState.NEGATIVE)]
        return rows

    @get("/loss/monthly", guards=[requires_role(*BACK_OFFICE)], summary="Line loss per month")
    async def monthly_loss(
        self,
        read_session: ReadSession,
        from_: FromMonth,
        to: ToMonth,
        transformer_area_id: OptId = None,
    ) -> list[MonthLossOut]:
        """The days of each local month added up (at most 3 months); a month with a day of
        incomplete data, or without a total-meter reading, is marked incomplete."""
        return await service.monthly_loss(
            read_session, _month(from_, "from"), _month(to, "to"), transformer_area_id
        )

    @get("/reliability", guards=[requires_role(*BACK_OFFICE)], summary="SAIFI, SAIDI, RS-3")
    async def reliability(
        self, read_session: ReadSession, state: State, from_: FromDay, to: ToDay
    ) -> list[ReliabilityOut]:
        return await service.reliability(read_session, from_, to, _tz(state), now_ms(state))

    @get("/{area_id:int}/quality", guards=[requires_role(*BACK_OFFICE)], summary="Voltage")
    async def quality(
        self,
        read_session: ReadSession,
        state: State,
        area_id: Id,
        day: FromQuery[date | None] = None,
        three_phase_upper: Permille = 70,
        three_phase_lower: Permille = 70,
        single_phase_upper: Permille = 70,
        single_phase_lower: Permille = 100,
    ) -> QualityOut:
        """电压合格率 of one day (default yesterday); limits in per mille of the nominal
        voltage (GB/T 12325 by default)."""
        return await service.quality(
            read_session, area_id, day or _today(state) - timedelta(days=1), _tz(state),
            VoltageLimits(three_phase_upper, three_phase_lower),
            VoltageLimits(single_phase_upper, single_phase_lower),
        )  # fmt: skip

    @post("/{area_id:int}/drill", guards=[requires_role(*BACK_OFFICE)], status_code=200,
          summary="Cut or restore an area's simulated supply (demo)")  # fmt: skip
    async def drill(
        self, db_session: DbSession, state: State, area_id: Id, data: JSONBody[CutRequest]
    ) -> dict[str, int]:
        """Only where ``METERLINE_AREAS_DRILL_CONTROL`` points at the meter simulators (the
        demo): the outage then comes from the meters, as a real one would. 409 elsewhere."""
        n = await service.drill(
            db_session, area_id, data.restore, state.settings.areas_drill_control, _today(state)
        )
        return {"meters": n}

    @get("/{area_id:int}/load", guards=[requires_role(*BACK_OFFICE)], summary="Load curve")
    async def load(
        self,
        read_session: ReadSession,
        state: State,
        area_id: Id,
        day: FromQuery[date | None] = None,
    ) -> LoadOut:
        return await service.load(read_session, area_id, day or _today(state), _tz(state))

    @get("/meters/{meter_pk:int}/placements", guards=[requires_role(*BACK_OFFICE)],
         summary="Where a meter was")  # fmt: skip
    async def placements(self, db_session: DbSession, meter_pk: Id) -> list[PlacementOut]:
        return await service.placements(db_session, meter_pk)

    @put("/meters/{meter_pk:int}/placement", guards=[requires_role(*BACK_OFFICE)],
         summary="Move a meter to an area", status_code=200)  # fmt: skip
    async def move(
        self, db_session: DbSession, meter_pk: Id, data: JSONBody[MeterMove]
    ) -> list[PlacementOut]:
        """From ``from_day`` the meter is in the area; its previous placement ends that day.
        The history stays."""
        return await service.move_meter(db_session, meter_pk, data)
