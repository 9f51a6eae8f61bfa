"""The knowledge base under /api/servicedesk/kb: operators search, supervisors write."""

from __future__ import annotations

from typing import Annotated

from litestar import get, post, put
from litestar.datastructures import State
from litestar.params import FromQuery, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from backend.auth.guards import BACK_OFFICE, CallerDep, DbSession, requires_role
from backend.auth.models import Role
from backend.controllers import FieldApiController, now_ms
from backend.paging import Id
from backend.servicedesk.kb import service
from backend.servicedesk.kb.schemas import Article, ArticleEdit, ArticleWrite
from backend.servicedesk.workflow.models import OrderKind

EDITORS = (Role.SUPERVISOR, Role.ADMIN)
Query = Annotated[
    str | None,
    QueryParameter(
        min_length=1, max_length=256,
        description="up to 5 terms, 64 characters; Chinese substrings match",
    ),
]  # fmt: skip
KbLimit = Annotated[int, QueryParameter(ge=1, le=100, description="at most 100")]


class KnowledgeBaseController(FieldApiController):
    path = "/api/servicedesk/kb"
    tags = ("servicedesk",)

    @get("/articles", guards=[requires_role(*BACK_OFFICE)], summary="Search the answers")
    async def search(
        self, db_session: DbSession, q: Query = None,
        kind: FromQuery[OrderKind | None] = None, limit: KbLimit = 10,
    ) -> list[Article]:  # fmt: skip
        """Best matches for ``q`` first (``score``); without it, every article, last edited
        first. ``kind`` keeps the articles that apply to that kind of order."""
        return await service.search(db_session, q, kind, limit)

    @get("/articles/{article_id:int}", guards=[requires_role(*BACK_OFFICE)], summary="An answer")
    async def get_article(self, db_session: DbSession, article_id: Id) -> Article:
        return await service.get(db_session, article_id)

    @post(
        "/articles", guards=[requires_role(*EDITORS)], status_code=HTTP_201_CREATED,
        summary="Write an answer",
    )  # fmt: skip
    async def create(
        self, caller: CallerDep, db_session: DbSession, state: State,
        data: JSONBody[ArticleWrite],
    ) -> Article:  # fmt: skip
        return await service.create(db_session, caller, data, now_ms(state))

    @put(
        "/articles/{article_id:int}", guards=[requires_role(*EDITORS)], status_code=HTTP_200_OK,
        summary="Edit an answer",
    )  # fmt: skip
    async def edit(
        self, caller: CallerDep, db_session: DbSession, state: State, article_id: Id,
        data: JSONBody[ArticleEdit],
    ) -> Article:  # fmt: skip
        """Carries the version the editor saw; someone else's save in between is 409."""
        return await service.edit(db_session, caller, article_id, data, now_ms(state))
