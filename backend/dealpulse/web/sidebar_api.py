"""The sidebar's JSON API: `POST /api/v1/context` for the open email, and the actions the rep takes from it.

Opportunity edits (fields, exit answers, buying-team roles) use the version-guarded endpoints of `web/api.py`;
this blueprint adds rating, notes, private threads, thread links and creating a deal from an email.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any, Literal

from flask import Blueprint, Flask, Response, current_app, jsonify
from pydantic import BaseModel, Field, StringConstraints

from .toolkit import app_alert_defaults, app_db, app_settings
from ..domain.tone_labels import ToneLabel
from ..sentiment.active import active_scorers
from ..sentiment.evidence import scored_with_evidence, stance_evidence
from ..sentiment.registry import ToneModelNotReady
from ..services import notes as notes_service
from ..services import threads as threads_service
from ..services import ratings as ratings_service
from ..services import suggestions as suggestions_service
from ..store.crm import BUYING_ROLES
from ..services.sidebar import ToneSource, email_context
from ..services.sidebar_match import OpenMessage
from .api import expected_version, parse_body, require_principal, with_etag
from .capture_schemas import NeedsDealList, ThreadLinkOut, ThreadPrivacyOut
from .auth import current_principal
from .openapi import documented
from .problems import InvalidInput
from .schemas import Amount, Currency, Id, OpportunityOut, ShortText, StageKey, Strict, Version

if TYPE_CHECKING:  # the scorer module loads the transformer stack; the web app loads it only when scoring
    from ..sentiment.scorer import ToneScorer

bp = Blueprint("sidebar_api", __name__, url_prefix="/api/v1")

Address = Annotated[str, StringConstraints(strip_whitespace=True, max_length=400)]
Identifier = Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)]
ThreadKey = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=600)]


class ContextQuery(Strict):
    """What the mail client knows about the open message; send at least one identifier or the sender."""

    message_id: Identifier = ""
    provider_id: Identifier = ""
    provider_thread_id: Identifier = ""
    sender: Address = Field(default="", alias="from")
    to: Annotated[list[Address], Field(max_length=500)] = []
    cc: Annotated[list[Address], Field(max_length=500)] = []
    subject: Annotated[str, StringConstraints(max_length=2000)] = ""
    body: Annotated[str, StringConstraints(max_length=500_000)] | None = None
    in_reply_to: Identifier = ""
    references: Annotated[list[Identifier], Field(max_length=200)] = []

    model_config = {**Strict.model_config, "populate_by_name": True}


class SuggestionOut(BaseModel):
    """A suggested update: the field, the value to set, the buyer's sentence and how sure the reader is."""

    field: str = Field(description="close_date | amount | seats | exit.<question key>")
    value: str | int | bool
    evidence: str
    confidence: float
    currency: str | None = None
    current: Any = None


class SuggestionAccept(Strict):
    """One suggested update the rep applies, as the sidebar offered it, with the version of the deal they read."""

    version: Version | None = None
    field: Annotated[str, StringConstraints(pattern=r"^(close_date|amount|seats|exit\.[a-z][a-z0-9_]{0,63})$")]
    value: Annotated[str, StringConstraints(max_length=40)] | Annotated[int, Field(ge=1, le=10_000_000)] | bool
    currency: Currency | None = None
    evidence: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


class ContextOut(BaseModel):
    """The sidebar's view of an email (see services/sidebar.py)."""

    status: Literal["matched", "choose", "no_deal", "no_customer"]
    match_method: str
    thread_key: str
    thread_private: bool
    contact: dict[str, Any] | None
    account: dict[str, Any] | None
    opportunity: OpportunityOut | None
    candidates: list[dict[str, Any]]
    suggested_opportunity_id: int | None
    email: dict[str, Any]
    timeline: dict[str, Any] | None
    alerts: list[dict[str, Any]]
    health: dict[str, Any] | None = Field(None, description="the matched deal's health: score 0-100 and band")
    action_items: list[dict[str, Any]] = Field([], description="the matched deal's open action items, overdue first")
    stages: list[dict[str, Any]]
    mailboxes: list[dict[str, Any]]
    buying_roles: list[str]
    suggestions: list[SuggestionOut] = Field([], description="updates the buyer's words suggest for the matched deal "
                                             "(inbound email only, above DEALPULSE_SUGGESTION_THRESHOLD)")


