"""Property-based fuzzing of the whole JSON API from its own OpenAPI document (issue #12 must-show).

schemathesis generates valid and invalid requests for every operation of /api/v1/openapi.json; each request goes to
the Flask app in process (WSGI) as a rep, a manager and an admin, on SQLite and PostgreSQL. The app must answer no
5xx, only documented statuses and content types, bodies that match the documented schema, and reject what the
schema forbids. About half the generated ids, stage keys, thread keys and versions are swapped for ones that exist,
so the checks see real objects and not only 404s. Deterministic (derandomized Hypothesis, no example database)
with a fixed number of examples per operation and generation mode.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings, strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import select

from dealpulse.services.alert_engine import run_alerts
from dealpulse.services.training_runs import queue_run
from dealpulse.store import Alert, Stage
from tests.fixtures.tiny_model.fixtures import tiny_base, tiny_registry, tiny_versions  # noqa: F401
from tests.integration.sidebar.support import Inbox

MAX_EXAMPLES = 20  # per operation and generation mode; every example is sent three times (one per role)
ROLES = ("rep.a1", "manager.a", "admin")
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
NEGATIVE_CHECKS = [*CHECKS, negative_data_rejection]
CONFIG = {"generation": {"with-security-parameters": False, "database": "none", "deterministic": True}}


@dataclass
class Existing:
    """Values that name real objects, by where they go (path, query, body) and the name the API gives them."""

    path: dict[str, list[Any]]
    fields: dict[str, list[Any]]  # query parameters and body fields

    def swap(self, data: st.DataObject, values: dict[str, Any] | None, known: dict[str, list[Any]]) -> None:
        """Replace about three in four of the named values in `values` with existing ones (in place)."""
        if not isinstance(values, dict):
            return
        for name in list(values):
            real = known.get(name)
            if real and data.draw(st.integers(0, 3), label=f"swap {name}"):
                values[name] = data.draw(st.sampled_from(real), label=name)


@pytest.fixture
def existing(db, world, settings, tiny_registry) -> Existing:  # noqa: F811
    """A world with captured emails, alerts and a training run; the tiny tone model is active."""
    inbox = Inbox(db, world)
    emails = [inbox.email("rep.a1", opportunity="a1_acme", label="negative", thread_key="thread-a1"),
              inbox.email("rep.a2", opportunity="a2_initech", thread_key="thread-a2", is_private=True),
              inbox.email("rep.b1", opportunity="b1_acme", thread_key="thread-b1", direction="outbound")]
    inbox.email("rep.a1", opportunity="a1_acme", days_ago=40, thread_key="thread-old")
    run_alerts(db, settings, world.org_id)
    with db.uow() as uow:
        alerts = list(uow.s.scalars(select(Alert.id)))
        stages = sorted(set(uow.s.scalars(select(Stage.key))))
        run = queue_run(uow, world.org_id, "api").id
        uow.commit()
    users = list(world.users.values())
    ids = {"opportunity_id": list(world.opportunities.values()), "contact_id": list(world.contacts.values()),
           "account_id": list(world.accounts.values()), "owner_id": users, "rep_id": users,
           "activity_id": [e.activity_id for e in emails], "alert_id": alerts, "run_id": [run]}
    return Existing(
        path={**ids, "key": stages, "version": ["tiny-a", "tiny-b"]},
        fields={**ids, "stage": stages, "version": [1, 2, 3], "thread_key": [e.thread_key for e in emails],
                "message_id": [e.message_id for e in emails], "answers": [{}, {"clear_use_case": False}]},
    )


def describe(exc: BaseException) -> str:
    """A failure in a few lines: what each check found and the request that shows it."""
    lines = [f"{type(e).__name__}: {' / '.join(str(e).strip().splitlines()[:3])}" for e in getattr(exc, "exceptions", [exc])]
    curl = [line.strip() for line in str(exc).splitlines() if line.strip().startswith("curl ")]
    return "\n    ".join(lines + curl[:1])[:2000]


def fuzz_operation(operation: Any, mode: GenerationMode, existing: Existing, headers: list[dict[str, str]],
                   checks: list[Callable]) -> set[int]:
    """Send MAX_EXAMPLES generated requests of `mode` to `operation` as every role; the statuses seen.

    Raises on the first failure of a check."""
    statuses: set[int] = set()

    @settings(max_examples=MAX_EXAMPLES, derandomize=True, database=None, deadline=None, print_blob=False,
              suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate, Phase.shrink])
    @given(case=operation.as_strategy(generation_mode=mode), data=st.data())
    def send(case: Any, data: st.DataObject) -> None:
        if mode is GenerationMode.POSITIVE:
            existing.swap(data, case.path_parameters, existing.path)
            existing.swap(data, case.query, existing.fields)
            existing.swap(data, case.body, existing.fields)
        for auth in headers:
            statuses.add(case.call_and_validate(headers=auth, checks=checks).status_code)

    send()
    return statuses


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
def test_every_operation_answers_as_documented_for_every_role(app, world, existing, mode):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app,
                                            config=schemathesis.Config.from_dict(CONFIG))
    headers = [world.auth(who) for who in ROLES]
    checks = NEGATIVE_CHECKS if mode is GenerationMode.NEGATIVE else CHECKS
    failures, operations, answered = [], set(), {}
    for result in schema.get_all_operations():
        operation = result.ok()
        operations.add((operation.method.upper(), operation.path))
        try:
            answered[f"{operation.method.upper()} {operation.path}"] = fuzz_operation(operation, mode, existing, headers, checks)
        except Unsatisfiable:
            assert mode is GenerationMode.NEGATIVE  # no invalid request exists: no parameters, or any string will do
        except (Exception, BaseExceptionGroup) as exc:
            failures.append(f"{operation.method.upper()} {operation.path}:\n    {describe(exc)}")
    assert not failures, f"{len(failures)} of {len(operations)} operations failed:\n\n" + "\n\n".join(failures)
    print("\n".join(f"{op}: {sorted(statuses)}" for op, statuses in sorted(answered.items())))
    documented = {(m.upper(), path) for path, methods in schema.raw_schema["paths"].items() for m in methods}
    assert documented - operations == {("GET", "/api/v1/openapi.json")}  # schemathesis skips the document itself
    assert len(documented) >= 35
