"""The question bank, questionnaires, answers and the satisfaction index.

Index of one response: the mean over its score answers of (score − 1) / 4 × 100, so 1 is 0 and
5 is 100; kept in tenths of a point, rounded half up. A group's index is the mean of its
responses' indexes. Staff see and record answers of their portfolio only.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts.models import Customer
from backend.auth.guards import Caller
from backend.auth.models import Role
from backend.errors import Conflict, Invalid, NotFound
from backend.errors import ErrorCode as E
from backend.field.grids.models import Grid
from backend.keyaccounts.models import CustomerProfile, CustomerSegment
from backend.keyaccounts.service import portfolio_condition, visible_customer
from backend.keyaccounts.surveys.models import (
    QuestionKind,
    Questionnaire,
    SurveyChannel,
    SurveyQuestion,
    SurveyResponse,
)
from backend.keyaccounts.surveys.schemas import (
    CustomerResult,
    Question,
    QuestionIn,
    QuestionnaireIn,
    QuestionnaireOut,
    QuestionResult,
    ResponseIn,
    ResponseOut,
    ResultGroup,
    Results,
)

GROUPS = ("abc", "manager", "grid")


def satisfaction_tenths(scores: Sequence[int]) -> int | None:
    """Mean of (score − 1) / 4 × 100 in tenths of a point, rounded half up; None without scores."""
    if not scores:
        return None
    total, n = sum((s - 1) * 250 for s in scores), len(scores)
    return (2 * total + n) // (2 * n)


def mean_tenths(values: Sequence[int]) -> float | None:
    if not values:
        return None
    n = len(values)
    return ((2 * sum(values) + n) // (2 * n)) / 10


def _question(q: SurveyQuestion) -> Question:
    return Question(q.id, q.text_zh, q.text_en, q.kind, q.active)


async def add_question(session: AsyncSession, caller: Caller, data: QuestionIn) -> Question:
    q = SurveyQuestion(
        text_zh=data.text_zh.strip(),
        text_en=data.text_en.strip(),
        kind=data.kind,
        created_by=caller.username,
    )
    session.add(q)
    await session.commit()
    return _question(q)


async def list_questions(session: AsyncSession) -> list[Question]:
    return [
        _question(q)
        for q in await session.scalars(select(SurveyQuestion).order_by(SurveyQuestion.id))
    ]


async def _out(session: AsyncSession, qn: Questionnaire) -> QuestionnaireOut:
    rows = {
        q.id: q
        for q in await session.scalars(
            select(SurveyQuestion).where(SurveyQuestion.id.in_(qn.question_ids))
        )
    }
    questions = [_question(rows[i]) for i in qn.question_ids if i in rows]
    return QuestionnaireOut(qn.id, qn.title, questions, list(qn.abc_classes), qn.active)


async def add_questionnaire(
    session: AsyncSession, caller: Caller, data: QuestionnaireIn
) -> QuestionnaireOut:
    ids = list(dict.fromkeys(data.question_ids))
    found = set(
        await session.scalars(
            select(SurveyQuestion.id).where(
                SurveyQuestion.id.in_(ids), SurveyQuestion.active.is_(True)
            )
        )
    )
    missing = [i for i in ids if i not in found]
    if missing:
        raise Invalid(
            E.NOT_FOUND,
            f"no active question {missing[0]}",
            field="question_ids",
            question=missing[0],
        )
    qn = Questionnaire(
        title=data.title.strip(),
        question_ids=ids,
        abc_classes=sorted(set(data.abc_classes)),
        created_by=caller.username,
    )
    session.add(qn)
    await session.commit()
    return await _out(session, qn)


async def _questionnaire(session: AsyncSession, questionnaire_id: int) -> Questionnaire:
    qn = await session.get(Questionnaire, questionnaire_id)
    if qn is None or not qn.active:
        raise NotFound(E.NOT_FOUND, f"questionnaire {questionnaire_id} not found")
    return qn


async def _applies(session: AsyncSession, qn: Questionnaire, customer_id: int) -> bool:
    if not qn.abc_classes:
        return True
    abc = await session.scalar(
        select(CustomerSegment.abc_class).where(CustomerSegment.customer_id == customer_id)
    )
    return abc in qn.abc_classes


async def questionnaires_for(session: AsyncSession, caller: Caller) -> list[QuestionnaireOut]:
    """Staff: every active questionnaire. A customer: those for their segment not yet answered."""
    rows = list(
        await session.scalars(
            select(Questionnaire).where(Questionnaire.active.is_(True)).order_by(Questionnaire.id)
        )
    )
    if caller.role == Role.CUSTOMER:
        cid = caller.customer_id or 0
        answered = set(
            await session.scalars(
                select(SurveyResponse.questionnaire_id).where(SurveyResponse.customer_id == cid)
            )
        )
        rows = [q for q in rows if q.id not in answered and await _applies(session, q, cid)]
    return [await _out(session, q) for q in rows]


async def answer(
    session: AsyncSession, caller: Caller, questionnaire_id: int, data: ResponseIn
) -> tuple[ResponseOut, bool]:
    """A customer answers for themselves (app); staff for a customer of their portfolio (phone).
    The same client_id again is the same response (True: a replay)."""
    qn = await _questionnaire(session, questionnaire_id)
    if caller.role == Role.CUSTOMER:
        if caller.customer_id is None:
            raise NotFound(E.CUSTOMER_NOT_FOUND, "no customer for this user")
        customer_id, channel = caller.customer_id, SurveyChannel.APP
        if not await _applies(session, qn, customer_id):
            raise NotFound(E.NOT_FOUND, f"questionnaire {questionnaire_id} not found")
    else:
        if data.customer_id is None:
            raise Invalid(E.INVALID_REQUEST, "customer_id is required", field="customer_id")
        customer_id = (await visible_customer(session, caller, data.customer_id)).id
        channel = SurveyChannel.PHONE
    existing = await session.scalar(
        select(SurveyResponse).where(SurveyResponse.client_id == data.client_id)
    )
    if existing is not None:
        if (existing.questionnaire_id, existing.customer_id) != (qn.id, customer_id):
            raise Conflict(E.CLIENT_ID_REUSED, "client_id used for another response")
        return _response(existing), True
    kinds = dict(
        (
            await session.execute(
                select(SurveyQuestion.id, SurveyQuestion.kind).where(
                    SurveyQuestion.id.in_(qn.question_ids)
                )
            )
        ).all()
    )
    scores = _scores(kinds, data.answers)
    response = SurveyResponse(
        client_id=data.client_id,
        questionnaire_id=qn.id,
        customer_id=customer_id,
        channel=channel,
        recorded_by=caller.user_id,
        answers=dict(data.answers),
        satisfaction=satisfaction_tenths(scores),
    )
    session.add(response)
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise Conflict(E.INVALID_REQUEST, "this customer has answered already") from None
    return _response(response), False


def _scores(kinds: dict[int, QuestionKind], answers: dict[str, int | str]) -> list[int]:
    """The score answers, after checking every answer against its question."""
    scores: list[int] = []
    for key, value in answers.items():
        qid = int(key) if key.isdigit() else -1
        if qid not in kinds:
            raise Invalid(E.NOT_ONE_OF, f"question {key} is not asked here", field="answers")
        if kinds[qid] == QuestionKind.SCORE:
            if not isinstance(value, int) or not 1 <= value <= 5:
                raise Invalid(E.NOT_ONE_OF, f"answer {key}: a score 1–5", field="answers")
            scores.append(value)
        elif not isinstance(value, str):
            raise Invalid(E.INVALID_REQUEST, f"answer {key}: a text", field="answers")
    missing = [q for q, k in kinds.items() if k == QuestionKind.SCORE and str(q) not in answers]
    if missing:
        raise Invalid(E.INVALID_REQUEST, f"question {missing[0]} unanswered", field="answers")
    return scores


def _response(r: SurveyResponse) -> ResponseOut:
    index = None if r.satisfaction is None else r.satisfaction / 10
    return ResponseOut(r.id, r.questionnaire_id, r.customer_id, r.channel, index, r.created_at)


async def results(
    session: AsyncSession, caller: Caller, questionnaire_id: int, group_by: str
) -> Results:
    """The index overall and per ABC class, manager or grid, over the caller's portfolio."""
    qn = await _questionnaire(session, questionnaire_id)
    if group_by not in GROUPS:
        raise Invalid(E.NOT_ONE_OF, f"group_by: one of {GROUPS}", field="group_by")
    rows = (
        await session.execute(
            select(
                SurveyResponse.satisfaction,
                CustomerSegment.abc_class,
                CustomerProfile.manager_id,
                Grid.inspector_id,
                Customer.grid_id,
                SurveyResponse,
                Customer.number,
                Customer.name,
            )
            .join(Customer, Customer.id == SurveyResponse.customer_id)
            .outerjoin(CustomerSegment, CustomerSegment.customer_id == Customer.id)
            .outerjoin(CustomerProfile, CustomerProfile.customer_id == Customer.id)
            .outerjoin(Grid, Grid.id == Customer.grid_id)
            .where(SurveyResponse.questionnaire_id == qn.id, portfolio_condition(caller))
            .order_by(SurveyResponse.created_at.desc(), SurveyResponse.id.desc())
        )
    ).all()
    groups: dict[str, list[int]] = defaultdict(list)
    counts: dict[str, int] = defaultdict(int)
    for index, abc, named, grid_manager, grid_id, *_ in rows:
        key = {
            "abc": abc or "",
            "manager": str(named or grid_manager or ""),
            "grid": str(grid_id or ""),
        }[group_by]
        counts[key] += 1
        if index is not None:
            groups[key].append(index)
    every = [i for i, *_ in rows if i is not None]
    return Results(
        questionnaire_id=qn.id,
        group_by=group_by,
        responses=len(rows),
        satisfaction=mean_tenths(every),
        groups=[ResultGroup(k, counts[k], mean_tenths(groups[k])) for k in sorted(counts)],
        questions=await _per_question(session, qn, [r[5] for r in rows]),
        customers=sorted(
            (
                CustomerResult(
                    r.customer_id, number, name, r.channel, _response(r).satisfaction, r.created_at
                )
                for *_, r, number, name in rows
            ),
            key=lambda c: (c.satisfaction is None, c.satisfaction or 0, c.number),
        ),
    )


TEXTS_SHOWN = 20


def _index(tenths: int | None) -> float | None:
    return None if tenths is None else tenths / 10


async def _per_question(
    session: AsyncSession, qn: Questionnaire, responses: Sequence[SurveyResponse]
) -> list[QuestionResult]:
    """Each question of the questionnaire over ``responses`` (newest first)."""
    bank = {
        q.id: q
        for q in await session.scalars(
            select(SurveyQuestion).where(SurveyQuestion.id.in_(qn.question_ids))
        )
    }
    out = []
    for qid in qn.question_ids:
        q = bank.get(qid)
        if q is None:
            continue
        given = [r.answers[str(qid)] for r in responses if str(qid) in r.answers]
        scores = [v for v in given if isinstance(v, int) and not isinstance(v, bool)]
        texts = [v.strip() for v in given if isinstance(v, str) and v.strip()]
        out.append(
            QuestionResult(
                question_id=qid,
                text_zh=q.text_zh,
                text_en=q.text_en,
                kind=q.kind,
                answered=len(given),
                scores=[scores.count(k) for k in range(1, 6)],
                satisfaction=_index(satisfaction_tenths(scores)),
                texts=texts[:TEXTS_SHOWN],
            )
        )
    return out
