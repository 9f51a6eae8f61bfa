"""An order's follow-ups under /api/servicedesk/orders/{id}: a field task, a meter command."""

from __future__ import annotations

from litestar import post
from litestar.datastructures import State
from litestar.params import JSONBody
from litestar.status_codes import HTTP_201_CREATED

from backend.auth.guards import BACK_OFFICE, OPERATORS, CallerDep, DbSession, requires_role
from backend.commands.decisions import Context
from backend.commands.dispatch import wake_dispatcher
from backend.controllers import FieldApiController, now_ms
from backend.paging import Id
from backend.servicedesk.followups import service
from backend.servicedesk.followups.schemas import FollowUp, OrderCommand, OrderFieldTask


class OrderFollowUpController(FieldApiController):
    path = "/api/servicedesk/orders"
    tags = ("servicedesk",)

    @post("/{order_id:int}/field-task", guards=[requires_role(*BACK_OFFICE)],
          status_code=HTTP_201_CREATED, summary="A field task from an order")  # fmt: skip
    async def field_task(
        self, caller: CallerDep, db_session: DbSession, state: State, order_id: Id,
        data: JSONBody[OrderFieldTask],
    ) -> FollowUp:  # fmt: skip
        """A field task for the inspector of the customer's grid, as ``POST /api/field/tasks``
        makes it; the order's timeline records it (``order.field_task``)."""
        return await service.field_task(db_session, caller, order_id, data, now_ms(state))

    @post("/{order_id:int}/command", guards=[requires_role(*OPERATORS)],
          status_code=HTTP_201_CREATED, summary="A meter command from an order")  # fmt: skip
    async def command(
        self, caller: CallerDep, db_session: DbSession, state: State, order_id: Id,
        data: JSONBody[OrderCommand],
    ) -> FollowUp:  # fmt: skip
        """Reconnect or disconnect the order's meter through the command path: a disconnect
        waits for a second person's approval (``command_state`` ``awaiting_approval``); the
        disconnect policy and its overrides apply as in ``POST /api/commands``."""
        clock = state.get("prepaid_clock")
        ctx = Context(state.settings, clock() if clock else None)
        out = await service.meter_command(db_session, caller, order_id, data, ctx, now_ms(state))
        wake_dispatcher(state)
        return out