class RatingIn(Strict):
    """A tone rating of an email."""

    label: ToneLabel
    note: Annotated[str, StringConstraints(max_length=2000)] = ""


class RatingOut(BaseModel):
    """The rater's current rating with what the model said when it was given."""

    id: int
    activity_id: int | None
    label: str
    note: str
    model_label: str | None
    model_version: str | None
    agrees_with_model: bool | None
    created_at: str
    updated_at: str


class NoteIn(Strict):
    """A note on an email."""

    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=5000)]


class NoteOut(BaseModel):
    """A note as stored."""

    id: int
    text: str
    author: dict[str, Any] | None
    created_at: str


class ThreadPrivacyIn(Strict):
    """Make a conversation private (content hidden from managers) or public again."""

    thread_key: ThreadKey
    is_private: bool


class ThreadLinkIn(Strict):
    """The opportunity a conversation belongs to, or null for "not a deal" (remembered for my later mail on it)."""

    thread_key: ThreadKey
    opportunity_id: Id | None


class OpportunityFromEmailIn(Strict):
    """A new deal for the email's conversation."""

    thread_key: ThreadKey
    name: ShortText
    account_id: Id
    stage: StageKey
    amount: Amount = Decimal("0")
    currency: Currency = "USD"
    close_date: dt.date | None = None
    next_step: Annotated[str, StringConstraints(max_length=500)] = ""
    contact_id: Id | None = None
    contact_role: Literal[BUYING_ROLES] | None = None  # type: ignore[valid-type]


class ActiveModelTone:
    """Scores text on the fly with the organisation's active tone model (ToneSource for the sidebar)."""

    def score(self, org_id: int, text: str, *, already_split: bool) -> dict[str, Any] | None:
        """The tone of `text` with its stance evidence (None while no tone model is built); `already_split`: quotes
        were removed at capture."""
        scorer = self._scorer(org_id)
        if scorer is None:
            return None
        return scored_with_evidence(scorer, text, split_quotes=not already_split)

    def evidence(self, org_id: int, version: str, text: str) -> list[dict[str, Any]] | None:
        """The stance evidence of a captured email's new text, when `version` is the organisation's active one."""
        scorer = self._scorer(org_id)
        if scorer is None or scorer.version != version:
            return None
        return stance_evidence(scorer, text, split_quotes=False)

    @staticmethod
    def _scorer(org_id: int) -> ToneScorer | None:
        try:
            return active_scorers(app_settings(), app_db()).for_org(org_id, build_missing=False)
        except ToneModelNotReady:
            return None


def tone_source() -> ToneSource:
    """The app's tone source (tests and benchmarks may install another under `dealpulse.tone`)."""
    return current_app.extensions.get("dealpulse.tone") or ActiveModelTone()


bp.before_request(require_principal)


def init_app(app: Flask) -> None:
    """Nothing to install: the service-error mapping comes from web/api.py."""


def open_message(query: ContextQuery) -> OpenMessage:
    """The service's view of a context query."""
    return OpenMessage(
        message_id=query.message_id,
        provider_id=query.provider_id,
        provider_thread_id=query.provider_thread_id,
        sender=query.sender,
        to=tuple(query.to),
        cc=tuple(query.cc),
        subject=query.subject,
        body=query.body,
        in_reply_to=query.in_reply_to,
        references=tuple(query.references),
    )


@bp.post("/context")
@documented("The deal, tone and timeline of an open email", tags=("sidebar",), body=ContextQuery, response=ContextOut,
            statuses={422: "no identifier or bad fields"})
def context() -> Response:
    """Match the open email to its deal (Message-ID, provider id, then participants); score it live if not captured."""
    query = parse_body(ContextQuery)
    if not (query.message_id or query.provider_id or query.sender):
        raise InvalidInput([{"field": "message_id", "message": "send message_id, provider_id or from", "type": "missing"}])
    with app_db().uow() as uow:
        data = email_context(uow, current_principal(), open_message(query), tone_source(),
                             suggestion_threshold=app_settings().suggestion_threshold)
    response = jsonify(data)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/opportunities/<int:opportunity_id>/suggestions/accept")
