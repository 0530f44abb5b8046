"""Errors raised by services; the web layer maps them to HTTP problems, the CLI to one-line messages."""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """Base of use-case errors."""


class NotFoundError(ServiceError):
    """Missing, or not visible to the caller (deliberately indistinguishable)."""


class PermissionDenied(ServiceError):
    """Visible but not allowed."""


class InvalidField(ServiceError):
    """Input that passed the schema but breaks a business rule; names the fields."""

    def __init__(self, errors: list[dict[str, Any]]):
        super().__init__("; ".join(f"{e['field']}: {e['message']}" for e in errors))
        self.errors = errors


class StaleVersion(ServiceError):
    """The write was based on version `expected`; the current state is attached; nothing changed."""

    def __init__(self, expected: int, current: dict[str, Any], changes_since: list[dict[str, Any]]):
        super().__init__(f"version {expected} is stale; current version is {current.get('version')}")
        self.expected = expected
        self.current = current
        self.changes_since = changes_since


class ConflictError(ServiceError):
    """The request conflicts with the current state (e.g. deleting a stage still in use)."""
