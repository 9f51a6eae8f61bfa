"""Knowledge base: write articles (supervisor, admin), search them (the back office).

The search takes up to five terms (split on spaces), all of which an article must contain
somewhere in its title, tags or body, case-insensitively and as a substring, so 停电 finds
计划停电 and 电费 finds 预付费电费. How the candidates are found depends on the database:

* SQLite: the FTS5 table ``kb_articles_fts`` (trigram tokenizer) when every term has three
  characters or more; ``LIKE`` on ``search_text`` otherwise (a trigram index cannot look up
  one or two characters).
* PostgreSQL: ``ILIKE`` on ``search_text``, served by its GIN trigram index (pg_trgm).

The candidates are then ranked the same way on both (``score``): a term in the title counts
most (more at its start), an exact tag next, a tag containing it, then its occurrences in the
body (at most five); ties go to the most recently edited article.
"""

from __future__ import annotations

import unicodedata

from sqlalchemy import and_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.guards import Caller
from backend.errors import Conflict, Invalid, NotFound
from backend.errors import ErrorCode as E
from backend.servicedesk.kb.models import KbArticle
from backend.servicedesk.kb.schemas import Article, ArticleEdit, ArticleWrite
from backend.servicedesk.workflow.models import OrderKind
from backend.types import from_epoch_ms, to_epoch_ms

MAX_QUERY = 64  # characters, after trimming
MAX_TERMS = 5
MAX_CANDIDATES = 500
TRIGRAM = 3  # the shortest term the trigram index can look up


def _fold(value: str) -> str:
    return unicodedata.normalize("NFKC", value).casefold()


def _search_text(title: str, tags: list[str], body: str) -> str:
    return _fold("\n".join([title, " ".join(tags), body]))


def parse_query(q: str) -> list[str]:
    """The terms of a query, or a 400 saying why there are none worth searching."""
    q = q.strip()
    if not q:
        raise Invalid(E.KB_QUERY_INVALID, "the query is empty", field="q", reason="empty")
    if len(q) > MAX_QUERY:
        raise Invalid(
            E.KB_QUERY_INVALID, f"the query is longer than {MAX_QUERY} characters",
            field="q", reason="too_long",
        )  # fmt: skip
    if any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn") for c in q):
        raise Invalid(
            E.KB_QUERY_INVALID, "the query holds control or unassigned characters",
            field="q", reason="control",
        )  # fmt: skip
    terms = list(dict.fromkeys(_fold(q).split()))
    if len(terms) > MAX_TERMS:
        raise Invalid(
            E.KB_QUERY_INVALID, f"the query has more than {MAX_TERMS} terms",
            field="q", reason="terms",
        )  # fmt: skip
    return terms


def _like(term: str) -> str:
    return "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


async def _candidates(session: AsyncSession, terms: list[str]) -> list[KbArticle]:
    dialect = session.get_bind().dialect.name
    stmt = select(KbArticle)
    if dialect == "sqlite" and all(len(t) >= TRIGRAM for t in terms):
        match = " AND ".join('"' + t.replace('"', '""') + '"' for t in terms)
        ids = (
            select(text("rowid"))
            .select_from(text("kb_articles_fts"))
            .where(text("kb_articles_fts MATCH :match"))
        )
        stmt = stmt.where(KbArticle.id.in_(ids)).params(match=match)
    else:
        col = KbArticle.search_text
        conds = [
            col.ilike(_like(t), escape="\\") if dialect != "sqlite" else col.like(_like(t), "\\")
            for t in terms
        ]
        stmt = stmt.where(and_(*conds))
    return list(await session.scalars(stmt.order_by(KbArticle.id).limit(MAX_CANDIDATES)))


def score(article: KbArticle, terms: list[str]) -> int:
    title = _fold(article.title)
    tags = [_fold(t) for t in article.tags]
    body = _fold(article.body)
    total = 0
    for t in terms:
        if title.startswith(t):
            total += 12
        elif t in title:
            total += 10
        if t in tags:
            total += 8
        elif any(t in tag for tag in tags):
            total += 5
        total += min(body.count(t), 5)
    return total


