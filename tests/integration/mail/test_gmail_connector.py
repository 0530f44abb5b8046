"""GmailConnector against the local Gmail stand-in: full and incremental sync, batching, faults, auth failures."""

from __future__ import annotations

from collections import Counter
from typing import Iterable

import pytest

from dealpulse.config import Settings
from dealpulse.mail.gmail import GmailConnector
from dealpulse.mail.google_auth import ensure_fresh, google_credentials
from dealpulse.mail.retry import RetryPolicy
from dealpulse.mail.types import (
    AuthRevokedError,
    ChangeBatch,
    CursorExpiredError,
    ProviderUnavailableError,
    SyncError,
    ThrottledError,
)
from dealpulse.standins.faults import FaultPlan
from dealpulse.standins.google import GoogleStandIn
from dealpulse.standins.sample_mail import numbered, rfc822

OWNER = "rep@acme.example"
ALIAS = "sales@acme.example"


@pytest.fixture
def google() -> Iterable[GoogleStandIn]:
    with GoogleStandIn() as standin:
        yield standin


@pytest.fixture
def refresh_token(google: GoogleStandIn) -> str:
    return google.add_user(OWNER)


class Sleeps(list):
    """A fake sleep that records the delays instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def connector(google: GoogleStandIn, refresh_token: str, sleeps: Sleeps | None = None, **options) -> GmailConnector:
    # Whole messages in every batch (the content-first mode); metadata first is tested on its own below.
    settings = Settings.from_env({}, env="test", sync_metadata_first=False, **google.settings_overrides())
    return GmailConnector(
        settings,
        google_credentials(settings, refresh_token),
        {OWNER, ALIAS},
        sleep=sleeps if sleeps is not None else Sleeps(),
        **options,
    )


def drain(batches: Iterable[ChangeBatch]) -> list[ChangeBatch]:
    return list(batches)


def provider_ids(batches: list[ChangeBatch]) -> list[str]:
    return [mail.provider_id for batch in batches for mail in batch.mails]


def load(google: GoogleStandIn, count: int, start: int = 0) -> list[str]:
    ids = []
    for index in range(start, start + count):
        labels = ["SENT"] if index % 2 else ["INBOX", "UNREAD"]
        ids.append(google.add_message(OWNER, numbered(index, owner=OWNER), labels))
    return ids


def test_full_sync_fetches_every_message_once_and_ends_with_the_profile_cursor(google, refresh_token):
    ids = load(google, 30)
    google.add_message(OWNER, numbered(90, owner=OWNER), ["DRAFT"])
    google.add_message(OWNER, numbered(92, owner=OWNER), ["SPAM"])
    history_id = google.mailbox(OWNER).history_id

    batches = drain(connector(google, refresh_token).changes(None))

    assert sorted(provider_ids(batches)) == sorted(ids)
    assert batches[0].full_resync and not any(b.full_resync for b in batches[1:])
    assert [b.cursor for b in batches] == [None] * (len(batches) - 1) + [str(history_id)]
    mails = {mail.subject: mail for batch in batches for mail in batch.mails}
    assert mails["Proposal follow-up #1"].is_sent and not mails["Proposal follow-up #2"].is_sent
    assert mails["Proposal follow-up #2"].sender.email == "buyer@customer.example"
    assert mails["Proposal follow-up #2"].labels == ["INBOX", "UNREAD"]


def test_empty_mailbox_full_sync_still_yields_a_cursor(google, refresh_token):
    batches = drain(connector(google, refresh_token).changes(None))
    assert len(batches) == 1 and batches[0].mails == [] and batches[0].cursor == str(google.mailbox(OWNER).history_id)


def test_incremental_sync_returns_only_new_messages_and_deletions(google, refresh_token):
    first = load(google, 5)
    gmail = connector(google, refresh_token)
    cursor = drain(gmail.changes(None))[-1].cursor

    added = load(google, 10, start=5)
    google.delete_message(OWNER, first[0])
    batches = drain(gmail.changes(cursor))

    assert sorted(provider_ids(batches)) == sorted(added)
    assert [d for b in batches for d in b.deleted_ids] == [first[0]]
    assert batches[-1].cursor == str(google.mailbox(OWNER).history_id)

    quiet = drain(gmail.changes(batches[-1].cursor))
    assert provider_ids(quiet) == [] and quiet[-1].cursor == batches[-1].cursor


def test_message_added_and_deleted_between_syncs_is_not_fetched(google, refresh_token):
    gmail = connector(google, refresh_token)
    cursor = drain(gmail.changes(None))[-1].cursor
    short_lived = google.add_message(OWNER, numbered(1, owner=OWNER))
    google.delete_message(OWNER, short_lived)
    batches = drain(gmail.changes(cursor))
    assert provider_ids(batches) == [] and [d for b in batches for d in b.deleted_ids] == [short_lived]
    assert not [r for r in google.requests if r.path.endswith("/" + short_lived)]


def test_draft_that_gets_sent_or_mail_rescued_from_spam_is_fetched_when_it_gains_the_label(google, refresh_token):
    draft = google.add_message(OWNER, numbered(1, owner=OWNER), ["DRAFT"])
    junk = google.add_message(OWNER, numbered(2, owner=OWNER), ["SPAM"])
    gmail = connector(google, refresh_token)
    full = drain(gmail.changes(None))
    assert provider_ids(full) == []
    cursor = full[-1].cursor

    google.mailbox(OWNER).modify_labels(draft, add=["SENT"], remove=["DRAFT"])
    google.mailbox(OWNER).modify_labels(junk, add=["INBOX"], remove=["SPAM"])
    google.mailbox(OWNER).modify_labels(draft, add=["STARRED"])
    mails = {m.provider_id: m for b in drain(gmail.changes(cursor)) for m in b.mails}
    assert set(mails) == {draft, junk} and mails[draft].is_sent and not mails[junk].is_sent


def test_mail_arriving_during_a_full_sync_is_caught_by_the_next_incremental(google, refresh_token):
    load(google, 60)
    gmail = connector(google, refresh_token, batch_size=20)
    stream = gmail.changes(None)
    batches = [next(stream)]  # the profile's history id was taken before listing
    late = google.add_message(OWNER, numbered(500, owner=OWNER))
    batches += list(stream)
    assert late not in provider_ids(batches)
    assert provider_ids(drain(gmail.changes(batches[-1].cursor))) == [late]


def test_history_is_paged_with_a_cursor_per_page(google, refresh_token):
    gmail = connector(google, refresh_token)
    cursor = drain(gmail.changes(None))[-1].cursor
    added = load(google, 1200)
    batches = drain(gmail.changes(cursor))
    assert len(batches) == 3  # history.list answers at most 500 records a page
    assert sorted(provider_ids(batches)) == sorted(added)
    cursors = [int(b.cursor) for b in batches]
    assert cursors == sorted(cursors) and cursors[-1] == google.mailbox(OWNER).history_id


def test_stale_history_id_raises_cursor_expired_then_full_sync_recovers(google, refresh_token):
    ids = load(google, 8)
    gmail = connector(google, refresh_token)
    cursor = drain(gmail.changes(None))[-1].cursor
    more = load(google, 3, start=8)
    google.expire_history_before(OWNER, google.mailbox(OWNER).history_id)

    with pytest.raises(CursorExpiredError):
        drain(gmail.changes(cursor))
    batches = drain(gmail.changes(None))
    assert sorted(provider_ids(batches)) == sorted(ids + more)
    assert batches[0].full_resync


def test_non_numeric_cursor_is_treated_as_expired(google, refresh_token):
    with pytest.raises(CursorExpiredError):
        connector(google, refresh_token).changes("not-a-history-id")


def test_batches_carry_at_most_the_batch_size(google, refresh_token):
    ids = load(google, 120)
    batches = drain(connector(google, refresh_token, batch_size=50).changes(None))
    assert sorted(provider_ids(batches)) == sorted(ids)
    batch_posts = [r for r in google.requests if r.path == "/batch/gmail/v1"]
    assert [r.batch_parts for r in batch_posts] == [50, 50, 20]
    gets = [r for r in google.requests if r.in_batch]
    assert len(gets) == 120 and all(r.args["format"] == ["raw"] for r in gets)
    assert not [r for r in google.requests if "/messages/" in r.path and not r.in_batch]


def test_batch_size_above_fifty_is_refused(google, refresh_token):
    with pytest.raises(ValueError, match="between 1 and 50"):
        connector(google, refresh_token, batch_size=100)


def test_twenty_percent_mixed_faults_still_yield_every_message_exactly_once(google, refresh_token):
    ids = load(google, 300)
    google.faults = FaultPlan(
        0.2, kinds=("429", "403", "500", "503", "drop", "slow"), seed=7, paths=("/gmail/", "/batch/"),
        retry_after=1, slow_delay=0.01,
    )
    sleeps = Sleeps()
    gmail = connector(google, refresh_token, sleeps, batch_size=25, retry_policy=RetryPolicy(attempts=8))
    cursor = drain(gmail.changes(None))[-1].cursor
    more = load(google, 40, start=300)
    batches = drain(gmail.changes(cursor))

    full_and_incremental = Counter(provider_ids(drain(connector(google, refresh_token).changes(None))))
    assert set(full_and_incremental) == set(ids + more)
    assert sorted(provider_ids(batches)) == sorted(more)
    injected = Counter(f.fault.kind if f.fault.kind != "status" else str(f.fault.status) for f in google.faults.injected)
    assert {"429", "403", "500", "503", "drop", "slow"} <= set(injected)
    assert any(f.inner for f in google.faults.injected)  # some failures hit single calls inside batches
    assert sleeps, "retries waited"


def test_full_sync_under_faults_has_no_duplicates(google, refresh_token):
    ids = load(google, 200)
    google.faults = FaultPlan(0.2, kinds=("429", "500", "503", "drop"), seed=3, paths=("/gmail/", "/batch/"))
    batches = drain(connector(google, refresh_token, batch_size=50, retry_policy=RetryPolicy(attempts=8)).changes(None))
    counts = Counter(provider_ids(batches))
    assert set(counts) == set(ids) and set(counts.values()) == {1}


def test_retry_after_is_honoured_for_calls_and_for_batch_items(google, refresh_token):
    load(google, 4)
    google.faults.once("/profile", status=429, retry_after=7)
    google.faults.once("/messages/", status=503, retry_after=3)
    sleeps = Sleeps()
    batches = drain(connector(google, refresh_token, sleeps).changes(None))
    assert len(provider_ids(batches)) == 4
    assert sleeps == [7.0, 3.0]


def test_rate_limit_403_is_retried_but_other_403s_are_not(google, refresh_token):
    load(google, 2)
    google.faults.once("/profile", status=403, reason="userRateLimitExceeded")
    assert len(provider_ids(drain(connector(google, refresh_token).changes(None)))) == 2

    google.faults.once("/profile", status=403, reason="insufficientPermissions")
    with pytest.raises(SyncError) as caught:
        drain(connector(google, refresh_token).changes(None))
    assert type(caught.value) is SyncError and "insufficientPermissions" in str(caught.value)


def test_long_retry_after_pauses_the_mailbox_instead_of_sleeping(google, refresh_token):
    google.faults.once("/messages", status=429, retry_after=600)
    sleeps = Sleeps()
    with pytest.raises(ThrottledError) as caught:
        drain(connector(google, refresh_token, sleeps).changes(None))
    assert caught.value.retry_after == 600 and sleeps == []


def test_persistent_throttling_gives_up_after_the_policy_attempts(google, refresh_token):
    google.faults.once("/profile", status=429, retry_after=2, times=10)
    sleeps = Sleeps()
    with pytest.raises(ThrottledError):
        drain(connector(google, refresh_token, sleeps, retry_policy=RetryPolicy(attempts=4)).changes(None))
    assert sleeps == [2.0, 2.0, 2.0]


def test_persistent_batch_item_failures_end_as_provider_unavailable(google, refresh_token):
    load(google, 3)
    google.faults.once("/messages/", status=500, times=1000)
    with pytest.raises(ProviderUnavailableError):
        drain(connector(google, refresh_token, retry_policy=RetryPolicy(attempts=3)).changes(None))


def test_revoked_refresh_token_raises_auth_revoked(google, refresh_token):
    load(google, 2)
    google.revoke_refresh_token(refresh_token)
    with pytest.raises(AuthRevokedError):
        drain(connector(google, refresh_token).changes(None))
    token_calls = [r for r in google.requests if r.path == "/token"]
    assert [r.status for r in token_calls] == [400]


def test_consent_revoked_mid_sync_raises_auth_revoked(google, refresh_token):
    load(google, 120)
    gmail = connector(google, refresh_token)
    stream = gmail.changes(None)
    next(stream)
    google.revoke_refresh_token(refresh_token)  # also kills the access token in use
    with pytest.raises(AuthRevokedError):
        list(stream)


def test_expired_access_token_is_refreshed_transparently(google, refresh_token):
    ids = load(google, 60)
    gmail = connector(google, refresh_token)
    stream = gmail.changes(None)
    batches = [next(stream)]
    google.tokens.expire_access_tokens()
    batches += list(stream)
    assert sorted(provider_ids(batches)) == sorted(ids)
    assert len([r for r in google.requests if r.path == "/token"]) == 2


def test_owner_aliases_make_mail_outbound_without_the_sent_label(google, refresh_token):
    raw = rfc822(sender=f"Sam Rep <{ALIAS}>", to=["buyer@customer.example"], subject="From the alias",
                 body="Hello\n", message_id="alias-1@acme.example")
    google.add_message(OWNER, raw, ["INBOX"])
    [mail] = [m for b in drain(connector(google, refresh_token).changes(None)) for m in b.mails]
    assert mail.is_sent and mail.message_id == "alias-1@acme.example"


def test_replies_share_the_gmail_thread_id(google, refresh_token):
    google.add_message(OWNER, rfc822(sender="buyer@customer.example", to=[OWNER], subject="Pricing", body="Hi\n",
                                     message_id="p1@customer.example"))
    google.add_message(OWNER, rfc822(sender=OWNER, to=["buyer@customer.example"], subject="Re: Pricing",
                                     body="Thanks\n", message_id="p2@acme.example", in_reply_to="p1@customer.example"),
                       ["SENT"])
    mails = [m for b in drain(connector(google, refresh_token).changes(None)) for m in b.mails]
    assert len({m.thread_id for m in mails}) == 1 and mails[0].thread_id


def test_slow_answer_past_the_timeout_is_retried(google, refresh_token):
    ids = load(google, 3)
    google.faults.once("/profile", kind="slow", delay=3)
    sleeps = Sleeps()
    batches = drain(connector(google, refresh_token, sleeps, timeout=0.5).changes(None))
    assert sorted(provider_ids(batches)) == sorted(ids) and len(sleeps) == 1


def test_unreachable_google_ends_as_provider_unavailable(google, refresh_token):
    gmail = connector(google, refresh_token)
    google.stop()
    with pytest.raises(ProviderUnavailableError):
        drain(gmail.changes(None))


def test_token_refresh_gets_every_scope_it_asks_for(google, refresh_token, caplog):
    """Google grants "email" as .../auth/userinfo.email: asking for the alias warned on every refresh."""
    import logging

    from dealpulse.mail.google_auth import SYNC_SCOPES
    from dealpulse.standins.google import granted_scope

    settings = Settings.from_env({}, env="test", **google.settings_overrides())
    credentials = google_credentials(settings, refresh_token)
    with caplog.at_level(logging.WARNING, logger="google.oauth2"):
        ensure_fresh(credentials)
    assert not [r for r in caplog.records if "scopes" in r.getMessage()]
    assert set(credentials.granted_scopes) == set(granted_scope(" ".join(SYNC_SCOPES)).split())
