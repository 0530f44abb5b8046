"""OpenAPI 3.1 document built from the registered views: `@documented(...)` records schemas, apispec assembles.

Besides what a view declares, every operation documents the answers the app gives it centrally: 400 (a NUL in the
address, JSON nested too deeply), 401 (no valid credential), 404 for ids no row can have (the router), and for
operations with a body 413 (over MAX_CONTENT_LENGTH) and 422 (invalid fields).
"""

from __future__ import annotations

import re
from typing import Any, Callable, TypeVar

from apispec import APISpec
from flask import Flask
from pydantic import BaseModel
from werkzeug.routing import Rule

from ..store import MAX_ID

F = TypeVar("F", bound=Callable[..., Any])

_DOC_ATTR = "__dealpulse_openapi__"
_PATH_ARG = re.compile(r"<(?:([a-z]+)(?:\([^)]*\))?:)?([a-zA-Z_]+)>")

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}, "type": {"type": "string"}},
                "required": ["field", "message", "type"],
            },
        },
    },
    "required": ["title", "status", "detail"],
}


def documented(
    summary: str,
    *,
    tags: tuple[str, ...] = (),
    body: type[BaseModel] | None = None,
    response: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    statuses: dict[int, str] | None = None,
    public: bool = False,
) -> Callable[[F], F]:
    """Attach OpenAPI facts to a view: summary, request body/query model, response model, statuses it answers.

    `statuses` names the view's own answers; 2xx ones carry `response` (200 when none is named; 204 has no body).
    """

    def decorate(view: F) -> F:
        setattr(
            view,
            _DOC_ATTR,
            {"summary": summary, "tags": tags, "body": body, "response": response, "query": query,
             "statuses": statuses or {}, "public": public},
        )
        return view

    return decorate


def documented_path(rule: str) -> str:
    """The OpenAPI path of a Flask rule: `<int:opportunity_id>` becomes `{opportunity_id}`."""
    return _PATH_ARG.sub(lambda m: "{" + m.group(2) + "}", rule)


def _schema_ref(spec: APISpec, model: type[BaseModel], mode: str) -> dict[str, str]:
    name = model.__name__
    if name not in spec.components.schemas:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}", mode=mode)
        for def_name, definition in schema.pop("$defs", {}).items():
            if def_name not in spec.components.schemas:
                spec.components.schema(def_name, definition)
        spec.components.schema(name, schema)
    return {"$ref": f"#/components/schemas/{name}"}


def _problem_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A query parameter's schema: an absent parameter is how a query says null."""
    options = schema.get("anyOf")
    if options:
        kept = [o for o in options if o.get("type") != "null"]
        if len(kept) == 1:
            rest = {k: v for k, v in schema.items() if k not in ("anyOf", "default")}
            return {**kept[0], **rest}
    return {k: v for k, v in schema.items() if not (k == "default" and v is None)}


def _path_parameters(rule: Rule) -> list[dict[str, Any]]:
    params = []
    for converter, name in _PATH_ARG.findall(rule.rule):
        if converter == "int":
            schema: dict[str, Any] = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
        else:
            schema = {"type": "string", "pattern": "^[^/]+$"}
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
    return params


def _operation(spec: APISpec, rule: Rule, method: str, facts: dict[str, Any]) -> dict[str, Any]:
    operation: dict[str, Any] = {"summary": facts["summary"], "tags": list(facts["tags"]), "responses": {}}
    params = _path_parameters(rule)
    if facts["query"] is not None:
        qschema = facts["query"].model_json_schema()
        for name, prop in qschema.get("properties", {}).items():
            params.append({"name": name, "in": "query", "required": name in qschema.get("required", []),
                           "schema": _without_null(prop)})
    if params:
        operation["parameters"] = params
    has_body = facts["body"] is not None and method in ("POST", "PUT", "PATCH")
    if has_body:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _schema_ref(spec, facts["body"], "validation")}},
        }
    statuses: dict[int, str] = facts["statuses"]
    success = {s: d for s, d in statuses.items() if s < 300} or {200: "OK"}
    for status, description in sorted(success.items()):
        answer: dict[str, Any] = {"description": description}
        if status != 204:
            schema = _schema_ref(spec, facts["response"], "serialization") if facts["response"] else {"type": "object"}
            answer["content"] = {"application/json": {"schema": schema}}
        operation["responses"][str(status)] = answer
    central = {400: "a NUL character in the address, or JSON nested too deeply"}
    if any(p["in"] == "path" and p["schema"]["type"] == "integer" for p in params):
        central[404] = "no such object, or not one you may see"
    if has_body:
        central[413] = "the body is larger than the server accepts"
    if has_body or facts["query"] is not None:
        central[422] = "invalid fields; `errors` names each"
    if not facts["public"]:
        operation["security"] = [{"bearer": []}]
        central[401] = "missing, forged, expired or revoked credential"
    for status, description in sorted({**central, **{s: d for s, d in statuses.items() if s >= 300}}.items()):
        operation["responses"][str(status)] = _problem_response(description)
    return operation


def build_openapi(app: Flask, title: str = "DealPulse API", version: str = "1") -> dict[str, Any]:
    """The OpenAPI document for every documented view of `app`."""
    spec = APISpec(title=title, version=version, openapi_version="3.1.0")
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    spec.components.schema("Problem", PROBLEM_SCHEMA)
    paths: dict[str, dict[str, Any]] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        facts = getattr(app.view_functions.get(rule.endpoint), _DOC_ATTR, None)
        if facts is None:
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            paths.setdefault(documented_path(rule.rule), {})[method.lower()] = _operation(spec, rule, method, facts)
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()