def _out(a: KbArticle, points: int = 0) -> Article:
    return Article(
        id=a.id,
        title=a.title,
        body=a.body,
        tags=list(a.tags),
        kinds=[OrderKind(k) for k in a.kinds],
        version=a.version,
        updated_at=to_epoch_ms(a.updated_at),
        score=points,
    )


def _fits(a: KbArticle, kind: OrderKind | None) -> bool:
    return kind is None or not a.kinds or kind.value in a.kinds


async def search(
    session: AsyncSession, q: str | None, kind: OrderKind | None, limit: int
) -> list[Article]:
    """Best matches first; without ``q`` every article (of that kind), last edited first."""
    if q is None:
        rows = await session.scalars(
            select(KbArticle).order_by(KbArticle.updated_at.desc(), KbArticle.id.desc())
        )
        return [_out(a) for a in rows if _fits(a, kind)][:limit]
    terms = parse_query(q)
    found = [(score(a, terms), a) for a in await _candidates(session, terms) if _fits(a, kind)]
    found.sort(key=lambda p: (-p[0], -p[1].updated_at.timestamp(), p[1].id))
    return [_out(a, points) for points, a in found[:limit]]


async def _get(session: AsyncSession, article_id: int) -> KbArticle:
    a = await session.get(KbArticle, article_id)
    if a is None:
        raise NotFound(
            E.KB_ARTICLE_NOT_FOUND, f"article {article_id} not found", article=article_id
        )
    return a


async def get(session: AsyncSession, article_id: int) -> Article:
    return _out(await _get(session, article_id))


async def _index(session: AsyncSession, a: KbArticle) -> None:
    if session.get_bind().dialect.name != "sqlite":
        return  # PostgreSQL's index is on the column itself
    await session.execute(text("DELETE FROM kb_articles_fts WHERE rowid = :id"), {"id": a.id})
    await session.execute(
        text("INSERT INTO kb_articles_fts (rowid, title, tags, body) VALUES (:id, :t, :g, :b)"),
        {"id": a.id, "t": _fold(a.title), "g": _fold(" ".join(a.tags)), "b": _fold(a.body)},
    )


def _tags(tags: list[str]) -> list[str]:
    return list(dict.fromkeys(t.strip() for t in tags if t.strip()))


def _kinds(kinds: list[OrderKind]) -> list[str]:
    return sorted({k.value for k in kinds})


async def create(session: AsyncSession, caller: Caller, data: ArticleWrite, now_ms: int) -> Article:
    now = from_epoch_ms(now_ms)
    tags = _tags(data.tags)
    a = KbArticle(
        title=data.title.strip(),
        body=data.body.strip(),
        tags=tags,
        kinds=_kinds(data.kinds),
        search_text=_search_text(data.title, tags, data.body),
        version=1,
        created_by=caller.user_id,
        updated_by=caller.user_id,
        created_at=now,
        updated_at=now,
    )
    session.add(a)
    await session.flush()
    await _index(session, a)
    await session.commit()
    return _out(a)


async def edit(
    session: AsyncSession, caller: Caller, article_id: int, data: ArticleEdit, now_ms: int
) -> Article:
    """Saved only over the version the editor saw (compare and set in one statement, so of two
    editors at once exactly one wins; the other gets 409 with the current version)."""
    current = await _get(session, article_id)
    tags = _tags(data.tags)
    done = await session.execute(
        update(KbArticle)
        .where(KbArticle.id == article_id, KbArticle.version == data.version)
        .values(
            title=data.title.strip(),
            body=data.body.strip(),
            tags=tags,
            kinds=_kinds(data.kinds),
            search_text=_search_text(data.title, tags, data.body),
            version=KbArticle.version + 1,
            updated_by=caller.user_id,
            updated_at=from_epoch_ms(now_ms),
        )
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        await session.rollback()
        fresh = await _get(session, article_id)
        raise Conflict(
            E.KB_ARTICLE_CHANGED, f"article {article_id} was saved by someone else",
            article=article_id, version=fresh.version,
        )  # fmt: skip
    await session.refresh(current)
    await _index(session, current)
    await session.commit()
    return _out(current)
