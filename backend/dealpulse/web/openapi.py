"""OpenAPI 3.1 document built from the registered views: `@documented(...)` records schemas, apispec assembles.

Besides what a view declares, every operation documents the answers the app gives it centrally: 400 (a NUL in the
address, JSON nested too deeply), 401 (no valid credential), 404 for ids no row can have (the router), for
operations with a body 413 (over MAX_CONTENT_LENGTH) and 422 (invalid fields), and 429 with Retry-After where a
request quota applies (`web.rate_limits`). Versioned writes (`versioned=True`) take an optional If-Match header and
answer 409/412 with the current state and its ETag, 428 when no version was sent; views that return an object's
version (`etag=True`, implied by `versioned`) send it as the ETag header of their 2xx answers.
"""

from __future__ import annotations

import re
from typing import Any, Callable, TypeVar

from apispec import APISpec
from flask import Flask
from pydantic import BaseModel
from werkzeug.routing import Rule

from ..store import MAX_ID
from .rate_limits import LIMITED_BLUEPRINTS

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

NO_NUL = "^[^\\u0000]*$"
ETAG_HEADER: dict[str, Any] = {
    "description": "the object's version, to send back as If-Match with a change",
    "required": True,
    "schema": {"type": "string", "pattern": '^"[0-9]+"$'},
}
STALE_ETAG_HEADER: dict[str, Any] = {**ETAG_HEADER, "required": False,
                                     "description": "the current version, when the answer is about a stale version"}
RETRY_AFTER_HEADER: dict[str, Any] = {
    "description": "seconds to wait before trying again",
    "required": True,
    "schema": {"type": "string", "pattern": "^[0-9]+$"},
}
IF_MATCH_PARAMETER: dict[str, Any] = {
    "name": "If-Match",
    "in": "header",
    "required": False,
    "description": "the ETag you read (or send the body's `version`); a stale one answers 412 and changes nothing",
    "schema": {"type": "string", "pattern": '^(W/)?"[0-9]{1,18}"$'},
}
VERSIONED_STATUSES = {409: "stale `version` in the body; the current state and its ETag",
                      412: "stale If-Match; the current state and its ETag",
                      428: "no version sent (If-Match or `version`)"}


def documented(
    summary: str,
    *,
    tags: tuple[str, ...] = (),
    body: type[BaseModel] | None = None,
    response: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    statuses: dict[int, str] | None = None,
    public: bool = False,
    etag: bool = False,
    versioned: bool = False,
    body_required: bool = True,
    path_patterns: dict[str, str] | None = None,
) -> Callable[[F], F]:
    """Attach OpenAPI facts to a view: summary, request body/query model, response model, statuses it answers.

    `statuses` names the view's own answers; 2xx ones carry `response` (200 when none is named; 204 has no body).
    `etag`: 2xx answers carry the object's ETag; `versioned`: a version-guarded write (If-Match, 409/412/428).
    `path_patterns`: the pattern a string path parameter must match (otherwise any segment is documented).
    """

    def decorate(view: F) -> F:
        setattr(
            view,
            _DOC_ATTR,
            {"summary": summary, "tags": tags, "body": body, "response": response, "query": query,
             "statuses": {**(VERSIONED_STATUSES if versioned else {}), **(statuses or {})}, "public": public,
             "etag": etag or versioned, "versioned": versioned, "body_required": body_required,
             "path_patterns": path_patterns or {}},
        )
        return view

    return decorate


def documented_path(rule: str) -> str:
    """The OpenAPI path of a Flask rule: `<int:opportunity_id>` becomes `{opportunity_id}`."""
    return _PATH_ARG.sub(lambda m: "{" + m.group(2) + "}", rule)


