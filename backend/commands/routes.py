"""Remote commands under /api/commands and bulk orders under /api/command-batches.

Operators order and cancel; supervisors may look. Every command has a reason and an actor, and
every move is in its audit trail. A bulk disconnect waits for a second operator's approval.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from litestar import get, post
from litestar.datastructures import State as AppState
from litestar.params import FromQuery, JSONBody, PathParameter, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED
from sqlalchemy import select

from backend.auth.guards import BACK_OFFICE, OPERATORS, ApiController, CallerDep, DbSession
from backend.auth.guards import requires_role as role
from backend.commands import decisions, queries, service
from backend.commands.dispatch import wake_dispatcher
from backend.commands.lifecycle import State
from backend.commands.schemas import (
    BatchCreate,
    BatchOut,
    BatchPage,
    CancelIn,
    CommandCreate,
    CommandDetail,
    CommandOut,
    CommandPage,
    CommandStatus,
    DecisionIn,
    RetryIn,
)
from backend.controllers import answers
from backend.errors import Conflict, Forbidden, Invalid
from backend.errors import ErrorCode as E
from backend.metering.models import Meter
from backend.paging import Id, Limit, Offset, OptId
from protocols.contract import CommandKind

CommandIdPath = Annotated[
    str, PathParameter(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
]
Wait = Annotated[int, QueryParameter(ge=0, le=30, description="seconds to wait for a change")]


def _context(state: AppState) -> decisions.Context:
    """Settings and the policy's clock (a test may set app.state.prepaid_clock)."""
    clock = state.get("prepaid_clock")
    return decisions.Context(state.settings, clock() if clock else None)


async def _out(db_session: DbSession, c: Any) -> CommandOut:
    return (await queries.commands_out(db_session, [c]))[0]


