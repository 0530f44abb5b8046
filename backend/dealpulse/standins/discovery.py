"""Request bodies checked against Google's discovery documents, as the real API rejects what they do not allow."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

_TYPES = {"string": str, "array": list, "object": dict, "boolean": bool, "integer": (int, str), "number": (int, float)}


@lru_cache(maxsize=None)
def _schemas(api: str) -> dict[str, Any]:
    folder = resources.files("googleapiclient").joinpath("discovery_cache", "documents")
    return json.loads(folder.joinpath(f"{api}.json").read_text(encoding="utf-8"))["schemas"]


def request_problem(api: str, schema_name: str, body: Any) -> str | None:
    """Why `body` is not a valid `schema_name` request of `api` (e.g. "gmail.v1"); None when it is."""
    return _problem(_schemas(api), _schemas(api)[schema_name], body, schema_name)


def _problem(schemas: dict[str, Any], node: dict[str, Any], value: Any, where: str) -> str | None:
    if "$ref" in node:
        return _problem(schemas, schemas[node["$ref"]], value, where)
    expected = _TYPES.get(node.get("type", ""))
    if expected is not None and not isinstance(value, expected):
        return f"Invalid value at '{where}': expected {node['type']}"
    if "enum" in node and value not in node["enum"]:
        return f"Invalid value at '{where}' ({value!r}): allowed values are {', '.join(node['enum'])}"
    if node.get("type") == "array":
        for index, item in enumerate(value):
            problem = _problem(schemas, node.get("items", {}), item, f"{where}[{index}]")
            if problem:
                return problem
    if node.get("type") == "object" and "properties" in node:
        for key, item in value.items():
            if key not in node["properties"]:
                return f"Invalid JSON payload received. Unknown name \"{key}\" at '{where}': Cannot find field."
            problem = _problem(schemas, node["properties"][key], item, f"{where}.{key}")
            if problem:
                return problem
    return None
