"""OpenAPI 3.1 document built from the registered views: `@documented(...)` records schemas, apispec assembles."""

from __future__ import annotations

import re
from typing import Any, Callable, TypeVar

from apispec import APISpec
from flask import Flask
from pydantic import BaseModel

F = TypeVar("F", bound=Callable[..., Any])

_DOC_ATTR = "__dealpulse_openapi__"


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
    """Attach OpenAPI facts to a view: summary, request body/query model, response model, extra statuses."""

    def decorate(view: F) -> F:
        setattr(
            view,
            _DOC_ATTR,
            {"summary": summary, "tags": tags, "body": body, "response": response, "query": query,
             "statuses": statuses or {}, "public": public},
        )
        return view

    return decorate


def _schema_ref(spec: APISpec, model: type[BaseModel]) -> dict[str, str]:
    name = model.__name__
    if name not in spec.components.schemas:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for def_name, definition in schema.pop("$defs", {}).items():
            if def_name not in spec.components.schemas:
                spec.components.schema(def_name, definition)
        spec.components.schema(name, schema)
    return {"$ref": f"#/components/schemas/{name}"}


def _problem_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}


def build_openapi(app: Flask, title: str = "DealPulse API", version: str = "1") -> dict[str, Any]:
    """The OpenAPI document for every documented view of `app`."""
    spec = APISpec(title=title, version=version, openapi_version="3.1.0")
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    spec.components.schema(
        "Problem",
        {
            "type": "object",
            "properties": {
                "title": {"type": "string"},
                "status": {"type": "integer"},
                "detail": {"type": "string"},
                "errors": {"type": "array", "items": {"type": "object"}},
            },
            "required": ["title", "status", "detail"],
        },
    )
    paths: dict[str, dict[str, Any]] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        view = app.view_functions.get(rule.endpoint)
        facts = getattr(view, _DOC_ATTR, None)
        if facts is None:
            continue
        path = re.sub(r"<(?:[a-z]+:)?([a-zA-Z_]+)>", r"{\1}", rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            operation: dict[str, Any] = {"summary": facts["summary"], "tags": list(facts["tags"]), "responses": {}}
            params = [
                {"name": arg, "in": "path", "required": True, "schema": {"type": "integer" if "int:" in rule.rule else "string"}}
                for arg in rule.arguments
            ]
            if facts["query"] is not None:
                qschema = facts["query"].model_json_schema()
                for name, prop in qschema.get("properties", {}).items():
                    params.append({"name": name, "in": "query", "required": name in qschema.get("required", []), "schema": prop})
            if params:
                operation["parameters"] = params
            if facts["body"] is not None and method in ("POST", "PUT", "PATCH"):
                operation["requestBody"] = {
                    "required": True,
                    "content": {"application/json": {"schema": _schema_ref(spec, facts["body"])}},
                }
            ok = {"description": "OK"}
            if facts["response"] is not None:
                ok["content"] = {"application/json": {"schema": _schema_ref(spec, facts["response"])}}
            operation["responses"]["201" if method == "POST" and 201 in facts["statuses"] else "200"] = ok
            for status, description in facts["statuses"].items():
                if status != 201:
                    operation["responses"][str(status)] = _problem_response(description)
            if not facts["public"]:
                operation["security"] = [{"bearer": []}]
                operation["responses"].setdefault("401", _problem_response("missing, forged, expired or revoked credential"))
            paths.setdefault(path, {})[method.lower()] = operation
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()
