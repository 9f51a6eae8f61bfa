"""Reading books (抄表册), field tasks and coverage under /api/field."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import MediaType, Request, Response, get, post
from litestar.datastructures import State
from litestar.params import JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_304_NOT_MODIFIED
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.guards import CallerDep, DbSession, requires_role
from backend.auth.models import Role
from backend.controllers import (
    FIELD_VIEW,
    OVERSEERS,
    PLANNERS,
    READERS,
    FieldApiController,
    now_ms,
)
from backend.field.books import service as books_service
from backend.field.books import tasks as tasks_service
from backend.field.books.cycles import cycle_of, parse_cycle
from backend.field.books.models import FieldTaskKind, ReadingBook
from backend.field.books.schemas import (
    Book,
    BookCreate,
    BookReplan,
    BookSummary,
    Coverage,
    Task,
    TaskComplete,
    TaskCreate,
)
from backend.field.tracks import service as tracks_service
from backend.paging import Id, OptId
from backend.types import from_epoch_ms

TASK_KINDS = "^(" + "|".join(k.value for k in FieldTaskKind) + ")$"
CycleQuery = Annotated[
    str | None, QueryParameter(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="YYYY-MM, local")
]


async def _book_response(
    session: AsyncSession,
    book: ReadingBook,
    state: State,
    request: Request[Any, Any, Any],
    status: int = HTTP_200_OK,
) -> Response[Any]:
    """The book with its ETag; 304 and no body when the client already has this version."""
    out, etag = await books_service.view(session, book, state.settings, _sent(request))
    if out is None:
        return _not_modified(etag)
    return Response(
        out, status_code=status, media_type=MediaType.JSON, headers=_cache_headers(etag)
    )


def _sent(request: Request[Any, Any, Any]) -> list[str]:
    return [t.strip() for t in request.headers.get("if-none-match", "").split(",")]


def _cache_headers(etag: str) -> dict[str, str]:
    return {"ETag": etag, "Cache-Control": "private, no-cache"}


def _not_modified(etag: str) -> Response[Any]:
    return Response(None, status_code=HTTP_304_NOT_MODIFIED, headers=_cache_headers(etag))


class FieldBookController(FieldApiController):
    path = "/api/field"
    tags = ("field",)

    @get(
        "/books/current",
        guards=[requires_role(Role.INSPECTOR)],
        summary="My reading book for the cycle",
    )
    async def current(
        self,
        caller: CallerDep,
        db_session: DbSession,
        state: State,
        request: Request[Any, Any, Any],
        cycle: CycleQuery = None,
    ) -> Response[Book]:
        """Everything the handheld needs offline for the cycle (default: this month), made on
        first request. Send If-None-Match with the last ETag: 304 means nothing changed."""
        now = now_ms(state)
        wanted = parse_cycle(cycle, now, state.settings.timezone)
        # the usual sync, "changed?", is answered from one indexed read
        etag = await books_service.current_etag(db_session, caller.user_id, wanted, state.settings)
        sent = _sent(request)
        if etag is not None and (etag in sent or f"W/{etag}" in sent):
            return _not_modified(etag)
        book, _ = await books_service.generate(
            db_session, caller, caller.user_id, wanted, now, state.settings
        )
        return await _book_response(db_session, book, state, request)

    @post("/books", guards=[requires_role(*PLANNERS)], summary="Make an inspector's book")
    async def create(
        self,
        caller: CallerDep,
        db_session: DbSession,
        state: State,
        request: Request[Any, Any, Any],
        data: JSONBody[BookCreate],
    ) -> Response[Book]:
        """Idempotent per (inspector, cycle): 201 when made, 200 with the existing book."""
        now = now_ms(state)
        book, made = await books_service.generate(
            db_session, caller, data.inspector_id,
            data.cycle or cycle_of(now, state.settings.timezone), now, state.settings, data.start,
        )  # fmt: skip
        status = HTTP_201_CREATED if made else HTTP_200_OK
        return await _book_response(db_session, book, state, request, status)

    @get("/books", guards=[requires_role(*FIELD_VIEW)], summary="List reading books")
    async def list_books(
        self,
        caller: CallerDep,
        db_session: DbSession,
        inspector_id: OptId = None,
        cycle: CycleQuery = None,
    ) -> list[BookSummary]:
        return await books_service.list_books(db_session, caller, inspector_id, cycle)

    @get("/books/{book_id:int}", guards=[requires_role(*FIELD_VIEW)], summary="One reading book")
    async def get_book(
        self,
        caller: CallerDep,
        db_session: DbSession,
        state: State,
        request: Request[Any, Any, Any],
        book_id: Id,
    ) -> Response[Book]:
        book = await books_service.visible_book(db_session, caller, book_id)
        return await _book_response(db_session, book, state, request)

    @post(
        "/books/{book_id:int}/replan",
        guards=[requires_role(Role.INSPECTOR, *PLANNERS)],
        status_code=HTTP_200_OK,
        summary="Bring a book up to date",
    )
    async def replan(
        self,
        caller: CallerDep,
        db_session: DbSession,
        state: State,
        request: Request[Any, Any, Any],
        book_id: Id,
        data: JSONBody[BookReplan],
    ) -> Response[Book]:
        """Keeps what was read; adds meters that now need a person, drops unread ones that no
        longer do and re-plans the rest of the walk. ``version`` moves if anything changed."""
        book = await books_service.replan(
            db_session, caller, book_id, now_ms(state), state.settings, data.start
        )
        return await _book_response(db_session, book, state, request)

    @get(
        "/books/{book_id:int}/coverage",
        guards=[requires_role(*FIELD_VIEW)],
        summary="How the book was walked",
    )
    async def coverage(
        self, caller: CallerDep, db_session: DbSession, state: State, book_id: Id
    ) -> Coverage:
        """Meters not read (漏抄), read out of route order, read far from their place; time
        spent and distance walked."""
        return await tracks_service.coverage(db_session, caller, book_id, state.settings.timezone)

    @post("/tasks", guards=[requires_role(*OVERSEERS)], summary="Create a field task")
    async def create_task(
        self, caller: CallerDep, db_session: DbSession, state: State, data: JSONBody[TaskCreate]
    ) -> Task:
        return await tasks_service.create(db_session, caller, data, now_ms(state))

    @post(
        "/tasks/schedule-safety-inspections",
        guards=[requires_role(*PLANNERS)],
        status_code=HTTP_200_OK,
        summary="Schedule key accounts' safety inspections",
    )
    async def schedule(self, caller: CallerDep, db_session: DbSession, state: State) -> list[Task]:
        """One for every key account (R14) not inspected within field_safety_inspection_days
        and without one open. Running it again creates nothing new."""
        today = from_epoch_ms(now_ms(state)).date()
        return await tasks_service.schedule_safety_inspections(
            db_session, caller, today, state.settings.field_safety_inspection_days
        )

    @get("/tasks", guards=[requires_role(*FIELD_VIEW)], summary="List field tasks")
    async def list_tasks(
        self,
        caller: CallerDep,
        db_session: DbSession,
        status: Annotated[str | None, QueryParameter(pattern="^(open|done|cancelled)$")] = "open",
        kind: Annotated[str | None, QueryParameter(pattern=TASK_KINDS)] = None,
    ) -> list[Task]:
        return await tasks_service.list_tasks(db_session, caller, status, kind)

    @get("/tasks/{task_id:int}", guards=[requires_role(*FIELD_VIEW)], summary="One field task")
    async def get_task(self, caller: CallerDep, db_session: DbSession, task_id: Id) -> Task:
        return await tasks_service.get(db_session, caller, task_id)

    @post(
        "/tasks/{task_id:int}/complete",
        guards=[requires_role(*READERS)],
        status_code=HTTP_200_OK,
        summary="Complete a field task",
    )
    async def complete(
        self,
        caller: CallerDep,
        db_session: DbSession,
        state: State,
        task_id: Id,
        data: JSONBody[TaskComplete],
    ) -> Task:
        return await tasks_service.complete(db_session, caller, task_id, data, now_ms(state))
