"""Issue #18 in Chromium at 320 px: a buyer's email that states a close date and a budget answer shows both as
suggestions with the sentence; Apply sets the close date on the deal and audits it as a suggestion accepted."""

from __future__ import annotations

from sqlalchemy import select

from dealpulse.store import AuditEntry, Opportunity, utcnow
from tests.e2e.conftest import open_pane
from tests.e2e.test_outlook_pane import item_for, wait_loaded


def test_a_suggestion_shows_its_sentence_and_apply_sets_it(page, live_server, world, inbox, db, active_tone):
    year = utcnow().year + 1
    sentence = f"We aim to sign by 31 March {year}."
    stored = inbox.email(label="positive", text=f"Thanks for the demo. {sentence} The budget is approved.")
    page.set_viewport_size({"width": 320, "height": 700})
    open_pane(page, live_server, item_for(stored), world.tokens["rep.a1"])
    wait_loaded(page)
    card = page.text_content("#suggestions")
    assert "Close date" in card and sentence in card
    assert "Within budget? → Yes" in card and "The budget is approved." in card
    page.click("#suggestions li[data-field='close_date'] button")
    page.wait_for_selector("#suggestions-status:has-text('Applied: Close date')")
    assert str(year) in page.text_content("#deal-facts")
    with db.uow() as uow:
        opp = uow.s.get(Opportunity, world.opportunities["a1_acme"])
        assert opp.close_date.isoformat() == f"{year}-03-31"
        fields = set(uow.s.scalars(select(AuditEntry.field).where(AuditEntry.entity_id == opp.id, AuditEntry.version == opp.version)))
    assert fields == {"close_date", "suggestion.accepted"}
    assert page.query_selector("#suggestions li[data-field='close_date']") is None  # applied: no longer offered
