"""The OpenAPI document is complete and true (issue #12 finding 11): every /api/v1 route is in it and every
documented operation exists, its schemas are valid JSON Schema, the statuses a route answers are listed, and a field
the document calls nullable is one the server accepts as null (and the reverse)."""

from __future__ import annotations

import re

import pytest
from jsonschema import Draft202012Validator

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
