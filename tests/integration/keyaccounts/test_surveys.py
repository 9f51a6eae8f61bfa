"""Surveys over HTTP: a question bank, a questionnaire per segment, answers in the app and by
phone (each once, retry-safe), scoping, and the satisfaction index per group."""

from __future__ import annotations

import uuid

from tests.integration.api.conftest import Api

S = "/api/key-accounts/surveys"


async def make_questionnaire(api: Api, abc: list[str] | None = None) -> tuple[int, int, int]:
    sup = await api.login("sup")
    q1 = await api.client.post(
        f"{S}/questions",
        headers=sup,
        json={"text_zh": "供电可靠吗？", "text_en": "Is supply reliable?", "kind": "score"},
    )
    q2 = await api.client.post(
        f"{S}/questions",
        headers=sup,
        json={"text_zh": "您的建议", "text_en": "Your suggestions", "kind": "text"},
    )
    assert q1.status_code == 201, q1.text
    body = {"title": "2026 年度满意度调查", "question_ids": [q1.json()["id"], q2.json()["id"]]}
    if abc is not None:
        body["abc_classes"] = abc
    qn = await api.client.post(f"{S}/questionnaires", headers=sup, json=body)
    assert qn.status_code == 201, qn.text
    return qn.json()["id"], q1.json()["id"], q2.json()["id"]


async def test_a_customer_answers_once_in_the_app_and_a_manager_by_phone(api: Api) -> None:
    qn, q1, q2 = await make_questionnaire(api)
    alice = await api.login("alice")
    listed = (await api.client.get(f"{S}/questionnaires", headers=alice)).json()
    assert [q["id"] for q in listed] == [qn]
    body = {"client_id": str(uuid.uuid4()), "answers": {str(q1): 4, str(q2): "很好"}}
    first = await api.client.post(f"{S}/questionnaires/{qn}/responses", json=body, headers=alice)
    again = await api.client.post(f"{S}/questionnaires/{qn}/responses", json=body, headers=alice)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["channel"] == "app"
    assert first.json()["satisfaction"] == 75.0
    assert (await api.client.get(f"{S}/questionnaires", headers=alice)).json() == []
    other = {**body, "client_id": str(uuid.uuid4())}
    twice = await api.client.post(f"{S}/questionnaires/{qn}/responses", json=other, headers=alice)
    assert twice.status_code == 409
    # the grid's manager takes Bob's answers by phone? Not his customer: 404
    insp1 = await api.login("insp1")
    phone = {"client_id": str(uuid.uuid4()), "customer_id": api.world.bob, "answers": {str(q1): 5}}
    r = await api.client.post(f"{S}/questionnaires/{qn}/responses", json=phone, headers=insp1)
    assert r.status_code == 404
    insp2 = await api.login("insp2")
    r = await api.client.post(f"{S}/questionnaires/{qn}/responses", json=phone, headers=insp2)
    assert r.status_code == 201, r.text
    assert r.json()["channel"] == "phone"
    # results: the back office sees both, each manager their own
    sup = await api.login("sup")
    res = (
        await api.client.get(f"{S}/questionnaires/{qn}/results?group_by=grid", headers=sup)
    ).json()
    assert res["responses"] == 2
    assert res["satisfaction"] == 87.5
    assert [(g["key"], g["satisfaction"]) for g in res["groups"]] == [
        (str(api.world.grid1), 75.0),
        (str(api.world.grid2), 100.0),
    ]
    mine = (
        await api.client.get(f"{S}/questionnaires/{qn}/results?group_by=manager", headers=insp1)
    ).json()
    assert mine["responses"] == 1
    assert [g["key"] for g in mine["groups"]] == [str(api.world.users["insp1"])]


async def test_answers_are_checked_against_the_questions(api: Api) -> None:
    qn, q1, q2 = await make_questionnaire(api)
    alice = await api.login("alice")
    path = f"{S}/questionnaires/{qn}/responses"
    for answers in (
        {str(q1): 6},
        {str(q1): 0},
        {str(q1): "5"},
        {str(q2): "no score"},
        {str(q1): 3, "999": 1},
        {str(q1): 3, str(q2): 4},
    ):
        r = await api.client.post(
            path, json={"client_id": str(uuid.uuid4()), "answers": answers}, headers=alice
        )
        assert r.status_code == 400, answers


async def test_a_questionnaire_for_class_a_is_not_offered_to_others(api: Api) -> None:
    qn, q1, _ = await make_questionnaire(api, abc=["A"])
    alice = await api.login("alice")
    assert (await api.client.get(f"{S}/questionnaires", headers=alice)).json() == []
    r = await api.client.post(
        f"{S}/questionnaires/{qn}/responses",
        headers=alice,
        json={"client_id": str(uuid.uuid4()), "answers": {str(q1): 5}},
    )
    assert r.status_code == 404


async def test_only_the_back_office_writes_the_bank(api: Api) -> None:
    insp1, alice = await api.login("insp1"), await api.login("alice")
    body = {"text_zh": "x", "text_en": "x", "kind": "score"}
    assert (await api.client.post(f"{S}/questions", json=body, headers=insp1)).status_code == 403
    assert (await api.client.get(f"{S}/questions", headers=alice)).status_code == 403
    sup = await api.login("sup")
    r = await api.client.post(
        f"{S}/questionnaires", headers=sup, json={"title": "t", "question_ids": [12345]}
    )
    assert r.status_code == 400


async def test_results_show_each_question_and_each_customer_of_the_callers_portfolio(
    api: Api,
) -> None:
    qn, q1, q2 = await make_questionnaire(api)
    alice = await api.login("alice")
    body = {"client_id": str(uuid.uuid4()), "answers": {str(q1): 4, str(q2): " 很好 "}}
    r = await api.client.post(f"{S}/questionnaires/{qn}/responses", json=body, headers=alice)
    assert r.status_code == 201, r.text
    insp2 = await api.login("insp2")
    phone = {"client_id": str(uuid.uuid4()), "customer_id": api.world.bob, "answers": {str(q1): 2}}
    r = await api.client.post(f"{S}/questionnaires/{qn}/responses", json=phone, headers=insp2)
    assert r.status_code == 201, r.text
    sup = await api.login("sup")
    res = (await api.client.get(f"{S}/questionnaires/{qn}/results", headers=sup)).json()
    score, text = res["questions"]
    assert (score["question_id"], score["kind"], score["answered"]) == (q1, "score", 2)
    assert score["scores"] == [0, 1, 0, 1, 0]
    assert score["satisfaction"] == 50.0  # (25 + 75) / 2
    assert (text["question_id"], text["answered"], text["texts"]) == (q2, 1, ["很好"])
    # lowest index first: whom to call back
    assert [(c["number"], c["channel"], c["satisfaction"]) for c in res["customers"]] == [
        ("C002", "phone", 25.0),
        ("C001", "app", 75.0),
    ]
    insp1 = await api.login("insp1")
    mine = (await api.client.get(f"{S}/questionnaires/{qn}/results", headers=insp1)).json()
    assert [c["number"] for c in mine["customers"]] == ["C001"]  # not bob: another's customer
    assert mine["questions"][0]["scores"] == [0, 0, 0, 1, 0]
    assert mine["questions"][1]["texts"] == ["很好"]
