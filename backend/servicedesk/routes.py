"""Repair jobs and outage notices under /api/servicedesk."""

from __future__ import annotations

from litestar import Response, get, post
from litestar.datastructures import State
from litestar.params import FromQuery, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from backend.auth.guards import EVERYONE, CallerDep, DbSession, requires_role
from backend.auth.models import Role
from backend.controllers import FieldApiController, now_ms
from backend.paging import Id, Limit, OptId
from backend.servicedesk import service
from backend.servicedesk.schemas import (
    Outage,
    OutageCreate,
    OutageEnd,
    RepairJob,
    RepairJobExtend,
    RepairJobFinish,
    RepairJobReport,
)
from backend.servicedesk.workflow.service import working_time

CREWS = (Role.INSPECTOR, Role.SUPERVISOR, Role.OPERATOR)  # field staff carry the PDA (R50)
CENTRE = (Role.SUPERVISOR, Role.OPERATOR, Role.ADMIN)  # the 95598 service centre


class ServiceDeskController(FieldApiController):
    path = "/api/servicedesk"
    tags = ("servicedesk",)

    @post("/repair-jobs", guards=[requires_role(*CREWS)], summary="Report a repair job")
    async def report(
        self,
        caller: CallerDep,
        db_session: DbSession,
        state: State,
        data: JSONBody[RepairJobReport],
    ) -> Response[RepairJob]:
        """Sent by the crew's PDA on arrival; the service centre sees it at once. Idempotent
        by client_id: 201 when recorded, 200 with the same job for a resend."""
        wt = working_time(state.settings.prepaid_holiday_calendar, state.settings.timezone)
        job, new = await service.report_job(db_session, caller, data, now_ms(state), wt)
        return Response(job, status_code=HTTP_201_CREATED if new else HTTP_200_OK)

    @get("/repair-jobs", guards=[requires_role(*CREWS, *CENTRE)], summary="List repair jobs")
    async def list_jobs(
        self,
        caller: CallerDep,
        db_session: DbSession,
        state: State,
        active: FromQuery[bool] = True,
        limit: Limit = 200,
    ) -> list[RepairJob]:
        """Active jobs (default) by expected finish: which area is worked on, until when.
        Crews see their own jobs; the service centre sees all."""
        return await service.list_jobs(db_session, caller, active, now_ms(state), limit)

    @get("/repair-jobs/{job_id:int}", guards=[requires_role(*CREWS, *CENTRE)], summary="A job")
    async def get_job(
        self, caller: CallerDep, db_session: DbSession, state: State, job_id: Id
    ) -> RepairJob:
        return await service.get_job(db_session, caller, job_id, now_ms(state))

    @post(
        "/repair-jobs/{job_id:int}/finish",
        guards=[requires_role(*CREWS, *CENTRE)],
        status_code=HTTP_200_OK,
        summary="Finish a repair job",
    )
    async def finish(
        self, caller: CallerDep, db_session: DbSession, state: State, job_id: Id,
        data: JSONBody[RepairJobFinish],
    ) -> RepairJob:  # fmt: skip
        wt = working_time(state.settings.prepaid_holiday_calendar, state.settings.timezone)
        return await service.finish_job(db_session, caller, job_id, data, now_ms(state), wt)

    @post(
        "/repair-jobs/{job_id:int}/extend",
        guards=[requires_role(*CREWS, *CENTRE)],
        status_code=HTTP_200_OK,
        summary="Move a job's expected finish",
    )
    async def extend(
        self, caller: CallerDep, db_session: DbSession, state: State, job_id: Id,
        data: JSONBody[RepairJobExtend],
    ) -> RepairJob:  # fmt: skip
        return await service.extend_job(db_session, caller, job_id, data, now_ms(state))

    @post("/outages", guards=[requires_role(*CENTRE)], summary="Publish an outage notice")
    async def create_outage(
        self, caller: CallerDep, db_session: DbSession, state: State, data: JSONBody[OutageCreate]
    ) -> Outage:
        return await service.create_outage(db_session, caller, data, now_ms(state))

    @get("/outages", guards=[requires_role(*EVERYONE)], summary="Outage notices")
    async def outages(
        self,
        db_session: DbSession,
        state: State,
        current: FromQuery[bool] = True,
        transformer_area_id: OptId = None,
        limit: Limit = 200,
    ) -> list[Outage]:
        """Upcoming and ongoing outages (default), for customers and staff alike."""
        return await service.list_outages(
            db_session, now_ms(state), current, transformer_area_id, limit
        )

    @post(
        "/outages/{outage_id:int}/end",
        guards=[requires_role(*CENTRE)],
        status_code=HTTP_200_OK,
        summary="Power restored",
    )
    async def end(
        self,
        db_session: DbSession,
        state: State,
        outage_id: Id,
        data: JSONBody[OutageEnd],
    ) -> Outage:
        return await service.end_outage(db_session, outage_id, data, now_ms(state))

    @post(
        "/outages/{outage_id:int}/cancel",
        guards=[requires_role(*CENTRE)],
        status_code=HTTP_200_OK,
        summary="Cancel an outage notice",
    )
    async def cancel(self, db_session: DbSession, state: State, outage_id: Id) -> Outage:
        return await service.cancel_outage(db_session, outage_id, now_ms(state))