class CommandController(ApiController):
    path = "/api/commands"
    tags = ("commands",)

    @post(
        "/", guards=[role(*OPERATORS)], status_code=HTTP_201_CREATED, responses=answers(Conflict),
        summary="Order a command",
    )  # fmt: skip
    async def create(
        self, data: JSONBody[CommandCreate], caller: CallerDep, db_session: DbSession,
        state: AppState,
    ) -> CommandOut:  # fmt: skip
        """A manual disconnect, reconnect, arm, read or time sync of one meter, with a reason.
        A disconnect waits for a second person (four-eyes); one the disconnect policy blocks
        needs ``override_reason`` (409 ``error.override_required`` without it), a protected
        customer's a supervisor's override. 409 when the meter already has a command on its way
        or its control mode cannot do it."""
        meter = await db_session.get(Meter, data.meter_pk)
        if meter is None:
            raise Invalid(
                E.METER_NOT_FOUND, f"no meter {data.meter_pk}", field="meter_pk",
                meter=data.meter_pk,
            )  # fmt: skip
        c = await decisions.order(
            db_session, meter, data.kind, reason=data.reason, actor=caller.username,
            ctx=_context(state), command_id=data.id, override_reason=data.override_reason,
        )  # fmt: skip
        out = await _out(db_session, c)
        await db_session.commit()
        wake_dispatcher(state)
        return out

    @get("/", guards=[role(*BACK_OFFICE)], summary="List commands")
    async def list_commands(
        self,
        db_session: DbSession,
        state_: Annotated[State | None, QueryParameter(name="state")] = None,
        kind: FromQuery[CommandKind | None] = None,
        meter_pk: OptId = None,
        account_id: OptId = None,
        batch_id: OptId = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> CommandPage:
        """Newest first."""
        items, total = await queries.list_commands(
            db_session, state=state_, kind=kind, meter_pk=meter_pk, account_id=account_id,
            batch_id=batch_id, limit=limit, offset=offset,
        )  # fmt: skip
        return CommandPage(items, total, limit, offset)

    @get("/{command_id:str}", guards=[role(*BACK_OFFICE)], summary="One command and its audit")
    async def detail(self, db_session: DbSession, command_id: CommandIdPath) -> CommandDetail:
        return await queries.detail(db_session, command_id)

    @get("/{command_id:str}/status", guards=[role(*BACK_OFFICE)], summary="Live command status")
    async def status(
        self,
        db_session: DbSession,
        command_id: CommandIdPath,
        after: FromQuery[State | None] = None,
        wait: Wait = 0,
    ) -> CommandStatus:
        """Long poll: with ``after`` (the state the client last saw) the answer comes as soon
        as the command has moved on, or after ``wait`` seconds with the state unchanged."""
        return await queries.wait_status(db_session, command_id, after, timedelta(seconds=wait))

    @post(
        "/{command_id:str}/cancel", guards=[role(*OPERATORS)], status_code=HTTP_200_OK,
        responses=answers(Conflict), summary="Withdraw a command before it is sent",
    )  # fmt: skip
    async def cancel(
        self, data: JSONBody[CancelIn], caller: CallerDep, db_session: DbSession,
        command_id: CommandIdPath,
    ) -> CommandOut:  # fmt: skip
        c = await queries.get_command(db_session, command_id)
        await service.cancel(db_session, c, caller.username, data.reason)
        out = await _out(db_session, c)
        await db_session.commit()
        return out

    async def _decide(
        self, approve: bool, data: DecisionIn, caller: CallerDep, db_session: DbSession,
        command_id: str, state: AppState,
    ) -> CommandOut:  # fmt: skip
        c = await decisions.decide_command(
            db_session, command_id, caller.username, caller.role, approve=approve,
            ctx=_context(state), comment=data.comment, override=data.override,
        )  # fmt: skip
        out = await _out(db_session, c)
        await db_session.commit()
        if approve:
            wake_dispatcher(state)
        return out

    @post(
        "/{command_id:str}/approve", guards=[role(*BACK_OFFICE)], status_code=HTTP_200_OK,
        responses=answers(Conflict, Forbidden),
        summary="Approve a disconnect (a second person)",
    )  # fmt: skip
    async def approve(
        self, data: JSONBody[DecisionIn], caller: CallerDep, db_session: DbSession,
        command_id: CommandIdPath, state: AppState,
    ) -> CommandOut:  # fmt: skip
        """Four-eyes: not the requester (403). A disconnect the policy blocks is approved only
        with ``override: true`` and a comment (409 ``error.override_required``); a protected
        customer's only by a supervisor or admin (403). Decided once: 409
        ``error.command_changed`` for every request but the first."""
        return await self._decide(True, data, caller, db_session, command_id, state)

    @post(
        "/{command_id:str}/reject", guards=[role(*BACK_OFFICE)], status_code=HTTP_200_OK,
        responses=answers(Conflict, Forbidden),
        summary="Reject a disconnect",
    )  # fmt: skip
    async def reject(
        self, data: JSONBody[DecisionIn], caller: CallerDep, db_session: DbSession,
        command_id: CommandIdPath, state: AppState,
    ) -> CommandOut:  # fmt: skip
        return await self._decide(False, data, caller, db_session, command_id, state)

    @post(
        "/{command_id:str}/retry", guards=[role(*OPERATORS)], status_code=HTTP_201_CREATED,
        responses=answers(Conflict), summary="Order a failed, expired or refused command again",
    )  # fmt: skip
    async def retry(
        self, data: JSONBody[RetryIn], caller: CallerDep, db_session: DbSession,
        command_id: CommandIdPath, state: AppState,
    ) -> CommandOut:  # fmt: skip
        """A new command (``retry_of`` names the old one), ordered like any other: a disconnect
        waits for approval again. Each command is retried at most once (409)."""
        c = await decisions.retry(
            db_session, command_id, caller.username, reason=data.reason,
            ctx=_context(state), override_reason=data.override_reason,
        )  # fmt: skip
        out = await _out(db_session, c)
        await db_session.commit()
        wake_dispatcher(state)
        return out


class CommandBatchController(ApiController):
    path = "/api/command-batches"
    tags = ("commands",)

    @post(
        "/", guards=[role(*OPERATORS)], status_code=HTTP_201_CREATED, responses=answers(Conflict),
        summary="Order a bulk command",
    )  # fmt: skip
    async def create(
        self, data: JSONBody[BatchCreate], caller: CallerDep, db_session: DbSession, state: AppState
    ) -> BatchOut:
        """All or nothing. A bulk disconnect waits (awaiting_approval) until another operator
        approves it; other kinds are queued at once."""
        wanted = data.meter_pks
        meters = {
            m.id: m for m in await db_session.scalars(select(Meter).where(Meter.id.in_(wanted)))
        }
        missing = sorted({pk for pk in wanted if pk not in meters})
        if missing:
            shown = ", ".join(map(str, missing[:20]))
            raise Invalid(E.METER_NOT_FOUND, f"no meter(s) {shown}", field="meter_pks", meter=shown)
        batch, _ = await decisions.order_batch(
            db_session, [meters[pk] for pk in wanted], data.kind, reason=data.reason,
            actor=caller.username, ctx=_context(state), override_reason=data.override_reason,
        )  # fmt: skip
        out = await queries.batch_out(db_session, batch)
        await db_session.commit()
        wake_dispatcher(state)
        return out

    @get("/", guards=[role(*BACK_OFFICE)], summary="List bulk commands")
    async def list_batches(
        self,
        db_session: DbSession,
        awaiting_approval: FromQuery[bool | None] = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> BatchPage:
        """``awaiting_approval=true``: the approvals queue of the four-eyes rule."""
        items, total = await queries.list_batches(
            db_session, awaiting_approval=awaiting_approval, limit=limit, offset=offset
        )
        return BatchPage(items, total, limit, offset)

    @get("/{batch_id:int}", guards=[role(*BACK_OFFICE)], summary="One bulk command")
    async def detail(self, db_session: DbSession, batch_id: Id) -> BatchOut:
        return await queries.batch_out(db_session, await queries.get_batch(db_session, batch_id))

    async def _decide(
        self, approve: bool, data: DecisionIn, caller: CallerDep, db_session: DbSession,
        batch_id: int, state: AppState,
    ) -> BatchOut:  # fmt: skip
        batch = await decisions.decide_batch(
            db_session, batch_id, caller.username, caller.role, approve=approve,
            ctx=_context(state), comment=data.comment, override=data.override,
        )  # fmt: skip
        out = await queries.batch_out(db_session, batch)
        await db_session.commit()
        if approve:
            wake_dispatcher(state)
        return out

    @post(
        "/{batch_id:int}/approve", guards=[role(*BACK_OFFICE)], status_code=HTTP_200_OK,
        responses=answers(Conflict, Forbidden),
        summary="Approve a bulk command (second operator)",
    )  # fmt: skip
    async def approve(
        self, data: JSONBody[DecisionIn], caller: CallerDep, db_session: DbSession,
        batch_id: Id, state: AppState,
    ) -> BatchOut:  # fmt: skip
        """Four-eyes: the requester may not approve their own batch (403); overrides and
        protected customers as for one command. Decided once (409 for every other request)."""
        return await self._decide(True, data, caller, db_session, batch_id, state)

    @post(
        "/{batch_id:int}/reject", guards=[role(*BACK_OFFICE)], status_code=HTTP_200_OK,
        responses=answers(Conflict, Forbidden),
        summary="Reject a bulk command",
    )  # fmt: skip
    async def reject(
        self, data: JSONBody[DecisionIn], caller: CallerDep, db_session: DbSession,
        batch_id: Id, state: AppState,
    ) -> BatchOut:  # fmt: skip
        return await self._decide(False, data, caller, db_session, batch_id, state)
