"""Survey tables (migration 0017): questions, questionnaires, responses."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base
from backend.types import UTCDateTime, str_enum, utcnow


class QuestionKind(enum.StrEnum):
    SCORE = "score"  # 1 (very dissatisfied) … 5 (very satisfied)
    TEXT = "text"  # an opinion in the customer's words


class SurveyQuestion(Base):
    """One question of the bank, worded in both languages."""

    __tablename__ = "survey_questions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    text_zh: Mapped[str] = mapped_column(String(300))
    text_en: Mapped[str] = mapped_column(String(300))
    kind: Mapped[QuestionKind] = mapped_column(str_enum(QuestionKind, 8))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Questionnaire(Base):
    """Questions from the bank for a segment: ABC classes (none: every customer)."""

    __tablename__ = "questionnaires"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(100))
    question_ids: Mapped[list[int]] = mapped_column(JSON)
    abc_classes: Mapped[list[str]] = mapped_column(JSON)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SurveyChannel(enum.StrEnum):
    APP = "app"  # the customer answered in the app
    PHONE = "phone"  # staff took the answers by phone (or on a visit)


class SurveyResponse(Base):
    """One customer's answers to one questionnaire (once)."""

    __tablename__ = "survey_responses"
    __table_args__ = (
        UniqueConstraint("questionnaire_id", "customer_id", name="uq_survey_responses_once"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(36), unique=True)
    questionnaire_id: Mapped[int] = mapped_column(ForeignKey("questionnaires.id"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    channel: Mapped[SurveyChannel] = mapped_column(str_enum(SurveyChannel, 8))
    recorded_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    answers: Mapped[dict[str, Any]] = mapped_column(JSON)  # question id → score or text
    satisfaction: Mapped[int | None] = mapped_column(Integer)  # 0–1000 (tenths of a point)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
