"""Request and response schemas of the JSON API (pydantic; unknown fields are errors)."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidatorFunctionWrapHandler,
    WithJsonSchema,
    WrapValidator,
    field_validator,
)

from ..store import MAX_ID

Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
StageKey = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
Id = Annotated[int, Field(ge=1, le=MAX_ID, description="the id of a row")]
Version = Annotated[int, Field(ge=1, le=MAX_ID, description="the version you read (the ETag)")]
ForecastCategory = Literal["pipeline", "best_case", "commit", "omitted"]
#: An amount sent as text: up to 12 digits, optionally a point and one or two decimals (no sign, exponent, spaces,
#: separators or non-ASCII digits, all of which Python's Decimal would otherwise take).
AMOUNT_TEXT = r"^[0-9]{1,12}(\.[0-9]{1,2})?$"
_AMOUNT_TEXT = re.compile(AMOUNT_TEXT)
#: One bare address (local part, "@", dot-separated domain labels); `mailto:`, quotes, spaces and empty labels are
#: refused with 422 before `mail.linking.normalize_address` runs.
_BARE_ADDRESS = r"[^\s@<>\"':\u0000]+@[^\s@<>\"'/\\.\u0000]+(\.[^\s@<>\"'/\\.\u0000]+)*"
#: A buyer's address as a rep types or pastes it: bare, or with a display name as mail clients show it
#: ("Nora New <nora@acme.example>"); exactly what `normalize_address` turns into an address.
EMAIL_ADDRESS = rf"^(?:{_BARE_ADDRESS}|[A-Za-z0-9 .'_-]*<{_BARE_ADDRESS}>)$"


#: A planning date (close date, due date) as the API takes it: YYYY-MM-DD in 2000..2100 (pydantic's strict date
#: parsing takes exactly YYYY-MM-DD; the validators of the fields refuse years outside that range).
PLAN_DATE = r"^(20[0-9]{2}|2100)-[0-9]{2}-[0-9]{2}$"
PlanDate = Annotated[dt.date, WithJsonSchema({"type": "string", "format": "date", "pattern": PLAN_DATE}, mode="validation")]


def _amount_text(value: Any, handler: ValidatorFunctionWrapHandler) -> Decimal:
    """A text amount must match AMOUNT_TEXT; text and JSON numbers become a Decimal (by their decimal digits), which
    the range and precision constraints then check (booleans and other types are left to them to refuse)."""
    if isinstance(value, str):
        if not _AMOUNT_TEXT.fullmatch(value):
            raise ValueError("an amount is digits with up to two decimals, e.g. 1250.50")
        value = Decimal(value)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        value = Decimal(str(value))
    return handler(value)


Amount = Annotated[
    Decimal,
    Field(ge=0, le=Decimal("999999999999.99"), max_digits=14, decimal_places=2),
    WrapValidator(_amount_text),
    WithJsonSchema({"anyOf": [{"type": "number", "minimum": 0, "maximum": 999999999999.99},
                              {"type": "string", "pattern": AMOUNT_TEXT}],
                    "description": "at most two decimals"}, mode="validation"),
]


def _without_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def omittable() -> Any:
    """A field a change may leave out but not send as null (None stands for "not sent")."""
    return Field(default=None, json_schema_extra=_without_default)


class Strict(BaseModel):
    """Base of input schemas: unknown fields are rejected."""

    model_config = ConfigDict(extra="forbid", str_max_length=20000)


def _valid_close_date(value: dt.date | None) -> dt.date | None:
    if value is not None and not (dt.date(2000, 1, 1) <= value <= dt.date(2100, 12, 31)):
        raise ValueError("close date must be between 2000-01-01 and 2100-12-31")
    return value


class OpportunityCreate(Strict):
    """A new opportunity."""

    name: ShortText
    account_id: Id
    stage: StageKey
    amount: Amount = Decimal("0")
    currency: Currency = "USD"
    close_date: PlanDate | None = None
    next_step: Annotated[str, StringConstraints(max_length=500)] = ""
    probability: Annotated[int, Field(ge=0, le=100)] | None = None
    owner_id: Id | None = None
    forecast_category: ForecastCategory = "pipeline"

    _close = field_validator("close_date")(_valid_close_date)


class OpportunityUpdate(Strict):
    """Changed fields of an opportunity plus the version they were read at (or send If-Match)."""

    version: Version | None = None
    name: ShortText = omittable()
    account_id: Id = omittable()
    stage: StageKey = omittable()
    amount: Amount = omittable()
    currency: Currency = omittable()
    close_date: PlanDate | None = None  # null clears it
    seats: Annotated[int, Field(ge=1, le=10_000_000)] | None = None  # null clears it
    next_step: Annotated[str, StringConstraints(max_length=500)] = omittable()
    probability: Annotated[int, Field(ge=0, le=100)] = omittable()
    owner_id: Id = omittable()
    forecast_category: ForecastCategory = omittable()

    _close = field_validator("close_date")(_valid_close_date)


class ExitAnswersUpdate(Strict):
    """Answers to the current stage's exit questions, by question key (null clears an answer)."""

    version: Version | None = None
    answers: dict[StageKey, bool | None]


