"""Request and response schemas of /api/v1/admin/ (pydantic; unknown fields are errors).

The thresholds schema is built from `domain.threshold_settings.THRESHOLD_SPECS`, so the OpenAPI document shows
the same keys, types and ranges the command line and the alert rules use.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints, create_model

from ..domain.threshold_settings import THRESHOLD_SPECS, ThresholdSpec
from ..services.admin_common import MAX_ID
from .schemas import ShortText, StageKey, Strict, omittable

Role = Literal["rep", "manager", "admin"]
Address = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=320)]
DomainName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=253)]
Version = Annotated[int, Field(ge=1, le=MAX_ID, description="the version you read (or send If-Match with the ETag)")]
Id = Annotated[int, Field(ge=1, le=MAX_ID)]


def _threshold_field(spec: ThresholdSpec) -> tuple[Any, Any]:
    if spec.kind is list:
        kind: Any = Annotated[list[StageKey], Field(max_length=50)]
    elif spec.kind is int:
        kind = Annotated[int, Field(strict=True, ge=spec.minimum, le=spec.maximum)]
    else:
        kind = Annotated[float, Field(strict=True, ge=spec.minimum, le=spec.maximum, allow_inf_nan=False)]
    return kind | None, Field(default=None, description=f"{spec.description} (default {spec.default}; null restores it)")


ThresholdsIn = create_model(
    "ThresholdsIn",
    __base__=Strict,
    __doc__="Alert thresholds to change; a key left out stays as it is, null restores its default.",
    **{key: _threshold_field(spec) for key, spec in THRESHOLD_SPECS.items()},
)


class ThresholdSpecOut(BaseModel):
    """One threshold key: type, range, default and meaning."""

    key: str
    type: Literal["integer", "number", "stage_keys"]
    minimum: float | None
    maximum: float | None
    default: Any
    description: str


class ThresholdSpecList(BaseModel):
    """Every alert-threshold key a team can set."""

    items: list[ThresholdSpecOut]


class OrganisationOut(BaseModel):
    """The organisation's identity settings; its ETag is the version to send back with a change."""

    id: int
    name: str
    domains: list[str] = Field(description="the organisation's own mail domains (mail between them is internal)")
    ms_tenant_ids: list[str] = Field(description="Entra tenants whose Microsoft sign-ins are accepted; empty = any")
    google_workspace_domain: str | None
    jit_provisioning: bool = Field(description="people with a verified address of the domains join as reps at first sign-in")
    version: int


class OrganisationUpdate(Strict):
    """Changed settings plus the version they were read at (or send If-Match)."""

    version: Version | None = None
    name: ShortText = omittable()
    domains: Annotated[list[DomainName], Field(max_length=50)] = omittable()  # [] for none
    ms_tenant_ids: Annotated[list[Annotated[str, StringConstraints(max_length=64)]], Field(max_length=20)] = omittable()
    google_workspace_domain: DomainName | None = None  # null: no Google Workspace domain
    jit_provisioning: bool = omittable()


class UserQuery(Strict):
    """Which users to list."""

    status: Literal["active", "deactivated", "all"] = "all"


class ReassignDeal(BaseModel):
    """An open deal of a deactivated user, to give to someone else (PATCH the opportunity's owner_id)."""

    id: int
    name: str
    stage: str
    amount: str
    currency: str


class UserOut(BaseModel):
    """A user as admins see them; `manager_id` is their team's manager."""

    id: int
    email: str
    name: str
    role: Role
    team_id: int | None
    team: str | None
    manager_id: int | None
    is_active: bool
    deactivated_at: str | None
    open_deals: int
    needs_reassignment: bool = Field(description="deactivated and still owns open deals")
    version: int


class UserDetail(UserOut):
    """A user with the open deals to reassign (deactivated users only)."""

    deals_to_reassign: list[ReassignDeal]


class Deactivation(UserDetail):
    """What deactivating did: tokens revoked, teams left without a manager, deals to reassign."""

    teams_without_manager: list[str]
    tokens_revoked: int


class UserList(BaseModel):
    """Users by name."""

    items: list[UserOut]


class UserCreate(Strict):
    """A new user (active at once; they sign in with Google or Microsoft under this address)."""

    email: Address
    name: ShortText
    role: Role = "rep"
    team_id: Id | None = None


class UserUpdate(Strict):
    """Changed fields of a user plus the version they were read at; null team_id takes them out of their team."""

    version: Version | None = None
    name: ShortText = omittable()
    role: Role = omittable()
    team_id: Id | None = None


class TeamManager(BaseModel):
    """A team's manager."""

    id: int
    name: str
    email: str


class TeamOut(BaseModel):
    """A team with its manager, active members, every threshold in effect and the ones it sets itself."""

    id: int
    name: str
    manager_id: int | None
    manager: TeamManager | None
    members: int
    thresholds: dict[str, Any]
    custom_thresholds: dict[str, Any]
    version: int


class TeamList(BaseModel):
    """Teams by name."""

    items: list[TeamOut]


class TeamCreate(Strict):
    """A new team, optionally with its manager (an active manager or admin) and thresholds."""

    name: ShortText
    manager_id: Id | None = None
    thresholds: ThresholdsIn | None = None  # type: ignore[valid-type]


class TeamUpdate(Strict):
    """Changed fields of a team plus the version they were read at; null manager_id leaves it without one."""

    version: Version | None = None
    name: ShortText = omittable()
    manager_id: Id | None = None
    thresholds: ThresholdsIn | None = None  # type: ignore[valid-type]


class InvitationCreate(Strict):
    """Whom to invite, as what, to which team (the link is e-mailed when DEALPULSE_SMTP_URL is set)."""

    email: Address
    name: ShortText
    role: Role = "rep"
    team_id: Id | None = None


class InvitationOut(BaseModel):
    """An invitation and where it stands (pending, accepted, revoked or expired)."""

    id: int
    email: str
    name: str
    role: str
    team_id: int | None
    state: Literal["pending", "accepted", "revoked", "expired"]
    created_at: str
    expires_at: str


class InvitationCreated(InvitationOut):
    """A new invitation with its link (shown once; only a hash of its token is kept)."""

    link: str
    emailed: bool


class InvitationList(BaseModel):
    """The organisation's invitations, newest first."""

    items: list[InvitationOut]
