"""The operators' knowledge base: Chinese search on SQLite (FTS5 trigram, LIKE for short
terms) and PostgreSQL (pg_trgm), sensible ranking, refused queries, roles, edits."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from litestar.testing import AsyncTestClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from backend.db import session_factory
from backend.servicedesk.kb import service as kb
from backend.servicedesk.kb.demo import ARTICLES as DEMO
from backend.servicedesk.kb.demo import seed_articles
from tests.integration.servicedesk.conftest import Desk

URL = "/api/servicedesk/kb/articles"

ARTICLES: list[dict[str, Any]] = [
    {
        "title": "停电后多久恢复供电",
        "body": "故障停电一般在 4 小时内恢复供电；计划停电以公告时间为准，可在 App 查看停电公告。",
        "tags": ["停电", "抢修"],
        "kinds": ["fault", "inquiry"],
    },
    {
        "title": "预付费电表欠费后如何复电",
        "body": "缴清电费后系统自动下发复电命令，一般 10 分钟内恢复；未恢复请报修。",
        "tags": ["复电", "电费"],
        "kinds": ["inquiry", "business"],
    },
    {
        "title": "如何办理居民峰谷电价",
        "body": "携带身份证到营业厅或在 App 业务办理中申请，次月生效。不影响停电安排。",
        "tags": ["电价"],
        "kinds": ["business"],
    },
    {
        "title": "Meter display codes",
        "body": "Err-04 means the relay is open; a reconnect needs the balance above zero.",
        "tags": ["meter"],
        "kinds": [],
    },
]


async def _seed(client: AsyncTestClient, auth: Callable[[str], dict[str, str]]) -> list[int]:
    ids = []
    for a in ARTICLES:
        r = await client.post(URL, json=a, headers=auth("sup-sun"))
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    return ids


async def test_a_chinese_query_finds_the_article_that_answers_it(
    client: AsyncTestClient, desk: Desk, auth: Callable[[str], dict[str, str]]
) -> None:
    ids = await _seed(client, auth)
    r = await client.get(URL, params={"q": "恢复供电"}, headers=auth("op-zhao"))
    assert r.status_code == 200, r.text
    assert [a["id"] for a in r.json()] == [ids[0]]
    r = await client.get(URL, params={"q": "欠费 复电"}, headers=auth("op-zhao"))
    assert [a["id"] for a in r.json()] == [ids[1]]


async def test_the_title_outranks_the_body_for_the_same_term(
    client: AsyncTestClient, desk: Desk, auth: Callable[[str], dict[str, str]]
) -> None:
    ids = await _seed(client, auth)
    r = await client.get(URL, params={"q": "停电"}, headers=auth("op-zhao"))
    hits = r.json()
    assert [a["id"] for a in hits] == [ids[0], ids[2]]  # title and tag, then body only
    assert hits[0]["score"] > hits[1]["score"] > 0


async def test_one_and_two_character_terms_are_found_by_substring(
    client: AsyncTestClient, desk: Desk, auth: Callable[[str], dict[str, str]]
) -> None:
    ids = await _seed(client, auth)
    r = await client.get(URL, params={"q": "价"}, headers=auth("op-zhao"))
    assert [a["id"] for a in r.json()] == [ids[2]]
    r = await client.get(URL, params={"q": "ERR-04"}, headers=auth("op-zhao"))
    assert [a["id"] for a in r.json()] == [ids[3]]  # case-insensitive
    r = await client.get(URL, params={"q": "100%"}, headers=auth("op-zhao"))
    assert r.json() == []  # % is a character, not a wildcard


async def test_kind_keeps_the_articles_that_apply_to_it_and_those_for_every_kind(
    client: AsyncTestClient, desk: Desk, auth: Callable[[str], dict[str, str]]
) -> None:
    ids = await _seed(client, auth)
    r = await client.get(URL, params={"kind": "fault"}, headers=auth("op-zhao"))
    assert sorted(a["id"] for a in r.json()) == [ids[0], ids[3]]
    r = await client.get(URL, params={"q": "电", "kind": "business"}, headers=auth("op-zhao"))
    assert sorted(a["id"] for a in r.json()) == [ids[1], ids[2]]


async def test_empty_oversized_and_control_queries_are_refused_with_a_400(
    client: AsyncTestClient, desk: Desk, auth: Callable[[str], dict[str, str]]
) -> None:
    await _seed(client, auth)
    op = auth("op-zhao")
    for q, reason in [
        ("   ", "empty"),
        ("停" * 65, "too_long"),
        ("停电\u0007", "control"),
        ("a b c d e f", "terms"),
    ]:
        r = await client.get(URL, params={"q": q}, headers=op)
        assert r.status_code == 400, q
        assert r.json()["code"] == "error.kb_query_invalid"
        assert r.json()["params"] == {"reason": reason}
        assert r.json()["field"] == "q"
    r = await client.get(URL, params={"q": "x" * 300}, headers=op)
    assert r.status_code == 400
    assert r.json()["code"] == "error.invalid_request"


async def test_operators_search_but_only_supervisors_write_and_customers_see_nothing(
    client: AsyncTestClient, desk: Desk, auth: Callable[[str], dict[str, str]]
) -> None:
    ids = await _seed(client, auth)
    r = await client.post(URL, json=ARTICLES[0], headers=auth("op-zhao"))
    assert r.status_code == 403
    r = await client.put(
        f"{URL}/{ids[0]}", json={"version": 1, **ARTICLES[0]}, headers=auth("op-zhao")
    )
    assert r.status_code == 403
    for who in ("cust-wang", "crew-li"):
        assert (await client.get(URL, params={"q": "停电"}, headers=auth(who))).status_code == 403
        assert (await client.get(f"{URL}/{ids[0]}", headers=auth(who))).status_code == 403
    assert (await client.get(URL, params={"q": "停电"})).status_code == 401
    r = await client.get(f"{URL}/999999", headers=auth("op-zhao"))
    assert r.status_code == 404
    assert r.json()["code"] == "error.kb_article_not_found"


async def test_an_edit_is_searchable_at_once_and_a_stale_edit_is_409(
    client: AsyncTestClient, desk: Desk, auth: Callable[[str], dict[str, str]]
) -> None:
    ids = await _seed(client, auth)
    sup = auth("sup-sun")
    edit = {**ARTICLES[2], "version": 1, "title": "如何办理分时电价", "tags": ["分时电价"]}
    r = await client.put(f"{URL}/{ids[2]}", json=edit, headers=sup)
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 2
    r = await client.get(URL, params={"q": "分时电价"}, headers=auth("op-zhao"))
    assert [a["id"] for a in r.json()] == [ids[2]]
    r = await client.get(URL, params={"q": "峰谷电价"}, headers=auth("op-zhao"))
    assert r.json() == []
    r = await client.put(f"{URL}/{ids[2]}", json=edit, headers=sup)
    assert r.status_code == 409
    assert r.json()["code"] == "error.kb_article_changed"
    assert r.json()["params"]["version"] == 2


async def test_of_two_edits_at_once_over_the_same_version_exactly_one_wins(
    client: AsyncTestClient, desk: Desk, auth: Callable[[str], dict[str, str]]
) -> None:
    ids = await _seed(client, auth)
    sup = auth("sup-sun")
    bodies = [{**ARTICLES[1], "version": 1, "body": f"第 {i} 版答复内容"} for i in (1, 2)]
    results = await asyncio.gather(
        *(client.put(f"{URL}/{ids[1]}", json=b, headers=sup) for b in bodies)
    )
    assert sorted(r.status_code for r in results) == [200, 409]
    r = await client.get(f"{URL}/{ids[1]}", headers=auth("op-zhao"))
    assert r.json()["version"] == 2


async def test_an_article_body_with_unknown_fields_or_no_title_is_refused(
    client: AsyncTestClient, desk: Desk, auth: Callable[[str], dict[str, str]]
) -> None:
    sup = auth("sup-sun")
    r = await client.post(URL, json={**ARTICLES[0], "score": 99}, headers=sup)
    assert r.status_code == 400
    r = await client.post(URL, json={**ARTICLES[0], "title": ""}, headers=sup)
    assert r.status_code == 400
    r = await client.post(URL, json={**ARTICLES[0], "kinds": ["nonsense"]}, headers=sup)
    assert r.status_code == 400


async def test_the_search_index_is_fts5_trigram_on_sqlite_and_gin_trigram_on_postgresql(
    client: AsyncTestClient, desk: Desk, auth: Callable[[str], dict[str, str]], engine: AsyncEngine
) -> None:
    ids = await _seed(client, auth)
    async with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            rows = await conn.execute(
                text("SELECT rowid FROM kb_articles_fts WHERE kb_articles_fts MATCH '恢复供'")
            )
            assert [r[0] for r in rows] == [ids[0]]
        else:
            found = await conn.scalar(
                text("SELECT indexdef FROM pg_indexes WHERE indexname = :n"),
                {"n": "ix_kb_articles_search_trgm"},
            )
            assert "USING gin" in found
            assert "gin_trgm_ops" in found


async def test_the_demo_answers_are_seeded_once_and_found_by_a_chinese_query(
    engine: AsyncEngine, desk: Desk
) -> None:
    factory = session_factory(engine)
    assert await seed_articles(factory, "sup-sun") == len(DEMO)
    assert await seed_articles(factory, "sup-sun") == 0
    async with factory() as s:
        hits = await kb.search(s, "复电", None, 10)
    assert hits[0].title == "预付费电表欠费停电后如何复电"
