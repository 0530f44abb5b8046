"""Limits every request meets before a view runs, so hostile input is a 4xx problem and never reaches the database.

- JSON bodies: at most MAX_JSON_DEPTH levels deep (400), no NUL character or lone UTF-16 surrogate in any string or
  key, no integer beyond 64 bits and no NaN/Infinity (422 naming the field). PostgreSQL cannot store NUL in text,
  UTF-8 cannot encode a lone surrogate, and neither database holds an integer past 64 bits.
- `<int:...>` URL parts are ids a row can have (1..MAX_ID); anything else is a 404 whatever the method.
- URLs and form fields with a NUL character are a 400.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from flask import Flask, Request, request
from werkzeug.exceptions import BadRequest, NotFound
from werkzeug.routing import IntegerConverter

from ..store import MAX_ID
from .problems import ApiProblem, InvalidInput

MAX_JSON_DEPTH = 32  # the deepest request schema is 4 levels; real clients never come near
INT64 = range(-(2**63), 2**63)
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")  # json.loads joins valid surrogate pairs, so any left is lone


class JsonTooDeep(ApiProblem):
    """The JSON body nests deeper than any request schema."""

    status = 400
    title = "Bad request"


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _string_problem(text: str, field: str) -> dict[str, str] | None:
    found = _UNSTORABLE.search(text)
    if found is None:
        return None
    if found.group() == "\x00":
        return {"field": field, "message": "may not contain a NUL character (\\u0000)", "type": "string_nul"}
    return {"field": field, "message": "contains a lone UTF-16 surrogate; send valid Unicode", "type": "string_unicode"}


def json_problems(value: Any) -> list[dict[str, str]]:
    """What makes a parsed JSON value unsafe to store, as [{"field", "message", "type"}]; raises JsonTooDeep."""
    problems: list[dict[str, str]] = []
    stack: list[tuple[Any, str, int]] = [(value, "", 0)]
    while stack:
        item, field, depth = stack.pop()
        name = field or "(body)"
        if isinstance(item, (dict, list)):
            if depth >= MAX_JSON_DEPTH:
                raise JsonTooDeep(f"The JSON body is nested more than {MAX_JSON_DEPTH} levels deep.")
            pairs = item.items() if isinstance(item, dict) else enumerate(item)
            for key, child in pairs:
                child_field = f"{field}.{key}" if field else str(key)
                if isinstance(key, str) and (problem := _string_problem(key, name)):
                    problems.append({**problem, "message": f"a key {problem['message']}"})
                    continue
                stack.append((child, child_field, depth + 1))
        elif isinstance(item, str):
            if problem := _string_problem(item, name):
                problems.append(problem)
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, int) and item not in INT64:
            problems.append({"field": name, "message": "is beyond the 64-bit integer range", "type": "int_range"})
        elif isinstance(item, float) and not math.isfinite(item):
            problems.append({"field": name, "message": "is too large a number", "type": "float_range"})
    return sorted(problems, key=lambda p: p["field"])


class GuardedJson:
    """The `json_module` of requests: parses like json.loads, then applies the limits above."""

    @staticmethod
    def loads(data: str | bytes, **kwargs: Any) -> Any:
        """Parse a request body; ValueError (bad syntax) keeps werkzeug's handling, limits raise problems."""
        try:
            value = json.loads(data, parse_constant=_reject_constant, **kwargs)
        except RecursionError:
            raise JsonTooDeep(f"The JSON body is nested more than {MAX_JSON_DEPTH} levels deep.") from None
        problems = json_problems(value)
        if problems:
            raise InvalidInput(problems)
        return value

    dumps = staticmethod(json.dumps)


class GuardedRequest(Request):
    """Flask's request with guarded JSON parsing."""

    @property
    def json_module(self) -> type[GuardedJson]:  # type: ignore[override]
        """The parser of request bodies."""
        return GuardedJson

    @json_module.setter
    def json_module(self, _provider: Any) -> None:
        """Flask hands every request the app's JSON provider; bodies keep the guarded parser."""


class RowIdConverter(IntegerConverter):
    """`<int:...>`: the decimal id of a row; up to 10 ASCII digits match, and one outside 1..MAX_ID is a 404.

    The 404 is raised here rather than failing the match: a failed match on a URL that another method's rule
    shares answers 405 (PATCH /opportunities/0 said "method not allowed").
    """

    regex = r"[0-9]{1,10}"

    def to_python(self, value: str) -> int:
        """The id, or NotFound when no row can have it."""
        number = int(value)
        if not 1 <= number <= MAX_ID:
            raise NotFound("No object has this id.")
        return number


def reject_nul_in_url_and_form() -> None:
    """400 for a NUL character in the path, the query or a form field (no view handles one)."""
    values = [request.path, *(request.view_args or {}).values()]
    for key, value in request.args.items(multi=True):
        values += (key, value)
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        for key, value in request.form.items(multi=True):
            values += (key, value)
    if any(isinstance(v, str) and "\x00" in v for v in values):
        raise BadRequest("The address or form contains a NUL character (%00); remove it.")


def install(app: Flask) -> None:
    """Guard `app`'s requests; call before any blueprint is registered (rules compile with the converters)."""
    app.request_class = GuardedRequest
    app.url_map.converters["int"] = RowIdConverter
    app.before_request(reject_nul_in_url_and_form)
