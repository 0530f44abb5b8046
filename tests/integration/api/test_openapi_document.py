"""The OpenAPI document is complete and true (issue #12 finding 11): every /api/v1 route is in it and every
documented operation exists, its schemas are valid JSON Schema, the statuses a route answers are listed, and a field
the document calls nullable is one the server accepts as null (and the reverse); every JSON answer has a real schema,
versioned writes document If-Match, ETag and 409/412/428, and quotas document 429 with Retry-After."""

from __future__ import annotations

import dataclasses
import itertools
import re
from datetime import date, timedelta

import pytest
from jsonschema import Draft202012Validator
from sqlalchemy import select

from dealpulse import runtime
from dealpulse.app import create_app
from dealpulse.store import ActionItem, Activity, Review, Stage, Team
from tests.integration.sidebar.support import Inbox

FLASK_ARG = re.compile(r"<(?:[a-z]+(?:\([^)]*\))?:)?([a-zA-Z_]+)>")


@pytest.fixture
def document(client) -> dict:
    """The served document."""
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def test_every_api_route_is_documented_and_every_documented_operation_exists(app, document):
    routes = {
        (method, FLASK_ARG.sub(r"{\1}", rule.rule))
        for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/v1/")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    documented = {(method.upper(), path) for path, methods in document["paths"].items() for method in methods}
    assert routes - documented == set(), "routes missing from the document"
    assert documented - routes == set(), "documented operations that do not exist"
    assert len(routes) >= 35


def test_every_schema_in_the_document_is_valid_json_schema(document):
    for name, schema in document["components"]["schemas"].items():
        Draft202012Validator.check_schema(schema)
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            for parameter in operation.get("parameters", []):
                Draft202012Validator.check_schema(parameter["schema"])


@pytest.mark.parametrize("method, path, statuses", [
    ("post", "/api/v1/opportunities", {"201", "400", "401", "413", "422"}),
    ("patch", "/api/v1/opportunities/{opportunity_id}", {"200", "404", "409", "412", "422", "428"}),
    ("put", "/api/v1/opportunities/{opportunity_id}/exit-answers", {"200", "409", "412", "428"}),
    ("put", "/api/v1/stages/{key}", {"200", "201", "403", "422"}),
    ("delete", "/api/v1/stages/{key}", {"204", "403", "404", "409"}),
    ("post", "/api/v1/activities/{activity_id}/notes", {"201", "403", "404"}),
    ("post", "/api/v1/admin/models/train", {"202", "401", "403"}),
    ("post", "/api/v1/sentiment/score", {"200", "413", "422", "503"}),
    ("get", "/api/v1/mailboxes", {"200", "401"}),
])
def test_the_statuses_a_route_answers_are_documented(document, method, path, statuses):
    responses = document["paths"][path][method]["responses"]
    assert statuses <= set(responses)
    assert "content" not in responses.get("204", {})


def _allows_null(schema: dict, components: dict) -> bool:
    if "$ref" in schema:
        return _allows_null(components[schema["$ref"].rsplit("/", 1)[-1]], components)
    if schema.get("type") == "null":
        return True
    return any(_allows_null(option, components) for option in schema.get("anyOf", []))


def test_a_null_is_accepted_exactly_where_the_document_allows_it(client, world, document):
    """Each field of an opportunity change, sent as null: 200 where the document allows null, 422 elsewhere."""
    components = document["components"]["schemas"]
    fields = components["OpportunityUpdate"]["properties"]
    url = f"/api/v1/opportunities/{world.opportunities['a1_acme']}"
    for field, schema in fields.items():
        if field == "version":
            continue
        current = client.get(url, headers=world.auth("rep.a1"))
        response = client.patch(url, json={field: None}, headers={**world.auth("rep.a1"), "If-Match": current.headers["ETag"]})
        expected = 200 if _allows_null(schema, components) else 422
        assert response.status_code == expected, (field, response.get_json())
    assert not _allows_null(fields["name"], components) and _allows_null(fields["close_date"], components)


def _body_validator(document: dict, operation: dict) -> Draft202012Validator:
    """A validator of the operation's request body as the document states it ($refs resolved in the document)."""
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    return Draft202012Validator({**schema, "components": document["components"]})


def _etag(client, path: str, headers: dict) -> dict:
    """If-Match with the current version of the object a write to `path` changes (the nearest path with an ETag)."""
    parts = path.split("/")
    while len(parts) > 3:
        answer = client.get("/".join(parts), headers=headers)
        if answer.status_code == 200 and answer.headers.get("ETag"):
            return {"If-Match": answer.headers["ETag"]}
        parts.pop()
    return {}


@pytest.fixture
def writable(db, world) -> dict[tuple[str, str], tuple[str, str, dict]]:
    """Every PATCH/PUT operation with a body: (who sends it, the real path, a body the server accepts)."""
    inbox = Inbox(db, world)
    email = inbox.email("rep.a1", opportunity="a1_acme", thread_key="thread-nulls")
    meeting = inbox.email("rep.a1", opportunity="a1_acme", days_ago=2)
    with db.uow() as uow:
        held = uow.s.get(Activity, meeting.activity_id)
        held.kind, held.ends_at = "meeting", held.occurred_at + timedelta(hours=1)
        review = Review(org_id=world.org_id, rep_id=world.users["rep.a1"], held_by_id=world.users["manager.a"], agenda={})
        uow.s.add(review)
        uow.s.flush()
        item = ActionItem(org_id=world.org_id, opportunity_id=world.opportunities["a1_acme"], review_id=review.id,
                          obstacle="Legal review", owner_kind="rep", due_date=date(2026, 1, 5), priority="high")
        uow.s.add(item)
        team = uow.s.scalar(select(Team.id).where(Team.org_id == world.org_id).order_by(Team.id))
        uow.commit()
        item_id = item.id
    opp, contact = world.opportunities["a1_acme"], world.contacts["buyer@acme.test.example"]
    return {
        ("patch", "/api/v1/action-items/{item_id}"): ("manager.a", f"/api/v1/action-items/{item_id}", {}),
        ("put", "/api/v1/activities/{activity_id}/outcome"):
            ("rep.a1", f"/api/v1/activities/{meeting.activity_id}/outcome", {"outcome": "positive"}),
        ("put", "/api/v1/activities/{activity_id}/rating"):
            ("rep.a1", f"/api/v1/activities/{email.activity_id}/rating", {"label": "positive"}),
        ("patch", "/api/v1/admin/organisation"): ("admin", "/api/v1/admin/organisation", {}),
        ("patch", "/api/v1/admin/teams/{team_id}"): ("admin", f"/api/v1/admin/teams/{team}", {}),
        ("patch", "/api/v1/admin/users/{user_id}"): ("admin", f"/api/v1/admin/users/{world.users['rep.a2']}", {}),
        ("patch", "/api/v1/opportunities/{opportunity_id}"): ("rep.a1", f"/api/v1/opportunities/{opp}", {}),
        ("put", "/api/v1/opportunities/{opportunity_id}/buying-team/{contact_id}"):
            ("rep.a1", f"/api/v1/opportunities/{opp}/buying-team/{contact}", {"role": "champion"}),
        ("put", "/api/v1/opportunities/{opportunity_id}/exit-answers"):
            ("rep.a1", f"/api/v1/opportunities/{opp}/exit-answers", {"answers": {}}),
        ("put", "/api/v1/stages/{key}"):
            ("admin", "/api/v1/stages/nulls", {"name": "Nulls", "position": 50, "probability": 0, "is_closed": True}),
        ("put", "/api/v1/threads/link"): ("rep.a1", "/api/v1/threads/link", {"thread_key": "thread-nulls", "opportunity_id": opp}),
        ("put", "/api/v1/threads/private"): ("rep.a1", "/api/v1/threads/private", {"thread_key": "thread-nulls", "is_private": True}),
    }


def test_every_change_takes_a_null_exactly_where_the_document_allows_it(client, world, document, writable):
    """Every PATCH/PUT body field in turn sent as null (over a body the server accepts): a 2xx where the document
    allows the body, a 422 naming that field where it does not."""
    changes = {(m, p): op for m, p, op in _operations(document) if m in ("patch", "put") and "requestBody" in op}
    assert set(changes) == set(writable), "a new PATCH/PUT: add a body the server accepts to `writable`"
    disagreements = []
    for (method, path), operation in sorted(changes.items()):
        who, url, base = writable[(method, path)]
        headers = world.auth(who)
        validator = _body_validator(document, operation)
        assert validator.is_valid(base), (path, base)
        fields = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
        for field in document["components"]["schemas"][fields]["properties"]:
            if field == "version":
                continue
            body = {**base, field: None}
            answer = getattr(client, method)(url, json=body, headers={**headers, **_etag(client, url, headers)})
            allowed = validator.is_valid(body)
            named = {e["field"] for e in (answer.get_json() or {}).get("errors", [])} if answer.status_code == 422 else set()
            if (200 <= answer.status_code < 300) != allowed or (not allowed and field not in named):
                disagreements.append(f"{method.upper()} {path} {field}=null: document {'allows' if allowed else 'refuses'}, "
                                     f"server {answer.status_code} {answer.get_json()}")
    assert disagreements == [], "\n".join(disagreements)


@pytest.mark.parametrize("is_closed, is_won", list(itertools.product([True, False, None], repeat=2)))
def test_a_stage_the_document_allows_is_one_the_server_stores(client, world, document, db, is_closed, is_won):
    """Open stages have two or three exit questions, closed ones none, won ones are closed: the document's schema
    says so, and every body it allows the server stores (every other is a 422 that changes nothing)."""
    validator = _body_validator(document, document["paths"]["/api/v1/stages/{key}"]["put"])
    for n in range(4):
        body = {"name": f"Stage {n}", "position": 40 + n, "probability": 10,
                "exit_questions": [{"key": f"q{i}", "text": f"Question {i}?"} for i in range(n)]}
        body.update({k: v for k, v in (("is_closed", is_closed), ("is_won", is_won)) if v is not None})
        key = f"s_{is_closed}_{is_won}_{n}".lower()
        answer = client.put(f"/api/v1/stages/{key}", json=body, headers=world.auth("admin"))
        assert answer.status_code == (201 if validator.is_valid(body) else 422), (body, answer.get_json())
        with db.uow() as uow:
            stored = uow.s.scalar(select(Stage.key).where(Stage.org_id == world.org_id, Stage.key == key))
        assert (stored is not None) == validator.is_valid(body)
    assert validator.is_valid({"name": "Won", "position": 1, "probability": 100, "is_closed": True, "is_won": True})


VERSIONED_WRITES = {
    ("patch", "/api/v1/opportunities/{opportunity_id}"),
    ("put", "/api/v1/opportunities/{opportunity_id}/exit-answers"),
    ("put", "/api/v1/opportunities/{opportunity_id}/buying-team/{contact_id}"),
    ("post", "/api/v1/opportunities/{opportunity_id}/buying-team"),
    ("post", "/api/v1/opportunities/{opportunity_id}/suggestions/accept"),
    ("patch", "/api/v1/admin/organisation"),
    ("patch", "/api/v1/admin/users/{user_id}"),
    ("patch", "/api/v1/admin/teams/{team_id}"),
}


def _operations(document):
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            yield method, path, operation


def test_version_guarded_writes_document_if_match_the_etag_and_their_precondition_answers(document):
    takes_if_match = {(m, p) for m, p, op in _operations(document)
                      if any(q["in"] == "header" and q["name"] == "If-Match" for q in op.get("parameters", []))}
    assert takes_if_match == VERSIONED_WRITES
    for method, path in VERSIONED_WRITES:
        responses = document["paths"][path][method]["responses"]
        assert {"200", "409", "412", "428"} <= set(responses), (method, path)
        assert responses["200"]["headers"]["ETag"]["required"] and responses["412"]["headers"]["ETag"]["required"]
        assert "ETag" in responses["409"]["headers"]  # a stale body version; other conflicts carry none


def test_a_documented_etag_is_the_one_the_server_sends(client, world, document):
    opp = world.opportunities["a1_acme"]
    headers = world.auth("rep.a1")
    read = client.get(f"/api/v1/opportunities/{opp}", headers=headers)
    pattern = document["paths"]["/api/v1/opportunities/{opportunity_id}"]["get"]["responses"]["200"]["headers"]["ETag"]
    assert re.fullmatch(pattern["schema"]["pattern"].strip("^$"), read.headers["ETag"])
    stale = client.patch(f"/api/v1/opportunities/{opp}", json={"next_step": "Pilot"}, headers={**headers, "If-Match": '"999"'})
    assert stale.status_code == 412 and stale.headers["ETag"] == read.headers["ETag"]
    missing = client.patch(f"/api/v1/opportunities/{opp}", json={"next_step": "Pilot"}, headers=headers)
    assert missing.status_code == 428


def test_every_json_answer_has_a_real_schema(document):
    """No 2xx answer of an /api/v1 route is documented as just "a JSON object" (the document itself aside)."""
    bare = [(m, p, s) for m, p, op in _operations(document) if p != "/api/v1/openapi.json"
            for s, answer in op["responses"].items() if s.startswith("2")
            if answer.get("content", {}).get("application/json", {}).get("schema") == {"type": "object"}]
    assert bare == []


def test_strings_the_document_allows_exclude_the_nul_the_server_refuses(document):
    components = document["components"]["schemas"]
    for name in ("OpportunityCreate", "ThreadLinkIn", "BuyingTeamAdd", "NoteIn"):
        for field, schema in components[name]["properties"].items():
            for option in schema.get("anyOf", [schema]):
                if option.get("type") == "string" and not {"format", "enum"} & set(option):
                    assert not re.search(option["pattern"], "a\x00b"), (name, field)


@pytest.fixture
def limited_client(settings, db, world):
    """A client of an app with request quotas on: one API request per minute per credential."""
    runtime._databases[db.url] = db
    yield create_app(dataclasses.replace(settings, rate_limits="on", rate_limit_api="1 per minute")).test_client()
    runtime._databases.pop(db.url, None)


@pytest.mark.parametrize("path", ["/api/v1/me", "/api/v1/admin/organisation", "/api/v1/mailboxes",
                                  "/api/v1/threads/needs-deal", "/api/v1/admin/models"])
def test_over_the_quota_the_answer_is_the_documented_429_with_retry_after(limited_client, world, document, path):
    headers = world.auth("admin")
    assert limited_client.get(path, headers=headers).status_code == 200
    over = limited_client.get(path, headers=headers)
    assert over.status_code == 429
    documented = document["paths"][path]["get"]["responses"]["429"]
    assert re.fullmatch(documented["headers"]["Retry-After"]["schema"]["pattern"].strip("^$"), over.headers["Retry-After"])
    assert int(over.headers["Retry-After"]) > 0 and over.get_json()["status"] == 429


def test_every_rate_limited_operation_documents_429(document):
    """The API blueprints all have a quota, so every /api/v1 operation lists 429 with Retry-After."""
    for method, path, operation in _operations(document):
        assert "Retry-After" in operation["responses"]["429"]["headers"], (method, path)
