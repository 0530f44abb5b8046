"""`dealpulse ratings import`: all lines or none, bad lines by number, imported raters, held-out split, history."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from dealpulse.sentiment.holdout import is_holdout_text
from dealpulse.services.ratings_import import (
    RatingsImportError,
    import_ratings,
    parse_line,
    text_item_key,
)
from dealpulse.store import Activity, Organisation, Rater, Rating, RatingChange, utcnow


def _lines(*records: object) -> list[str]:
    return [r if isinstance(r, str) else json.dumps(r) for r in records]


def _email(db, org_id: int, text: str, kind: str = "email") -> int:
    with db.uow() as uow:
        activity = Activity(org_id=org_id, kind=kind, direction="inbound", dedupe_key=f"mid:{text[:20]}-{kind}@x",
                            occurred_at=utcnow() - timedelta(hours=1), new_text=text)
        uow.s.add(activity)
        uow.commit()
        return activity.id


def _count(db, model) -> int:
    with db.uow() as uow:
        return uow.s.scalar(select(func.count(model.id)))


def test_import_stores_ratings_records_unknown_raters_as_imported_and_keeps_history(db, world) -> None:
    activity_id = _email(db, world.org_id, "We signed the order form this morning.")
    with db.uow() as uow:
        summary = import_ratings(uow, world.org_id, _lines(
            {"text": "Budget is frozen until next year.", "label": "negative", "rater": "Pat@Buyer.example"},
            {"activity_id": activity_id, "label": "positive", "rater": "pat@buyer.example", "note": "clear yes"},
            {"text": "Budget is frozen until next year.", "label": "neutral", "rater": "sam@seller.example"},
        ))
    assert (summary.created, summary.changed, summary.new_raters) == (3, 0, ["pat@buyer.example", "sam@seller.example"])
    with db.uow() as uow:
        raters = {r.key: r for r in uow.s.scalars(select(Rater).where(Rater.org_id == world.org_id))}
        assert raters["pat@buyer.example"].is_imported
        on_email = uow.s.scalar(select(Rating).where(Rating.activity_id == activity_id))
        assert on_email.text == "We signed the order form this morning." and on_email.note == "clear yes"
        shared = uow.s.scalars(select(Rating).where(Rating.item_key == text_item_key("Budget is frozen until next year.")))
        assert len(list(shared)) == 2  # one item, two raters
    with db.uow() as uow:  # importing again changes the label and appends to the history
        again = import_ratings(uow, world.org_id, _lines(
            {"activity_id": activity_id, "label": "neutral", "rater": "pat@buyer.example"},
            {"text": "Budget is frozen until next year.", "label": "neutral", "rater": "sam@seller.example"},
        ))
    assert (again.created, again.changed, again.unchanged) == (0, 1, 1)
    with db.uow() as uow:
        rating = uow.s.scalar(select(Rating).where(Rating.activity_id == activity_id))
        history = uow.s.scalars(select(RatingChange.label).where(RatingChange.rating_id == rating.id).order_by(RatingChange.id))
        assert list(history) == ["positive", "neutral"]


def test_bad_lines_are_reported_by_number_and_nothing_is_imported(db, world) -> None:
    meeting = _email(db, world.org_id, "Quarterly review", kind="meeting")
    foreign = _email(db, world.other_org_id, "Another organisation's email")
    lines = _lines(
        {"text": "Fine line", "label": "positive", "rater": "a@x"},
        "{not json",
        {"text": "No label", "rater": "a@x"},
        {"text": "Bad label", "label": "great", "rater": "a@x"},
        {"activity_id": 999_999, "label": "neutral", "rater": "a@x"},
        {"text": "Both", "activity_id": 1, "label": "neutral", "rater": "a@x"},
        {"label": "neutral", "rater": "a@x"},
        {"text": "No rater", "label": "neutral"},
        {"activity_id": meeting, "label": "neutral", "rater": "a@x"},
        {"activity_id": foreign, "label": "neutral", "rater": "a@x"},
        "",
        "[1, 2]",
    )
    with db.uow() as uow, pytest.raises(RatingsImportError) as caught:
        import_ratings(uow, world.org_id, lines)
    assert [number for number, _ in caught.value.problems] == [2, 3, 4, 5, 6, 7, 8, 9, 10, 12]
    reasons = dict(caught.value.problems)
    assert "JSON" in reasons[2] and "label" in reasons[3] and "great" in reasons[4]
    assert "unknown activity" in reasons[5] and "exactly one" in reasons[6] and "exactly one" in reasons[7]
    assert "rater" in reasons[8] and "meeting" in reasons[9] and "unknown activity" in reasons[10]
    assert _count(db, Rating) == 0 and _count(db, Rater) == 0


def test_the_held_out_split_is_a_stable_share_of_texts() -> None:
    texts = [f"We can sign order number {i} this week." for i in range(2000)]
    share = sum(map(is_holdout_text, texts)) / len(texts)
    assert 0.16 < share < 0.24
    assert [is_holdout_text(t) for t in texts] == [is_holdout_text(t) for t in texts]


@pytest.mark.parametrize("variant", [
    "Hi Sam,\n\nWe can sign order number {i} this week.\n\nBest, Jo",
    "Morning,\n\nwe can sign ORDER number {i} this week!\n\nRegards,\nPriya Shah\nHead of IT",
    "We can sign order number {i} this week.\n\nOn Tue, 8 Sep 2026, Sam Lee <sam@seller.example> wrote:\n> Any news?",
])
def test_the_same_words_with_another_greeting_sign_off_or_quote_stay_on_the_same_side(variant: str) -> None:
    texts = [f"We can sign order number {i} this week." for i in range(300)]
    assert [is_holdout_text(variant.format(i=i)) for i in range(300)] == [is_holdout_text(t) for t in texts]
    assert any(map(is_holdout_text, texts)) and not all(map(is_holdout_text, texts))


@hypothesis_settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(max_size=80), st.dictionaries(st.sampled_from(["text", "label", "rater", "activity_id", "note"]),
                                                        st.one_of(st.none(), st.integers(), st.text(max_size=20)))))
def test_any_line_parses_to_a_rating_or_a_reason(value) -> None:
    raw = value if isinstance(value, str) else json.dumps(value)
    result = parse_line(raw, 1)
    assert isinstance(result, str) or result.label in ("negative", "neutral", "positive")


def test_cli_imports_a_file_into_the_default_organisation(cli, db, tmp_path: Path) -> None:
    path = tmp_path / "ratings.jsonl"
    path.write_text("\n".join(_lines(
        {"text": "We will sign on Friday.", "label": "positive", "rater": "rep@seller.example"},
        {"text": "Let me circle back after the budget review.", "label": "negative", "rater": "rep@seller.example"},
    )) + "\n", encoding="utf-8")
    result = cli("ratings", "import", str(path))
    assert result.exit_code == 0, result.output
    assert "imported 2 ratings" in result.output and "1 new" in result.output
    with db.uow() as uow:
        assert uow.s.scalar(select(func.count(Organisation.id))) == 1
    assert _count(db, Rating) == 2


def test_cli_reports_bad_lines_and_imports_nothing(cli, db, world, tmp_path: Path) -> None:
    path = tmp_path / "ratings.jsonl"
    path.write_text('{"text": "ok", "label": "positive", "rater": "a@x"}\n{"text": "x", "label": "meh", "rater": "a@x"}\n',
                    encoding="utf-8")
    result = cli("ratings", "import", str(path), "--org", str(world.org_id))
    assert result.exit_code != 0
    assert f"{path}:2:" in result.output and "nothing was imported" in result.output
    assert _count(db, Rating) == 0
    several = cli("ratings", "import", str(path))
    assert several.exit_code != 0 and "--org" in several.output


_WORDS = st.lists(st.text("abcdefghijklmnopqrstuvwxyz", min_size=2, max_size=9), min_size=3, max_size=14)


@hypothesis_settings(max_examples=150, deadline=None)
@given(words=_WORDS, greeting=st.sampled_from(["", "Hi Sam,", "Hello team,", "Dear Ms. Okafor,", "Morning all:"]),
       closing=st.sampled_from(["", "Best, Jo", "Thanks,\nPriya", "Kind regards,\nAnna Schmidt", "Cheers!"]),
       shout=st.booleans())
def test_a_wording_keeps_its_side_whatever_greeting_sign_off_or_case_it_comes_with(words, greeting, closing, shout):
    body = " ".join(words).capitalize() + "."
    variant = "\n\n".join(part for part in (greeting, body.upper() if shout else body, closing) if part)
    assert is_holdout_text(variant) == is_holdout_text(body)


def test_the_reps_own_outbound_email_cannot_be_imported_as_a_rating(db, world) -> None:
    with db.uow() as uow:
        sent = Activity(org_id=world.org_id, kind="email", direction="outbound", dedupe_key="mid:own-1@x",
                        occurred_at=utcnow(), new_text="Following up on our proposal.")
        uow.s.add(sent)
        uow.commit()
        line = json.dumps({"activity_id": sent.id, "label": "neutral", "rater": "rep@seller.example"})
        with pytest.raises(RatingsImportError) as raised:
            import_ratings(uow, world.org_id, [line])
    assert raised.value.problems == [(1, f"activity {sent.id} is the rep's own outbound email: only the buyer's emails are rated")]
