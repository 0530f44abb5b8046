"""Who may see and change what: reps their own deals, managers their teams', admins their organisation's."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Principal:
    """An authenticated user as far as authorisation is concerned."""

    user_id: int
    org_id: int
    role: str  # rep | manager | admin
    email: str
    team_id: int | None = None
    managed_team_ids: frozenset[int] = field(default_factory=frozenset)
    surface: str = "api"  # api | outlook | gmail | dashboard | cli

    @property
    def is_admin(self) -> bool:
        """Admins see and change everything in their organisation."""
        return self.role == "admin"

    @property
    def is_manager(self) -> bool:
        """Managers (and admins) see their teams' deals."""
        return self.role in ("manager", "admin")


def can_see_deal(principal: Principal, org_id: int, owner_id: int, owner_team_id: int | None) -> bool:
    """True if the principal may read a deal owned by `owner_id` (in `owner_team_id`)."""
    if principal.org_id != org_id:
        return False
    if principal.is_admin or owner_id == principal.user_id:
        return True
    return principal.role == "manager" and owner_team_id is not None and owner_team_id in principal.managed_team_ids


def can_edit_deal(principal: Principal, org_id: int, owner_id: int, owner_team_id: int | None) -> bool:
    """Editing follows visibility: whoever may see a deal may update it (every change is audited)."""
    return can_see_deal(principal, org_id, owner_id, owner_team_id)


def can_read_content(principal: Principal, is_private: bool, mailbox_owner_ids: set[int]) -> bool:
    """Private activities show their content only to the reps whose mailbox captured them (metadata to others)."""
    if not is_private:
        return True
    return principal.user_id in mailbox_owner_ids


def can_administer(principal: Principal) -> bool:
    """Stages, exit questions, thresholds, imports and models are admin-only."""
    return principal.is_admin
