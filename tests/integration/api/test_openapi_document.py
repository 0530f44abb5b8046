"""The OpenAPI document is complete and true (issue #12 finding 11): every /api/v1 route is in it and every
documented operation exists, its schemas are valid JSON Schema, the statuses a route answers are listed, and a field
the document calls nullable is one the server accepts as null (and the reverse); every JSON answer has a real schema,
versioned writes document If-Match, ETag and 409/412/428, and quotas document 429 with Retry-After."""

from __future__ import annotations

import dataclasses
import re

import pytest
from jsonschema import Draft202012Validator

from dealpulse import runtime
from dealpulse.app import create_app

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
