"""Key accounts under /api/key-accounts: thin controllers over service and portfolio."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from litestar import Request, Response, delete, get, post, put
from litestar.datastructures import State
from litestar.params import JSONBody, PathParameter, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT

from backend.auth.guards import BACK_OFFICE, STAFF, CallerDep, DbSession, requires_role
from backend.auth.models import Role
from backend.controllers import FieldApiController, answers, now_ms
from backend.errors import TooLarge, UnsupportedMedia
from backend.keyaccounts import documents, portfolio, service
from backend.keyaccounts.models import DocumentKind
from backend.keyaccounts.schemas import (
    CheckIn,
    Customer360,
    CustomerTags,
    DocumentOut,
    ManagerAssign,
    ManagerOut,
    NoteIn,
    NoteOut,
    OrgNode,
    PortfolioPage,
    Profile,
    ProfileIn,
    ProfileVersion,
    Recomputed,
    Rule,
    RuleIn,
    SegmentationSettings,
    SettingsIn,
    TagIn,
    TagLabel,
    TagOut,
    VisitIn,
    VisitOut,
)
from backend.paging import Id, Limit, Offset, OptId

MANAGERS = (Role.INSPECTOR,)  # 客户经理: plan and check in their own visits
RULE_MAKERS = (Role.SUPERVISOR, Role.ADMIN)  # edit rules and settings, name managers, recompute
OptDate = Annotated[date | None, QueryParameter()]


def _now(state: State) -> datetime:
    return datetime.fromtimestamp(now_ms(state) / 1000, UTC)


def _tz(state: State) -> ZoneInfo:
    return ZoneInfo(state["settings"].timezone)


class KeyAccountController(FieldApiController):
    path = "/api/key-accounts"
    tags = ("key accounts",)

    @get("/portfolio", guards=[requires_role(*STAFF)], summary="A manager's customers with alerts")
    async def portfolio(
        self,
        caller: CallerDep,
        db_session: DbSession,
        state: State,
        manager_id: OptId = None,
        alerts_only: Annotated[bool, QueryParameter()] = False,
        tag: Annotated[TagLabel | None, QueryParameter()] = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> PortfolioPage:
        """A manager: their grids' customers and the key accounts named to them. The back
        office: everyone, or one manager's portfolio with ``manager_id``."""
        return await portfolio.portfolio(
            db_session,
            caller,
            manager_id=manager_id,
            alerts_only=alerts_only,
            tag=tag,
            limit=limit,
            offset=offset,
            now=_now(state),
            tz=_tz(state),
        )

    @get("/customers/{customer_id:int}", guards=[requires_role(*STAFF)], summary="Customer 360")
    async def customer_360(
        self, caller: CallerDep, db_session: DbSession, state: State, customer_id: Id
    ) -> Customer360:
        return await portfolio.customer_360(
            db_session, caller, customer_id, _now(state), _tz(state)
        )

    @get("/customers/{customer_id:int}/profile", guards=[requires_role(*STAFF)])
    async def get_profile(
        self, caller: CallerDep, db_session: DbSession, customer_id: Id
    ) -> Profile | None:
        """The current profile, or null when none was recorded yet."""
        return await service.get_profile(db_session, caller, customer_id)

    @put("/customers/{customer_id:int}/profile", guards=[requires_role(*STAFF)])
    async def save_profile(
        self, caller: CallerDep, db_session: DbSession, customer_id: Id, data: JSONBody[ProfileIn]
    ) -> Profile:
        """Save the whole profile over ``version`` (409 ``profile_changed`` if it moved)."""
        return await service.save_profile(db_session, caller, customer_id, data)

    @get("/customers/{customer_id:int}/profile/history", guards=[requires_role(*STAFF)])
    async def profile_history(
        self, caller: CallerDep, db_session: DbSession, customer_id: Id
    ) -> list[ProfileVersion]:
        return await service.profile_history(db_session, caller, customer_id)

    @put("/customers/{customer_id:int}/manager", guards=[requires_role(*RULE_MAKERS)])
    async def assign_manager(
        self,
        caller: CallerDep,
        db_session: DbSession,
        customer_id: Id,
        data: JSONBody[ManagerAssign],
    ) -> Profile:
        return await service.assign_manager(db_session, caller, customer_id, data)

    @post("/customers/{customer_id:int}/notes", guards=[requires_role(*STAFF)])
    async def add_note(
        self, caller: CallerDep, db_session: DbSession, customer_id: Id, data: JSONBody[NoteIn]
    ) -> NoteOut:
        return await portfolio.add_note(db_session, caller, customer_id, data)

    @post(
        "/customers/{customer_id:int}/documents",
        guards=[requires_role(*STAFF)],
        responses=answers(TooLarge, UnsupportedMedia),
        summary="Attach a contract or licence (PDF or photo, raw bytes)",
    )
    async def upload_document(
        self,
        caller: CallerDep,
        db_session: DbSession,
        state: State,
        customer_id: Id,
        request: Request[Any, Any, Any],
        kind: Annotated[DocumentKind, QueryParameter()],
        title: Annotated[str, QueryParameter(min_length=1, max_length=100)],
    ) -> Response[DocumentOut]:
        """The raw bytes as the body: a PDF, JPEG, PNG or WebP of at most 5 MiB (413 over it,
        415 for anything else, judged by the first bytes)."""
        data = bytearray()
        async for chunk in request.stream():
            data.extend(chunk)
            if len(data) > documents.MAX_BYTES:  # stop reading: never buffer an oversized upload
                documents.check(bytes(data))
        doc = await documents.upload(
            db_session, caller, state["settings"].data_path, customer_id, kind, title.strip(),
            bytes(data),
        )  # fmt: skip
        return Response(doc, status_code=HTTP_201_CREATED)

    @get("/customers/{customer_id:int}/documents", guards=[requires_role(*STAFF)])
    async def list_documents(
        self, caller: CallerDep, db_session: DbSession, customer_id: Id
    ) -> list[DocumentOut]:
        return await documents.listing(db_session, caller, customer_id)

    @get(
        "/customers/{customer_id:int}/documents/{document_id:int}",
        guards=[requires_role(*STAFF)],
        summary="A document's bytes",
    )
    async def get_document(
        self, caller: CallerDep, db_session: DbSession, state: State, customer_id: Id,
        document_id: Id,
    ) -> Response[bytes]:  # fmt: skip
        data, media_type = await documents.content(
            db_session, caller, state["settings"].data_path, customer_id, document_id
        )
        return Response(data, media_type=media_type, headers={"Cache-Control": "private"})

    @get("/org-tree", guards=[requires_role(*BACK_OFFICE)], summary="Org units with counts")
    async def org_tree(self, caller: CallerDep, db_session: DbSession) -> list[OrgNode]:
        """Province → city → district → grid with the grids, customers and key accounts below
        each, in the caller's scope (R110)."""
        return await portfolio.org_tree(db_session, caller)

    @get("/customers/{customer_id:int}/tags", guards=[requires_role(*STAFF)])
    async def get_tags(
        self, caller: CallerDep, db_session: DbSession, customer_id: Id
    ) -> CustomerTags:
        """The customer's value tags now and their history (R97)."""
        return await service.get_tags(db_session, caller, customer_id)

    @post("/customers/{customer_id:int}/tags", guards=[requires_role(*STAFF)])
    async def add_tag(
        self, caller: CallerDep, db_session: DbSession, customer_id: Id, data: JSONBody[TagIn]
    ) -> Response[TagOut]:
        """A manager's label (201; 200 when the customer already carries it)."""
        tag, added = await service.add_tag(db_session, caller, customer_id, data)
        return Response(tag, status_code=HTTP_201_CREATED if added else HTTP_200_OK)

    @delete(
        "/customers/{customer_id:int}/tags/{tag:str}",
        guards=[requires_role(*STAFF)],
        status_code=HTTP_204_NO_CONTENT,
    )
    async def remove_tag(
        self,
        caller: CallerDep,
        db_session: DbSession,
        customer_id: Id,
        tag: Annotated[str, PathParameter()],
    ) -> None:
        """Remove a manager's label (a computed tag follows the data: 404)."""
        await service.remove_tag(db_session, caller, customer_id, tag)

    @get("/rules", guards=[requires_role(*STAFF)], summary="The R90 key-account class rules")
    async def list_rules(self, db_session: DbSession) -> list[Rule]:
        return await service.list_rules(db_session)

    @put("/rules/{klass:int}", guards=[requires_role(*RULE_MAKERS)])
    async def save_rule(
        self, caller: CallerDep, db_session: DbSession, klass: Id, data: JSONBody[RuleIn]
    ) -> Rule:
        return await service.save_rule(db_session, caller, klass, data)

    @get("/settings", guards=[requires_role(*STAFF)], summary="ABC shares and alert thresholds")
    async def get_settings(self, db_session: DbSession) -> SegmentationSettings:
        return await service.get_settings(db_session)

    @put("/settings", guards=[requires_role(*RULE_MAKERS)])
    async def save_settings(
        self, caller: CallerDep, db_session: DbSession, data: JSONBody[SettingsIn]
    ) -> SegmentationSettings:
        return await service.save_settings(db_session, caller, data)

    @post(
        "/segmentation/recompute",
        guards=[requires_role(*RULE_MAKERS)],
        status_code=HTTP_200_OK,
        summary="Recompute classes, ABC and credit ratings now",
    )
    async def recompute(self, db_session: DbSession, state: State) -> Recomputed:
        return await service.recompute(db_session, _now(state), _tz(state))

    @get("/visits", guards=[requires_role(*MANAGERS)], summary="The caller's planned visits")
    async def my_visits(
        self,
        caller: CallerDep,
        db_session: DbSession,
        from_: Annotated[date | None, QueryParameter(name="from")] = None,
        to: OptDate = None,
    ) -> list[VisitOut]:
        return await portfolio.my_visits(db_session, caller, from_, to)

    @post("/visits", guards=[requires_role(*MANAGERS)], summary="Plan a visit (retry-safe)")
    async def plan_visit(
        self, caller: CallerDep, db_session: DbSession, data: JSONBody[VisitIn]
    ) -> Response[VisitOut]:
        visit, replayed = await portfolio.plan_visit(db_session, caller, data)
        return Response(visit, status_code=HTTP_200_OK if replayed else HTTP_201_CREATED)

    @post(
        "/visits/{visit_id:int}/check-in",
        guards=[requires_role(*MANAGERS)],
        status_code=HTTP_200_OK,
        summary="Check in on site with the GPS fix",
    )
    async def check_in(
        self,
        caller: CallerDep,
        db_session: DbSession,
        state: State,
        visit_id: Id,
        data: JSONBody[CheckIn],
    ) -> VisitOut:
        return await portfolio.check_in(db_session, caller, visit_id, data, _now(state))

    @get("/my-manager", guards=[requires_role(Role.CUSTOMER)], summary="The customer's managers")
    async def my_managers(self, caller: CallerDep, db_session: DbSession) -> list[ManagerOut]:
        return await portfolio.my_managers(db_session, caller)

    @post("/my-manager/messages", guards=[requires_role(Role.CUSTOMER)])
    async def message_manager(
        self, caller: CallerDep, db_session: DbSession, data: JSONBody[NoteIn]
    ) -> NoteOut:
        """A message to the customer's manager: an alert on their list until they answer."""
        return await portfolio.message_manager(db_session, caller, data)
