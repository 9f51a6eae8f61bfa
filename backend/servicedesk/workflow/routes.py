"""The workflow book, for the service centre and for whoever edits it."""

from __future__ import annotations

from litestar import get

from backend.auth.guards import BACK_OFFICE, ApiController, requires_role
from backend.servicedesk.workflow.schemas import WorkflowBookOut
from backend.servicedesk.workflow.service import shipped_book


class WorkflowController(ApiController):
    path = "/api/servicedesk/workflows"
    tags = ("servicedesk",)

    @get("/", guards=[requires_role(*BACK_OFFICE)], summary="Work-order workflows")
    async def book(self) -> WorkflowBookOut:
        """Every kind's nodes: role, deadline and unit, what happens on timeout."""
        return WorkflowBookOut.of(shipped_book())