def _without_nul(schema: Any) -> Any:
    """`schema` where every string without a pattern of its own says it may not contain NUL (the server refuses one:
    `web.request_input`), so a string the document allows is one the server accepts."""
    if isinstance(schema, list):
        return [_without_nul(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: _without_nul(value) if key not in ("default", "examples", "const", "enum") else value
           for key, value in schema.items()}
    if out.get("type") == "string" and not ({"pattern", "format", "enum", "const"} & set(out)):
        out["pattern"] = NO_NUL
    return out


def _schema_ref(spec: APISpec, model: type[BaseModel], mode: str) -> dict[str, str]:
    name = model.__name__
    if name not in spec.components.schemas:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}", mode=mode)
        if mode == "validation":
            schema = _without_nul(schema)
        for def_name, definition in schema.pop("$defs", {}).items():
            if def_name not in spec.components.schemas:
                spec.components.schema(def_name, definition)
        spec.components.schema(name, schema)
    return {"$ref": f"#/components/schemas/{name}"}


def _problem_response(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "description": description,
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    if headers:
        answer["headers"] = headers
    return answer


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A query parameter's schema: an absent parameter is how a query says null."""
    options = schema.get("anyOf")
    if options:
        kept = [o for o in options if o.get("type") != "null"]
        if len(kept) == 1:
            rest = {k: v for k, v in schema.items() if k not in ("anyOf", "default")}
            return {**kept[0], **rest}
    return {k: v for k, v in schema.items() if not (k == "default" and v is None)}


def _path_parameters(rule: Rule, patterns: dict[str, str]) -> list[dict[str, Any]]:
    params = []
    for converter, name in _PATH_ARG.findall(rule.rule):
        if converter == "int":
            schema: dict[str, Any] = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
        else:
            schema = {"type": "string", "pattern": patterns.get(name, "^[^/\\u0000]+$")}
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
    return params


def _operation(spec: APISpec, rule: Rule, method: str, facts: dict[str, Any], limited: bool) -> dict[str, Any]:
    operation: dict[str, Any] = {"summary": facts["summary"], "tags": list(facts["tags"]), "responses": {}}
    params = _path_parameters(rule, facts["path_patterns"])
    if facts["query"] is not None:
        qschema = facts["query"].model_json_schema()
        for name, prop in qschema.get("properties", {}).items():
            params.append({"name": name, "in": "query", "required": name in qschema.get("required", []),
                           "schema": _without_nul(_without_null(prop))})
    if facts["versioned"]:
        params.append(IF_MATCH_PARAMETER)
    if params:
        operation["parameters"] = params
    has_body = facts["body"] is not None and method in ("POST", "PUT", "PATCH")
    if has_body:
        operation["requestBody"] = {
            "required": facts["body_required"],
            "content": {"application/json": {"schema": _schema_ref(spec, facts["body"], "validation")}},
        }
    statuses: dict[int, str] = facts["statuses"]
    success = {s: d for s, d in statuses.items() if s < 300} or {200: "OK"}
    for status, description in sorted(success.items()):
        answer: dict[str, Any] = {"description": description}
        if status != 204:
            schema = _schema_ref(spec, facts["response"], "serialization") if facts["response"] else {"type": "object"}
            answer["content"] = {"application/json": {"schema": schema}}
        if facts["etag"]:
            answer["headers"] = {"ETag": ETAG_HEADER}
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
    if limited:
        central[429] = "over the request quota; retry after the given seconds"
    headers = {409: {"ETag": STALE_ETAG_HEADER}, 412: {"ETag": ETAG_HEADER}} if facts["versioned"] else {}
    headers[429] = headers[503] = {"Retry-After": RETRY_AFTER_HEADER}
    for status, description in sorted({**central, **{s: d for s, d in statuses.items() if s >= 300}}.items()):
        operation["responses"][str(status)] = _problem_response(description, headers.get(status))
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
            limited = rule.endpoint.rpartition(".")[0] in LIMITED_BLUEPRINTS
            paths.setdefault(documented_path(rule.rule), {})[method.lower()] = _operation(spec, rule, method, facts, limited)
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()
