"""Human wording of audited changes: "Signatory known: yes → unknown", not `exit.signatory_known True→None`."""

from __future__ import annotations

from typing import Any, Mapping

FIELD_NAMES = {
    "stage": "Stage", "amount": "Amount", "currency": "Currency", "close_date": "Close date", "next_step": "Next step",
    "probability": "Probability", "owner_id": "Owner", "account_id": "Account", "name": "Name", "imported": "Imported",
    "state": "State", "status": "Status", "obstacle": "Obstacle", "owner_kind": "Who removes it",
    "owner_name": "Executive", "due_date": "Due date", "priority": "Priority",
}
EXIT_PREFIX = "exit."
TEAM_PREFIX = "buying_team."
ALERT_PREFIX = "alert: "


def humanize(key: str) -> str:
    """signatory_known → Signatory known."""
    words = key.replace("_", " ").replace(".", " ").strip()
    return words[:1].upper() + words[1:] if words else key


def field_label(field: str) -> str:
    """The name a person reads for an audited field."""
    if field.startswith(EXIT_PREFIX):
        return humanize(field[len(EXIT_PREFIX):])
    if field.startswith(TEAM_PREFIX):
        return f"Buying team: {field[len(TEAM_PREFIX):]}"
    if field.startswith(ALERT_PREFIX):
        return f"Alert {field[len(ALERT_PREFIX):]}"
    return FIELD_NAMES.get(field) or humanize(field)


def value_label(field: str, value: Any, names: Mapping[tuple[str, Any], str]) -> str:
    """A value as a person reads it; `names` maps ("stage", key) / ("user", id) / ("account", id) to names."""
    if field.startswith(EXIT_PREFIX):
        return {True: "yes", False: "no"}.get(value, "unknown") if value is None or isinstance(value, bool) else str(value)
    if field.startswith(TEAM_PREFIX):
        return "not on the team" if value is None else humanize(str(value)).lower()
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    kind = {"stage": "stage", "owner_id": "user", "account_id": "account"}.get(field)
    if kind:
        return names.get((kind, value), str(value))
    if field == "probability":
        return f"{value}%"
    if field in ("owner_kind", "priority", "status", "state"):
        return humanize(str(value)).lower()
    return str(value)


def describe_change(entry: Mapping[str, Any], names: Mapping[tuple[str, Any], str]) -> str:
    """One audit entry in words: "Signatory known: yes → unknown"."""
    field = entry["field"]
    return f"{field_label(field)}: {value_label(field, entry['old'], names)} → {value_label(field, entry['new'], names)}"
