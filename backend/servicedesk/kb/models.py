"""Knowledge-base articles: a short answer an operator reads out or pastes, with tags and the
kinds of work order it applies to.

``search_text`` is title, tags and body folded to lower case, the one column the search
matches: on PostgreSQL it carries a GIN trigram index (pg_trgm) that serves ``ILIKE '%…%'``;
on SQLite the FTS5 table ``kb_articles_fts`` (trigram tokenizer, made by the migration and kept
by the service) serves queries of three characters and more, and ``LIKE`` the shorter ones.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base
from backend.types import UTCDateTime, utcnow

FTS_TABLE = "kb_articles_fts"  # SQLite only: not a model (see the migration)


class KbArticle(Base):
    __tablename__ = "kb_articles"
    __table_args__ = (
        Index(
            "ix_kb_articles_search_trgm",
            "search_text",
            postgresql_using="gin",
            postgresql_ops={"search_text": "gin_trgm_ops"},
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    kinds: Mapped[list[str]] = mapped_column(JSON, default=list)  # empty: every kind
    search_text: Mapped[str] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
