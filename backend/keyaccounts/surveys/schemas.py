"""One Struct per survey operation."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from backend.keyaccounts.surveys.models import QuestionKind, SurveyChannel

Abc = Annotated[str, msgspec.Meta(pattern="^[ABC]$")]


class QuestionIn(msgspec.Struct, forbid_unknown_fields=True):
    text_zh: Annotated[str, msgspec.Meta(min_length=1, max_length=300)]
    text_en: Annotated[str, msgspec.Meta(min_length=1, max_length=300)]
    kind: QuestionKind


class Question(msgspec.Struct):
    id: int
    text_zh: str
    text_en: str
    kind: QuestionKind
    active: bool


class QuestionnaireIn(msgspec.Struct, forbid_unknown_fields=True):
    title: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    question_ids: Annotated[list[int], msgspec.Meta(min_length=1, max_length=30)]
    abc_classes: Annotated[list[Abc], msgspec.Meta(max_length=3)] = []


class QuestionnaireOut(msgspec.Struct):
    id: int
    title: str
    questions: list[Question]
    abc_classes: list[str]
    active: bool


class ResponseIn(msgspec.Struct, forbid_unknown_fields=True):
    """``answers`` maps a question id (as text) to a score 1–5 or a text."""

    client_id: Annotated[str, msgspec.Meta(pattern=r"^[0-9a-fA-F-]{8,36}$")]
    answers: Annotated[
        dict[str, int | Annotated[str, msgspec.Meta(max_length=1000)]],
        msgspec.Meta(max_length=30),
    ]
    customer_id: int | None = None  # staff only: whose answers they took by phone


class ResponseOut(msgspec.Struct):
    id: int
    questionnaire_id: int
    customer_id: int
    channel: SurveyChannel
    satisfaction: float | None  # 0–100
    created_at: datetime


class ResultGroup(msgspec.Struct):
    key: str  # the ABC class, the manager's user id or the grid id ("" when none)
    responses: int
    satisfaction: float | None  # mean index 0–100 of the group's responses


class QuestionResult(msgspec.Struct):
    """One question over the responses the caller sees: for a score question how many gave
    each score 1–5 and the mean index; for a text question the latest texts."""

    question_id: int
    text_zh: str
    text_en: str
    kind: QuestionKind
    answered: int
    scores: list[int]  # how many answered 1, 2, 3, 4, 5 (score questions; else zeros)
    satisfaction: float | None  # mean of (score − 1) / 4 × 100 over its answers
    texts: list[str]  # the latest 20 non-empty texts, newest first (text questions)


class CustomerResult(msgspec.Struct):
    """One customer's response: who, how it was taken, its index."""

    customer_id: int
    number: str
    name: str
    channel: SurveyChannel
    satisfaction: float | None
    created_at: datetime


class Results(msgspec.Struct):
    questionnaire_id: int
    group_by: str
    responses: int
    satisfaction: float | None
    groups: list[ResultGroup]
    questions: list[QuestionResult] = []
    customers: list[CustomerResult] = []  # lowest index first: whom to call back
