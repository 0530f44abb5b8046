"""Reads the demo organisation (accounts, people, stages, opportunities) from data/org.json."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

ORG_RESOURCE = "data/org.json"


@cache
def _org_text() -> str:
    return resources.files("dealpulse.demo").joinpath(ORG_RESOURCE).read_text(encoding="utf-8")


def load_org() -> dict[str, Any]:
    """Return a fresh copy of the demo organisation as plain dicts and lists (the schema of data/org.json)."""
    return json.loads(_org_text())
