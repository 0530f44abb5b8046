"""Hostile input gets a clear 4xx JSON problem and changes nothing (issue #12 finding 9): huge ids, deep JSON,
lone surrogates, NUL bytes, Flask's reserved `_method` argument. Each case answered 500 before."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest
from sqlalchemy import func, select

from dealpulse.store import ActivityNote, Opportunity
from tests.integration.sidebar.support import Inbox

BIG = 2**63  # one past the largest 64-bit integer (ids are 32-bit INTEGER columns: 2**31 already fails on PostgreSQL)
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def assert_problem(response, statuses=(400, 404, 422)) -> dict:
    """The answer is a JSON problem with a 4xx status."""
    assert response.status_code in statuses, (response.status_code, response.get_data(as_text=True)[:300])
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == response.status_code and body["detail"]
    return body


def snapshot(db) -> tuple:
    """What a bad request must leave untouched: every opportunity row and the number of notes."""
    with db.uow() as uow:
        opps = tuple(uow.s.execute(select(Opportunity.id, Opportunity.name, Opportunity.version, Opportunity.next_step)
                                   .order_by(Opportunity.id)).all())
        notes = uow.s.scalar(select(func.count()).select_from(ActivityNote))
    return opps, notes


# ---------------------------------------------------------------- ids >= 2^63


def test_ids_beyond_the_id_column_in_paths_are_not_found(client, world):
    for big in (2**31, BIG, 2**64 + 5, "9" * 5000):
        for path in (f"/api/v1/opportunities/{big}", f"/api/v1/opportunities/{big}/history",
                     f"/api/v1/opportunities/{big}/health", f"/api/v1/opportunities/{big}/activities",
                     f"/api/v1/activities/{big}", f"/api/v1/admin/models/runs/{big}"):
            assert_problem(client.get(path, headers=world.auth("admin")), statuses=(404,))


def test_ids_beyond_64_bits_in_write_paths_change_nothing(client, db, world):
    before = snapshot(db)
    opp = world.opportunities["a1_acme"]
    for method, path, body in [
        ("PUT", f"/api/v1/opportunities/{opp}/buying-team/{BIG}", {"version": 1, "role": "champion"}),
        ("POST", f"/api/v1/alerts/{BIG}/acknowledge", None),
        ("POST", f"/api/v1/activities/{BIG}/notes", {"text": "hello"}),
        ("PUT", f"/api/v1/activities/{BIG}/rating", {"label": "positive"}),
        ("PATCH", "/api/v1/opportunities/0", {"version": 1, "next_step": "x"}),  # was 405 "method not allowed"
        ("PATCH", f"/api/v1/opportunities/{2**31}", {"version": 1, "next_step": "x"}),
    ]:
        assert_problem(client.open(path, method=method, json=body, headers=world.auth("rep.a1")), statuses=(404,))
    assert snapshot(db) == before


@pytest.mark.parametrize("method, path, body", [
    ("POST", "/api/v1/opportunities", {"name": "Big", "account_id": "BIG", "stage": "qualification"}),
    ("POST", "/api/v1/opportunities", {"name": "Big", "account_id": 1, "stage": "qualification", "owner_id": "BIG"}),
    ("PATCH", "/api/v1/opportunities/{opp}", {"version": "BIG", "next_step": "x"}),
    ("PATCH", "/api/v1/opportunities/{opp}", {"version": 1, "account_id": "BIG"}),
    ("PATCH", "/api/v1/opportunities/{opp}", {"version": 1, "owner_id": "BIG"}),
    ("PUT", "/api/v1/opportunities/{opp}/exit-answers", {"version": "BIG", "answers": {}}),
    ("PUT", "/api/v1/threads/link", {"thread_key": "t1", "opportunity_id": "BIG"}),
    ("POST", "/api/v1/threads/opportunity", {"thread_key": "t1", "name": "Big", "account_id": "BIG", "stage": "qualification"}),
    ("POST", "/api/v1/threads/opportunity", {"thread_key": "t1", "name": "Big", "account_id": 1, "stage": "qualification",
                                             "contact_id": "BIG"}),
])
def test_ids_beyond_the_id_column_in_bodies_are_invalid_and_change_nothing(client, db, world, method, path, body):
    before = snapshot(db)
    path = path.format(opp=world.opportunities["a1_acme"])
    for big in (2**31, BIG, -BIG - 1):
        sent = {k: (big if v == "BIG" else v) for k, v in body.items()}
        problem = assert_problem(client.open(path, method=method, json=sent, headers=world.auth("manager.a")),
                                 statuses=(422,))
        assert problem["errors"], problem
    assert snapshot(db) == before


def test_ids_beyond_the_id_column_in_queries_are_422(client, world):
    for big in (2**31, BIG):
        for query in (f"/api/v1/opportunities?owner_id={big}", f"/api/v1/opportunities?account_id={big}",
                      f"/api/v1/opportunities?offset={big}", f"/api/v1/alerts?opportunity_id={big}",
                      f"/api/v1/alerts?owner_id={big}", f"/api/v1/review-agenda?rep_id={big}"):
            assert_problem(client.get(query, headers=world.auth("admin")), statuses=(422,))


# ---------------------------------------------------------------- deep JSON


def deep(levels: int) -> str:
    """A JSON document nested `levels` arrays deep (about 2 bytes a level)."""
    return "[" * levels + "]" * levels


@pytest.mark.parametrize("path, method, template", [
    ("/api/v1/opportunities/{opp}/exit-answers", "PUT", '{{"version": 1, "answers": {{"clear_use_case": {deep}}}}}'),
    ("/api/v1/opportunities/{opp}", "PATCH", '{{"version": 1, "next_step": {deep}}}'),
    ("/api/v1/context", "POST", '{{"from": "buyer@acme.test.example", "to": {deep}}}'),
    ("/api/v1/sentiment/score", "POST", '{{"text": {deep}}}'),
    ("/api/v1/opportunities", "POST", "{deep}"),
])
def test_json_nested_a_thousand_levels_is_a_clear_400(client, db, world, path, method, template):
    before = snapshot(db)
    body = template.format(deep=deep(1000))
    assert len(body) < 2100
    response = client.open(path.format(opp=world.opportunities["a1_acme"]), method=method, data=body,
                           content_type="application/json", headers=world.auth("rep.a1"))
    problem = assert_problem(response, statuses=(400,))
    assert "nested" in problem["detail"]
    assert snapshot(db) == before


def test_json_nested_like_real_requests_still_parses(client, world):
    body = {"version": 1, "answers": {"clear_use_case": True}}
    response = client.put(f"/api/v1/opportunities/{world.opportunities['a1_acme']}/exit-answers", json=body,
                          headers=world.auth("rep.a1"))
    assert response.status_code == 200


# ---------------------------------------------------------------- lone surrogates and NUL bytes


def raw_json(payload: dict, bad: str) -> str:
    """`payload` as JSON with the placeholder "BAD" replaced by the escape sequence `bad` (e.g. \\ud800)."""
    return json.dumps(payload).replace("BAD", bad)


TEXT_FIELDS = [
    ("POST", "/api/v1/activities/{activity}/notes", {"text": "hello BAD"}, "text"),
    ("PUT", "/api/v1/activities/{activity}/rating", {"label": "negative", "note": "BAD"}, "note"),
    ("PATCH", "/api/v1/opportunities/{opp}", {"version": 1, "next_step": "Call BAD"}, "next_step"),
    ("PATCH", "/api/v1/opportunities/{opp}", {"version": 1, "name": "Acme BAD"}, "name"),
    ("POST", "/api/v1/opportunities", {"name": "New BAD", "account_id": "{account}", "stage": "qualification"}, "name"),
    ("POST", "/api/v1/context", {"from": "buyer@acme.test.example", "subject": "Re: BAD", "body": "Hi BAD"}, "subject"),
    ("PUT", "/api/v1/threads/private", {"thread_key": "thread-BAD", "is_private": True}, "thread_key"),
    ("POST", "/api/v1/sentiment/score", {"text": "We are furious BAD"}, "text"),
    ("PUT", "/api/v1/opportunities/{opp}/exit-answers", {"version": 1, "answers": {"BAD": True}}, "answers"),
]


@pytest.fixture
def activity(db, world) -> int:
    """An inbound email captured by rep.a1 on the a1_acme deal."""
    return Inbox(db, world).email("rep.a1", opportunity="a1_acme", thread_key="thread-1").activity_id


@pytest.mark.parametrize("method, path, payload, field", TEXT_FIELDS, ids=[f"{m} {p} {f}" for m, p, _, f in TEXT_FIELDS])
def test_unencodable_text_is_a_422_naming_the_field_and_changes_nothing(client, db, world, activity, method, path,
                                                                         payload, field):
    before = snapshot(db)
    payload = {k: (world.accounts["acme"] if v == "{account}" else v) for k, v in payload.items()}
    url = path.format(opp=world.opportunities["a1_acme"], activity=activity)
    for bad in ("\\ud800", "\\udfff\\ud800", "\\u0000"):  # a lone surrogate, a reversed pair, NUL
        response = client.open(url, method=method, data=raw_json(payload, bad), content_type="application/json",
                               headers=world.auth("rep.a1"))
        problem = assert_problem(response, statuses=(422,))
        assert field in {e["field"].split(".")[0] for e in problem["errors"]}, problem
    assert snapshot(db) == before


def test_surrogate_pairs_are_ordinary_text(client, db, world, activity):
    response = client.post(f"/api/v1/activities/{activity}/notes", data='{"text": "deal \\ud83d\\ude00"}',
                           content_type="application/json", headers=world.auth("rep.a1"))
    assert response.status_code == 201
    assert response.get_json()["text"] == "deal \U0001f600"


@pytest.mark.parametrize("url", [
    "/api/v1/opportunities?q=%00",
    "/api/v1/opportunities?stage=demo%00",
    "/api/v1/stages/demo%00",
    "/api/v1/alerts?state=open%00",
])
def test_nul_bytes_in_urls_are_clear_errors(client, world, url):
    for method in ("GET", "DELETE") if "/stages/" in url else ("GET",):
        assert_problem(client.open(url, method=method, headers=world.auth("admin")), statuses=(400, 404, 405, 422))


def test_nul_bytes_in_a_stage_key_delete_nothing(client, db, world):
    assert_problem(client.delete("/api/v1/stages/closed_lost%00", headers=world.auth("admin")), statuses=(400, 404))
    keys = [s["key"] for s in client.get("/api/v1/stages", headers=world.auth("admin")).get_json()["items"]]
    assert "closed_lost" in keys


# ---------------------------------------------------------------- the dashboard's reserved query arguments


@pytest.fixture
def demo_settings(settings):
    """Demo mode on: the sign-in picker exists."""
    return dataclasses.replace(settings, demo=True)


@pytest.fixture
def signed_in(app, client, world, demo_settings):
    """A dashboard client signed in as manager.a."""
    app.extensions["dealpulse.settings"] = demo_settings
    page = client.get("/signin/demo")
    token = CSRF.search(page.get_data(as_text=True)).group(1)
    assert client.post("/signin/demo", data={"csrf_token": token, "user_id": world.users["manager.a"]}).status_code == 302
    return client


@pytest.mark.parametrize("query", ["_method=PUT", "_external=1", "_anchor=x", "_scheme=javascript", "_method=PUT&sort=amount"])
def test_flask_reserved_arguments_on_the_dashboard_are_ignored(signed_in, query):
    response = signed_in.get(f"/dashboard/?{query}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "_method" not in page and "javascript:" not in page


@pytest.mark.parametrize("path", [f"/dashboard/deals/{BIG}", f"/dashboard/?owner={BIG}", f"/dashboard/agenda?rep={BIG}",
                                  "/dashboard/?q=%00", "/dashboard/?stage=%00"])
def test_the_dashboard_answers_bad_ids_and_nul_bytes_with_a_page_not_a_500(signed_in, path):
    response = signed_in.get(path)
    assert 400 <= response.status_code < 500, response.status_code
