"""Surveys under /api/key-accounts/surveys."""

from __future__ import annotations

from typing import Annotated

from litestar import Response, get, post
from litestar.params import JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from backend.auth.guards import EVERYONE, STAFF, CallerDep, DbSession, requires_role
from backend.auth.models import Role
from backend.controllers import FieldApiController
from backend.keyaccounts.surveys import service
from backend.keyaccounts.surveys.schemas import (
    Question,
    QuestionIn,
    QuestionnaireIn,
    QuestionnaireOut,
    ResponseIn,
    ResponseOut,
    Results,
)
from backend.paging import Id

SURVEY_MAKERS = (Role.SUPERVISOR, Role.ADMIN)


class SurveyController(FieldApiController):
    path = "/api/key-accounts/surveys"
    tags = ("key accounts",)

    @get("/questions", guards=[requires_role(*STAFF)], summary="The question bank")
    async def list_questions(self, db_session: DbSession) -> list[Question]:
        return await service.list_questions(db_session)

    @post("/questions", guards=[requires_role(*SURVEY_MAKERS)], summary="Add a question")
    async def add_question(
        self, caller: CallerDep, db_session: DbSession, data: JSONBody[QuestionIn]
    ) -> Question:
        return await service.add_question(db_session, caller, data)

    @get("/questionnaires", guards=[requires_role(*EVERYONE)], summary="Questionnaires")
    async def list_questionnaires(
        self, caller: CallerDep, db_session: DbSession
    ) -> list[QuestionnaireOut]:
        """Staff: every active one. A customer: those for their segment not yet answered."""
        return await service.questionnaires_for(db_session, caller)

    @post("/questionnaires", guards=[requires_role(*SURVEY_MAKERS)], summary="Add a questionnaire")
    async def add_questionnaire(
        self, caller: CallerDep, db_session: DbSession, data: JSONBody[QuestionnaireIn]
    ) -> QuestionnaireOut:
        return await service.add_questionnaire(db_session, caller, data)

    @post(
        "/questionnaires/{questionnaire_id:int}/responses",
        guards=[requires_role(*EVERYONE)],
        summary="Answer (a customer in the app, staff by phone; retry-safe)",
    )
    async def answer(
        self,
        caller: CallerDep,
        db_session: DbSession,
        questionnaire_id: Id,
        data: JSONBody[ResponseIn],
    ) -> Response[ResponseOut]:
        out, replayed = await service.answer(db_session, caller, questionnaire_id, data)
        return Response(out, status_code=HTTP_200_OK if replayed else HTTP_201_CREATED)

    @get(
        "/questionnaires/{questionnaire_id:int}/results",
        guards=[requires_role(*STAFF)],
        summary="Satisfaction index overall and per ABC class, manager or grid",
    )
    async def results(
        self,
        caller: CallerDep,
        db_session: DbSession,
        questionnaire_id: Id,
        group_by: Annotated[str, QueryParameter(pattern="^(abc|manager|grid)$")] = "abc",
    ) -> Results:
        return await service.results(db_session, caller, questionnaire_id, group_by)
