"""API Structs for the knowledge base. Bodies forbid unknown fields."""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Meta

from backend.field.readings.schemas import NO_NUL
from backend.servicedesk.workflow.models import OrderKind

Title = Annotated[str, Meta(min_length=1, max_length=200, pattern=NO_NUL)]
Body = Annotated[str, Meta(min_length=1, max_length=4000, pattern=NO_NUL)]
Tag = Annotated[str, Meta(min_length=1, max_length=32, pattern=r"^[^\x00-\x1f,]+$")]
Tags = Annotated[list[Tag], Meta(max_length=12)]
Kinds = Annotated[list[OrderKind], Meta(max_length=len(OrderKind))]


class ArticleWrite(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A new answer (back office: supervisor, admin). ``kinds`` empty: it fits every kind."""

    title: Title
    body: Body
    tags: Tags = []
    kinds: Kinds = []


class ArticleEdit(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """An edit carries the version as the editor saw it; a stale one is 409."""

    version: Annotated[int, Meta(ge=1)]
    title: Title
    body: Body
    tags: Tags = []
    kinds: Kinds = []


class Article(msgspec.Struct, kw_only=True):
    id: int
    title: str
    body: str
    tags: list[str]
    kinds: list[OrderKind]
    version: int
    updated_at: int  # UTC epoch ms
    score: int = 0  # how well it matches the query (0 in a list without one)
