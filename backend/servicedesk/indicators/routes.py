"""Indicators under /api/servicedesk/indicators, as JSON and as CSV."""

from __future__ import annotations

from datetime import date

from litestar import Response, get
from litestar.datastructures import State
from litestar.params import FromQuery

from backend.auth.guards import BACK_OFFICE, DbSession, requires_role
from backend.controllers import FieldApiController
from backend.errors import ErrorCode as E
from backend.errors import Invalid
from backend.paging import FromDay, ToDay
from backend.servicedesk.indicators import service
from backend.servicedesk.indicators.schemas import Group, Indicators

MAX_DAYS = 366


def _check(first: date, last: date) -> None:
    if last < first:
        raise Invalid(E.END_BEFORE_START, "to is before from", field="to", start="from")
    if (last - first).days >= MAX_DAYS:
        raise Invalid(E.RANGE_TOO_LONG, "at most a year", field="to", days=MAX_DAYS)


class IndicatorController(FieldApiController):
    path = "/api/servicedesk/indicators"
    tags = ("servicedesk",)

    @get("/", guards=[requires_role(*BACK_OFFICE)], summary="Service-desk indicators")
    async def indicators(
        self, db_session: DbSession, state: State, first: FromDay, last: ToDay,
        group: FromQuery[Group] = "all",
    ) -> Indicators:  # fmt: skip
        """On-time rate, lead time per node, first-contact resolution, satisfaction,
        complaints per 10,000 customers, per local day, person or team."""
        _check(first, last)
        return await service.indicators(db_session, first, last, group, state.settings.timezone)

    @get(
        "/csv", guards=[requires_role(*BACK_OFFICE)], media_type="text/csv",
        summary="Indicators as CSV",
    )  # fmt: skip
    async def indicators_csv(
        self, db_session: DbSession, state: State, first: FromDay, last: ToDay,
        group: FromQuery[Group] = "all",
    ) -> Response[str]:  # fmt: skip
        _check(first, last)
        found = await service.indicators(db_session, first, last, group, state.settings.timezone)
        name = f"servicedesk-{first.isoformat()}-{last.isoformat()}-{group}.csv"
        return Response(
            service.to_csv(found), media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )  # fmt: skip
