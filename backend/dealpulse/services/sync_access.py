"""How a sync reaches a mailbox: its capture scope, decrypted credentials (rotated refresh tokens are sealed and
stored at once) and the provider connectors, keyed by the Mailbox cursor column each one advances."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

from sqlalchemy import update

from ..config import Settings
from ..crypto import SecretBox
from ..mail.gmail import GmailConnector
from ..mail.google_auth import google_credentials
from ..mail.google_calendar import GoogleCalendarConnector
from ..mail.graph import GraphConnector
from ..mail.linking import load_org_directory, normalize_address
from ..mail.ms_auth import MsalTokenProvider, build_msal_app
from ..mail.privacy import load_never_log, load_privacy_rules
from ..mail.retry import RetryPolicy
from ..mail.types import MailConnector, SyncError
from ..store import Mailbox, User
from ..store.database import Database
from .capture_candidates import CaptureScope


@dataclass(frozen=True)
class MailboxAccess:
    """What a connector needs to reach one mailbox: provider, address, owner's addresses and decrypted credentials."""

    mailbox_id: int
    provider: str
    address: str
    owner_addresses: frozenset[str]
    credentials: Mapping[str, object]
    store_refresh_token: Callable[[str], None] = lambda token: None  # a provider rotated it: keep the new one


#: Builds the connectors of a mailbox, keyed by the Mailbox cursor column each one advances.
ConnectorFactory = Callable[[Settings, MailboxAccess], Mapping[str, MailConnector]]


def default_connectors(settings: Settings, access: MailboxAccess, *, retry_policy: RetryPolicy = RetryPolicy()) -> dict[str, MailConnector]:
    """The real connectors: Gmail + Google Calendar (two cursors) or Microsoft Graph (mail and calendar, one cursor)."""
    refresh_token = str(access.credentials.get("refresh_token") or "")
    if access.provider == "gmail":
        credentials = google_credentials(settings, refresh_token)
        return {
            "mail_cursor": GmailConnector(settings, credentials, set(access.owner_addresses), retry_policy=retry_policy),
            "calendar_cursor": GoogleCalendarConnector(settings, credentials, retry_policy=retry_policy),
        }
    if access.provider == "microsoft":
        tokens = MsalTokenProvider(build_msal_app(settings), refresh_token, on_refresh_token=access.store_refresh_token)
        return {"mail_cursor": GraphConnector(settings, tokens, set(access.owner_addresses), retry_policy=retry_policy)}
    raise SyncError(f"mailbox {access.mailbox_id} has an unknown provider {access.provider!r}")


def _rotated_token_keeper(db: Database, settings: Settings, mailbox_id: int, credentials: Mapping[str, object]) -> Callable[[str], None]:
    """Seal and store a rotated refresh token at once (Entra may stop honouring the old one)."""

    def keep(refresh_token: str) -> None:
        sealed = SecretBox(settings).seal({**credentials, "refresh_token": refresh_token})
        with db.uow() as uow:
            uow.s.execute(update(Mailbox).where(Mailbox.id == mailbox_id).values(encrypted_credentials=sealed)
                          .execution_options(synchronize_session=False))
            uow.commit()

    return keep


def load_mailbox(db: Database, settings: Settings, mailbox_id: int) -> tuple[CaptureScope, MailboxAccess, dict[str, str | None]]:
    """The mailbox's capture scope, its access (decrypted credentials, a keeper for rotated tokens) and its cursors."""
    with db.uow() as uow:
        box = uow.s.get(Mailbox, mailbox_id)
        owner = uow.s.get(User, box.user_id)
        owner_addresses = frozenset(normalize_address(a) for a in owner.addresses) | {normalize_address(box.address)}
        scope = CaptureScope(
            mailbox_id=box.id,
            org_id=box.org_id,
            owner_id=owner.id,
            owner_addresses=frozenset(a for a in owner_addresses if a),
            directory=load_org_directory(uow.s, box.org_id),
            never_log=load_never_log(uow.s, owner.id),
            rules=load_privacy_rules(uow.s, owner.id),
        )
        credentials = SecretBox(settings).open(box.encrypted_credentials)
        access = MailboxAccess(box.id, box.provider, box.address, scope.owner_addresses, credentials,
                               _rotated_token_keeper(db, settings, box.id, credentials))
        return scope, access, {"mail_cursor": box.mail_cursor, "calendar_cursor": box.calendar_cursor}