BuyingRole = Literal[
    "economic_buyer", "champion", "technical_evaluator", "decision_maker", "influencer", "blocker", "procurement",
    "legal", "user",
]


class BuyingTeamAdd(Strict):
    """Add a person to the buying team by address (an unknown address becomes a contact of the deal's account)."""

    version: int | None = Field(default=None, ge=1)
    email: Annotated[str, StringConstraints(min_length=3, max_length=320, pattern=EMAIL_ADDRESS)]
    name: Annotated[str, StringConstraints(max_length=200)] = ""
    role: BuyingRole


class BuyingRoleUpdate(Strict):
    """A contact's role on the buying team (null removes them)."""

    version: Version | None = None
    role: (
        Literal[
            "economic_buyer", "champion", "technical_evaluator", "decision_maker", "influencer", "blocker",
            "procurement", "legal", "user",
        ]
        | None
    )


class OpportunityQuery(Strict):
    """Query parameters of the opportunity list."""

    scope: Literal["mine", "team", "all"] = "mine"
    stage: StageKey | None = None
    owner_id: Id | None = None
    account_id: Id | None = None
    q: Annotated[str, StringConstraints(max_length=200)] | None = None
    is_open: bool | None = None
    limit: Annotated[int, Field(ge=1, le=500)] = 100
    offset: Annotated[int, Field(ge=0, le=MAX_ID)] = 0


class ExitQuestionIn(Strict):
    """One exit question of a stage."""

    key: StageKey
    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=300)]


#: The stage rules `services.stages.put_stage` enforces, in the document: an open stage has two or three exit
#: questions, a closed one none, and a won stage is closed. (Question keys must also differ: JSON Schema cannot say so.)
STAGE_RULES: list[dict[str, Any]] = [
    {"if": {"properties": {"is_closed": {"const": True}}, "required": ["is_closed"]},
     "then": {"properties": {"exit_questions": {"maxItems": 0}}},
     "else": {"properties": {"exit_questions": {"minItems": 2}}, "required": ["exit_questions"]}},
    {"if": {"properties": {"is_won": {"const": True}}, "required": ["is_won"]},
     "then": {"properties": {"is_closed": {"const": True}}, "required": ["is_closed"]}},
]


class StageIn(Strict):
    """A stage definition (admin): an open stage has two or three exit questions with distinct keys, a closed one
    none; a won stage is closed."""

    model_config = ConfigDict(json_schema_extra={"allOf": STAGE_RULES})

    name: ShortText
    position: Annotated[int, Field(ge=0, le=1000)]
    probability: Annotated[int, Field(ge=0, le=100)]
    is_closed: bool = False
    is_won: bool = False
    exit_questions: Annotated[list[ExitQuestionIn], Field(max_length=3)] = []


class Reference(BaseModel):
    """A named reference to another object."""

    id: int
    name: str
    email: str | None = None


class StageRef(BaseModel):
    """The stage an opportunity is in."""

    key: str
    name: str
    is_closed: bool
    is_won: bool


class ExitQuestionOut(BaseModel):
    """An exit question with this opportunity's answer."""

    key: str
    text: str
    answer: bool | None
    answered_at: str | None


class BuyingTeamMemberOut(BaseModel):
    """A buying-team member and when they last wrote or met us on this deal (null: not yet)."""

    contact_id: int
    name: str
    email: str
    title: str
    role: str
    last_engaged_at: str | None = None


class OpportunityOut(BaseModel):
    """An opportunity as the API returns it."""

    id: int
    name: str
    account: Reference | None
    owner: Reference | None
    stage: StageRef
    amount: str
    currency: str
    close_date: str | None
    seats: int | None = Field(None, description="seats or licences (null: not known)")
    next_step: str
    probability: int
    stage_entered_at: str
    close_date_pushes: int
    forecast_category: str
    closed_at: str | None
    external_id: str | None
    updated_at: str
    version: int
    exit_questions: list[ExitQuestionOut] | None = None
    buying_team: list[BuyingTeamMemberOut] | None = None


class OpportunityList(BaseModel):
    """A page of opportunities."""

    items: list[OpportunityOut]
    total: int
    limit: int
    offset: int


class AuditEntryOut(BaseModel):
    """One audited field change."""

    field: str
    old: Any
    new: Any
    actor: dict[str, Any] | None
    surface: str
    version: int | None
    change_id: str
    changed_at: str


class HistoryOut(BaseModel):
    """The audit history of an object."""

    items: list[AuditEntryOut]


class StageOut(BaseModel):
    """A stage with its exit questions."""

    key: str
    name: str
    position: int
    probability: int
    is_closed: bool
    is_won: bool
    exit_questions: list[dict[str, str]]


class StageList(BaseModel):
    """The organisation's pipeline stages in order."""

    items: list[StageOut]


class MeOut(BaseModel):
    """The authenticated user."""

    id: int
    name: str
    email: str
    role: str
    org_id: int
    team_id: int | None
    managed_team_ids: list[int]
