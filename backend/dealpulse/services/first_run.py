"""First run without the demo: a one-time setup link, the organisation and its first admin, and what is left.

`dealpulse serve` on a database without organisations issues a random setup token (only its SHA-256 is kept, in
`<var_dir>/setup-token.sha256`) and prints the link. The setup page creates the organisation and its first admin
(who then signs in with Google or Microsoft); from then on the link opens nothing. The checklist of what is left
is computed from the database and the settings each time it is shown.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from ..config import Settings
from ..store import Account, Invitation, Mailbox, Organisation, Stage, User
from ..store.uow import UnitOfWork
from .audit import record_changes
from .errors import ConflictError
from .organisations import new_organisation
from .people import new_user

TOKEN_FILE = "setup-token.sha256"


def needs_setup(uow: UnitOfWork) -> bool:
    """True while the database holds no organisation."""
    return uow.s.scalar(select(func.count()).select_from(Organisation)) == 0


def issue_setup_token(var_dir: Path) -> str:
    """A fresh setup token (replacing any earlier one); only its hash is written to disk."""
    token = secrets.token_urlsafe(24)
    path = Path(var_dir) / TOKEN_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(hashlib.sha256(token.encode()).hexdigest() + "\n", encoding="ascii")
    path.chmod(0o600)
    return token


def setup_token_valid(var_dir: Path, token: str | None) -> bool:
    """True if `token` is the one `issue_setup_token` last printed (constant-time comparison)."""
    path = Path(var_dir) / TOKEN_FILE
    if not token or not path.exists():
        return False
    expected = path.read_text(encoding="ascii").strip()
    return hmac.compare_digest(expected, hashlib.sha256(token.encode()).hexdigest())


def complete_setup(uow: UnitOfWork, var_dir: Path, name: str, domains: list[str], admin_email: str, admin_name: str) -> int:
    """Create the organisation and its first admin, then retire the setup token; returns the organisation id."""
    if not needs_setup(uow):
        raise ConflictError("DealPulse is already set up: sign in instead")
    s = uow.s
    org = new_organisation(s, name, domains)
    admin = new_user(s, org.id, admin_email, admin_name, "admin")
    record_changes(s, None, "organisation", org.id, org.id, {"created": (None, org.name)}, version=1, surface="setup")
    record_changes(s, None, "user", admin.id, org.id, {"created": (None, {"email": admin.email, "role": "admin"})},
                   version=1, surface="setup")
    uow.commit()
    (Path(var_dir) / TOKEN_FILE).unlink(missing_ok=True)
    return org.id


def checklist(uow: UnitOfWork, settings: Settings, org_id: int) -> list[dict[str, Any]]:
    """What is left to set up for an organisation: each step with done or not and what to do next."""
    s = uow.s

    def count(model: Any, *where: Any) -> int:
        return s.scalar(select(func.count()).select_from(model).where(*where)) or 0

    signin = bool(settings.google_client_id or settings.ms_client_id)
    people = count(User, User.org_id == org_id) + count(Invitation, Invitation.org_id == org_id)
    return [
        {"key": "oauth", "done": signin, "title": "Connect the Google or Microsoft OAuth app",
         "how": "Set DEALPULSE_GOOGLE_CLIENT_ID/SECRET or DEALPULSE_MS_CLIENT_ID/SECRET and restart (see the README)."},
        {"key": "people", "done": people > 1, "title": "Invite your team",
         "how": "People and teams: invite each person, or run `dealpulse users import people.csv`."},
        {"key": "stages", "done": count(Stage, Stage.org_id == org_id) > 0, "title": "Define your pipeline stages",
         "how": "Stages and exit questions: add each stage with two or three exit questions."},
        {"key": "import", "done": count(Account, Account.org_id == org_id) > 0, "title": "Import accounts, contacts and deals",
         "how": "Run `dealpulse import accounts FILE.csv` (then contacts, opportunities)."},
        {"key": "mailboxes", "done": count(Mailbox, Mailbox.org_id == org_id) > 0, "title": "Have reps connect their mailboxes",
         "how": "Each rep opens Settings and connects Gmail or Outlook."},
        {"key": "addins", "done": settings.served_over_https, "title": "Deploy the Outlook add-in and Gmail add-on",
         "how": "Add-ins: download manifest.xml / deployment.json (needs an https DEALPULSE_BASE_URL)."},
    ]