@documented("Apply a suggested update read from the buyer's email (version-guarded; audited as a suggestion accepted)",
            tags=("sidebar",), body=SuggestionAccept, response=OpportunityOut,
            statuses={404: "not found or not visible", 409: "stale version in body", 412: "stale If-Match",
                      422: "invalid field or value", 428: "version missing"}, versioned=True)
def accept_suggestion(opportunity_id: int) -> Response:
    """Set the suggested close date, amount or exit answer as the rep's own edit, with the buyer's sentence audited."""
    body = parse_body(SuggestionAccept)
    version = expected_version(body.version)
    with app_db().uow() as uow:
        data = suggestions_service.accept_suggestion(
            uow, current_principal(), opportunity_id, version, body.field, body.value, body.evidence,
            currency=body.currency, alert_defaults=app_alert_defaults())
    return with_etag(data)


@bp.put("/activities/<int:activity_id>/rating")
@documented("Rate an email's tone (one current rating per rater; changeable)", tags=("sidebar",), body=RatingIn,
            response=RatingOut, statuses={403: "private email", 404: "not found", 422: "invalid"})
def rate(activity_id: int) -> Response:
    """Set my rating of the email: negative, neutral or positive, with an optional note."""
    body = parse_body(RatingIn)
    with app_db().uow() as uow:
        data = ratings_service.rate_activity(uow, current_principal(), activity_id, body.label, body.note)
    return jsonify(data)


@bp.post("/activities/<int:activity_id>/notes")
@documented("Add a note to an email", tags=("sidebar",), body=NoteIn, response=NoteOut,
            statuses={201: "created", 403: "private email", 404: "not found", 422: "invalid"})
def add_note(activity_id: int) -> Response:
    """A note the rep keeps on the email."""
    body = parse_body(NoteIn)
    with app_db().uow() as uow:
        data = notes_service.add_note(uow, current_principal(), activity_id, body.text)
    response = jsonify(data)
    response.status_code = 201
    return response


@bp.put("/threads/private")
@documented("Mark my copies of a conversation private or public", tags=("sidebar",), body=ThreadPrivacyIn,
            response=ThreadPrivacyOut, statuses={404: "no email of mine in this thread", 422: "invalid"})
def thread_private() -> Response:
    """My private copies show their metadata only to managers; my later mail on the thread stays private."""
    body = parse_body(ThreadPrivacyIn)
    with app_db().uow() as uow:
        data = threads_service.set_thread_private(uow, current_principal(), body.thread_key, body.is_private)
    return jsonify(data)


@bp.put("/threads/link")
@documented("Change the deal of my copies of a conversation, or say it is not a deal (sticks for the thread)",
            tags=("sidebar",), body=ThreadLinkIn, response=ThreadLinkOut, statuses={403: "may not change that deal", 404: "not found", 422: "invalid"})
def thread_link() -> Response:
    """My copies of the conversation move to the deal (or to none); both deals' alerts are re-evaluated; my later
    mail on the thread follows. Another rep's copies stay where they are."""
    body = parse_body(ThreadLinkIn)
    with app_db().uow() as uow:
        data = threads_service.link_thread(uow, current_principal(), body.thread_key, body.opportunity_id, alert_defaults=app_alert_defaults())
    return jsonify(data)


@bp.get("/threads/needs-deal")
@documented("Captured emails that match several deals and wait for a rep's choice (mine; a manager's teams')",
            tags=("sidebar",), response=NeedsDealList)
def threads_needing_a_deal() -> Response:
    """The "needs a deal" list: until someone chooses, these emails count toward no deal's dynamics or alerts."""
    with app_db().uow() as uow:
        items = threads_service.needs_deal(uow, current_principal())
    response = jsonify(items=items)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/threads/opportunity")
@documented("Create an opportunity from an email and link its conversation", tags=("sidebar",),
            body=OpportunityFromEmailIn, response=OpportunityOut,
            statuses={201: "created", 404: "thread or contact not found", 422: "invalid"}, etag=True)
def opportunity_from_email() -> Response:
    """A new deal on the email's account; the thread is linked to it."""
    body = parse_body(OpportunityFromEmailIn)
    values = body.model_dump(exclude={"thread_key", "contact_id", "contact_role"})
    with app_db().uow() as uow:
        data = threads_service.create_opportunity_from_email(
            uow, current_principal(), body.thread_key, values, body.contact_id, body.contact_role, alert_defaults=app_alert_defaults()
        )
    return with_etag(data, 201)
