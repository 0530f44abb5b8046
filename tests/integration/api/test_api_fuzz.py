"""Property-based fuzzing of the whole JSON API from its own OpenAPI document (issue #12 must-show).

schemathesis generates valid and invalid requests for every operation of /api/v1/openapi.json; each request goes to
the Flask app in process (WSGI) as a rep, a manager and an admin, on SQLite and PostgreSQL. The app must answer no
5xx, only documented statuses and content types, bodies and headers (ETag, Retry-After) that match the document and
no undocumented ETag or Retry-After, and it must reject what the schema forbids. About three in
four of the generated ids, stage keys, thread keys and model versions are swapped for ones that exist, so the checks
see real objects and not only 404s; before a version-guarded write (an operation that takes If-Match) the caller
reads the object's current ETag and sends it as If-Match or as the body's `version` (three times in four), so the
success path of every versioned write is checked against the document too. Deterministic (derandomized Hypothesis,
no example database) with a fixed number of examples per operation and generation mode.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
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
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import select

from dealpulse.sentiment.registry import promote, register_version
from dealpulse.services.alert_engine import run_alerts
from dealpulse.services.training_runs import queue_run
from dealpulse.store import ActionItem, Activity, Alert, Opportunity, Review, Stage, Team
from tests.fixtures.tiny_model.fixtures import tiny_base, tiny_registry, tiny_versions  # noqa: F401
from tests.integration.sidebar.support import Inbox

# Examples per operation: every example is sent three times (one per role), on SQLite and PostgreSQL. The four runs
# took 6.5 min at load 10-13 on two cores with 12 and 12, 7.8 min with 20 and 20; invalid requests need fewer.
MAX_EXAMPLES = {GenerationMode.POSITIVE: 12, GenerationMode.NEGATIVE: 8}
ROLES = ("rep.a1", "manager.a", "admin")


@schemathesis.check
def sent_headers_are_documented(ctx: Any, response: Any, case: Any) -> bool | None:
    """An ETag or Retry-After the server sends is a header the document names for that answer."""
    definition = case.operation.responses.find_by_status_code(response.status_code)
    named = {name.lower() for name, _ in definition.headers.items()} if definition is not None and definition.headers else set()
    undocumented = sorted(h for h in ("etag", "retry-after") if h in response.headers and h not in named)
    if undocumented:
        raise AssertionError(f"{case.operation.label} answered {response.status_code} with undocumented {undocumented}")
    return None


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance, sent_headers_are_documented]
NEGATIVE_CHECKS = [*CHECKS, negative_data_rejection]
CONFIG = {"generation": {"with-security-parameters": False, "database": "none", "deterministic": True}}


@dataclass
class Existing:
    """Values that name real objects, by where they go (path, query, body) and the name the API gives them."""

    path: dict[str, list[Any]]
    fields: dict[str, list[Any]]  # query parameters and body fields
    spared: dict[str, set[Any]]  # values never sent under that name (always swapped for an existing one)
    by_operation: dict[str, dict[str, list[Any]]]  # path -> path parameter and field values that only make sense there

    def swap(self, data: st.DataObject, values: dict[str, Any] | None, known: dict[str, list[Any]]) -> None:
        """Replace about three in four of the named values in `values` with existing ones (in place)."""
        if not isinstance(values, dict):
            return
        for name in list(values):
            real = known.get(name)
            spared = values[name] in self.spared.get(name, ()) if isinstance(values[name], int) else False
            if real and (spared or data.draw(st.integers(0, 3), label=f"keep {name}") < 3):  # Hypothesis favours 0
                values[name] = data.draw(st.sampled_from(real), label=name)


ORG_VERSIONS = {"org-candidate": ("candidate", "tiny-b"), "org-rejected": ("rejected", "tiny-a")}


@pytest.fixture
def existing(app, db, world, settings, tiny_registry, tiny_versions) -> Existing:  # noqa: F811
    """A world with captured emails, a held meeting, alerts, a training run, an invitation and two organisation tone
    versions: an active one (promoted over the global tiny model, so there is something to roll back) and a rejected
    one."""
    inbox = Inbox(db, world)
    emails = [inbox.email("rep.a1", opportunity="a1_acme", label="negative", thread_key="thread-a1"),
              inbox.email("rep.a2", opportunity="a2_initech", thread_key="thread-a2", is_private=True),
              inbox.email("rep.b1", opportunity="b1_acme", thread_key="thread-b1", direction="outbound"),
              # the manager and the admin have copies too (their thread choices succeed), one waiting for a deal
              inbox.email("manager.a", opportunity="a1_acme", thread_key="thread-a1", to=("manager.a@seller.example",)),
              inbox.email("admin", opportunity=None, thread_key="thread-admin", to=("admin@seller.example",),
                          needs_link_choice=True, candidates=("a1_acme", "b1_acme"))]
    inbox.email("rep.a1", opportunity="a1_acme", days_ago=40, thread_key="thread-old")
    meeting = inbox.email("rep.a1", opportunity="a1_acme", days_ago=2, thread_key="thread-meeting")  # made a meeting below
    invited = app.test_client().post("/api/v1/admin/invitations", headers=world.auth("admin"),
                                     json={"email": "invited@seller.example", "name": "Invited Person"})
    assert invited.status_code == 201, invited.get_json()
    run_alerts(db, settings, world.org_id)
    with db.uow() as uow:
        held = uow.s.get(Activity, meeting.activity_id)
        held.kind, held.ends_at = "meeting", held.occurred_at + timedelta(hours=1)  # its outcome can be recorded
        alerts = list(uow.s.scalars(select(Alert.id)))
        used = set(uow.s.scalars(select(Stage.key).join(Opportunity, Opportunity.stage_id == Stage.id)))
        stages = sorted(set(uow.s.scalars(select(Stage.key))), key=lambda key: (key in used, key))  # unused first
        run = queue_run(uow, world.org_id, "api").id
        review = Review(org_id=world.org_id, rep_id=world.users["rep.a1"], held_by_id=world.users["manager.a"], agenda={})
        uow.s.add(review)
        uow.s.flush()
        item = ActionItem(org_id=world.org_id, opportunity_id=world.opportunities["a1_acme"], review_id=review.id,
                          obstacle="Legal review", owner_kind="rep", due_date=date(2026, 1, 5), priority="high")
        uow.s.add(item)
        teams = list(uow.s.scalars(select(Team.id)))
        uow.s.add(Stage(org_id=world.org_id, key="retired", name="Retired", position=99, is_closed=True))  # deletable
        for version, (status, weights) in ORG_VERSIONS.items():
            shutil.copytree(tiny_versions[weights], Path(settings.model_dir) / version)
            register_version(uow, org_id=world.org_id, version=version, method="top-layers", data_hash=version,
                             metrics={}, training_summary={}, parent_version="tiny-a", status=status,
                             decision_reason="fuzz fixture")
        promote(uow, Path(settings.model_dir), world.org_id, "org-candidate")  # something to roll back
        uow.commit()
        reviews, items = [review.id], [item.id]
    users = list(world.users.values())
    roles = {world.users[who] for who in ROLES}  # never deactivated nor demoted: they send every request
    others = [uid for who, uid in world.users.items() if uid not in roles and not who.startswith("other.")]
    ids = {"opportunity_id": list(world.opportunities.values()), "contact_id": list(world.contacts.values()),
           "account_id": list(world.accounts.values()), "owner_id": users, "rep_id": users, "manager_id": users,
           "activity_id": [e.activity_id for e in emails] + [meeting.activity_id], "alert_id": alerts,
           "invitation_id": [invited.get_json()["id"]], "run_id": [run], "team_id": teams,
           "review_id": reviews, "item_id": items}
    return Existing(
        path={**ids, "user_id": others, "key": stages, "version": [*ORG_VERSIONS, "tiny-a"]},
        spared={"user_id": roles},
        fields={**ids, "stage": stages, "version": [1, 2, 3], "thread_key": [e.thread_key for e in emails],
                "message_id": [e.message_id for e in emails], "answers": [{}, {"clear_use_case": False}],
                "email": [f"buyer{n}@buyer.example" for n in range(3)]},
        by_operation={"/api/v1/admin/users": {"email": [f"new{n}@seller.example" for n in range(3)]},
                      # distinct question keys (JSON Schema cannot say keys differ); a closed stage still refuses them
                      "/api/v1/stages/{key}": {"key": ["retired"], "exit_questions": [
                          [{"key": f"q{i}", "text": f"Question {i}?"} for i in range(n)] for n in (2, 3)]}},
    )


def describe(exc: BaseException) -> str:
    """A failure in a few lines: what each check found and the request that shows it."""
    lines = [f"{type(e).__name__}: {' / '.join(str(e).strip().splitlines()[:3])}" for e in getattr(exc, "exceptions", [exc])]
    curl = [line.strip() for line in str(exc).splitlines() if line.strip().startswith("curl ")]
    return "\n    ".join(lines + curl[:1])[:2000]


def current_etag(client: Any, path: str, auth: dict[str, str]) -> str | None:
    """The ETag of the object a write to `path` changes, read as the caller: the nearest enclosing path that answers
    a GET with one (PATCH /opportunities/5 and PUT /opportunities/5/buying-team/7 both read /opportunities/5)."""
    parts = path.split("/")
    while len(parts) > 3:  # "", "api", "v1"
        answer = client.get("/".join(parts), headers=auth)
        if answer.status_code == 200 and answer.headers.get("ETag"):
            return answer.headers["ETag"]
        parts.pop()
    return None


def send_current_version(case: Any, data: st.DataObject, client: Any, auth: dict[str, str]) -> None:
    """Three times in four: the object's current version as If-Match, or as the body's `version` (in place)."""
    how = data.draw(st.sampled_from(["if-match", "body", "if-match", "generated"]), label="version from")
    if how == "generated":
        return
    etag = current_etag(client, case.formatted_path, auth)
    if etag is None:
        return
    if how == "body" and isinstance(case.body, dict):
        case.body["version"] = int(etag.strip('"'))
        case.headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "if-match"}
    else:
        case.headers = {**(case.headers or {}), "If-Match": etag}


def takes_if_match(operation: Any) -> bool:
    """True for a version-guarded write (the document gives it an If-Match header)."""
    return any(p.get("in") == "header" and p.get("name") == "If-Match" for p in operation.definition.raw.get("parameters", []))


def fuzz_operation(operation: Any, mode: GenerationMode, existing: Existing, headers: list[dict[str, str]],
                   checks: list[Callable], client: Any) -> set[int]:
    """Send MAX_EXAMPLES[mode] generated requests of `mode` to `operation` as every role; the statuses seen.

    Raises on the first failure of a check."""
    statuses: set[int] = set()
    versioned = mode is GenerationMode.POSITIVE and takes_if_match(operation)

    @settings(max_examples=MAX_EXAMPLES[mode], derandomize=True, database=None, deadline=None, print_blob=False,
              suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate, Phase.shrink])
    @given(case=operation.as_strategy(generation_mode=mode), data=st.data())
    def send(case: Any, data: st.DataObject) -> None:
        if mode is GenerationMode.POSITIVE:
            existing.swap(data, case.path_parameters, {**existing.path, **existing.by_operation.get(operation.path, {})})
            existing.swap(data, case.query, existing.fields)
            existing.swap(data, case.body, {**existing.fields, **existing.by_operation.get(operation.path, {})})
        for auth in headers:
            if versioned:
                send_current_version(case, data, client, auth)
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
            answered[f"{operation.method.upper()} {operation.path}"] = fuzz_operation(
                operation, mode, existing, headers, checks, app.test_client())
        except Unsatisfiable:
            assert mode is GenerationMode.NEGATIVE  # no invalid request exists: no parameters, or any string will do
        except (Exception, BaseExceptionGroup) as exc:
            failures.append(f"{operation.method.upper()} {operation.path}:\n    {describe(exc)}")
    assert not failures, f"{len(failures)} of {len(operations)} operations failed:\n\n" + "\n\n".join(failures)
    print("\n".join(f"{op}: {sorted(statuses)}" for op, statuses in sorted(answered.items())))
    succeeded = {op for op, statuses in answered.items() if any(200 <= s < 300 for s in statuses)}
    print(f"{mode.value}: {len(succeeded)} of {len(answered)} operations answered 2xx at least once")
    documented = {(m.upper(), path) for path, methods in schema.raw_schema["paths"].items() for m in methods}
    assert documented - operations == {("GET", "/api/v1/openapi.json")}  # schemathesis skips the document itself
    assert len(documented) >= 35
