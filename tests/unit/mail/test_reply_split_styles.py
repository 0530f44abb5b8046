"""Header-block quoting styles of Outlook and Lotus Notes, localised headers, and ">" that is not a quote.

Real mail from Outlook and Notes starts its history with a header block rather than "On ... wrote:"; the rep's
reply must be split from the customer's quoted words whatever names, dates and wording the block carries.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from dealpulse.mail.reply_split import split_reply

WORDS = st.sampled_from(
    "we can sign the order next week budget is approved please send the contract thanks for the quick answer "
    "our team liked the demo price is too high for now legal has the paper".split()
)
SENTENCE = st.lists(WORDS, min_size=3, max_size=12).map(lambda ws: ws[0].capitalize() + " " + " ".join(ws[1:]) + ".")
NEW_TEXT = st.lists(SENTENCE, min_size=1, max_size=3).map(" ".join)
QUOTED = st.lists(SENTENCE, min_size=1, max_size=4).map(" ".join)
FIRST = st.sampled_from(["Lisa", "Jeff", "Sara", "Priya", "Tom", "Ana", "Jürgen", "Zoë"])
LAST = st.sampled_from(["Wells", "Dasovich", "Shackleton", "Shah", "O'Neil", "Müller", "van der Berg"])
MONTH = st.integers(1, 12)
DAY = st.integers(1, 28)
YEAR = st.integers(1999, 2027)
HOUR = st.integers(1, 12)
MINUTE = st.integers(0, 59)


@st.composite
def notes_moment(draw) -> str:
    seconds = draw(st.sampled_from(["", ":12", ":59"]))
    return f"{draw(MONTH):02d}/{draw(DAY):02d}/{draw(YEAR)} {draw(HOUR):02d}:{draw(MINUTE):02d}{seconds} {draw(st.sampled_from(['AM', 'PM']))}"


@st.composite
def outlook_block(draw) -> str:
    first, last = draw(FIRST), draw(LAST)
    labels = draw(st.sampled_from([
        ("From", "Sent", "To", "Subject"), ("De", "Envoyé", "À", "Objet"), ("Von", "Gesendet", "An", "Betreff"),
        ("From", "Date", "To", "Subject"),
    ]))
    colon = draw(st.sampled_from([":", " :", ":\t"]))
    rule = draw(st.sampled_from(["", "-----Original Message-----\n", "_" * 32 + "\n", " -----Original Message-----\n"]))
    lines = [
        f"{labels[0]}{colon} {last}, {first} [mailto:{first.lower()}@example.com]",
        f"{labels[1]}{colon} Thursday, April {draw(DAY)}, {draw(YEAR)} {draw(HOUR)}:{draw(MINUTE):02d} PM",
        f"{labels[2]}{colon} {draw(FIRST)} {draw(LAST)}",
        f"{labels[3]}{colon} RE: renewal",
    ]
    return rule + "\n".join(lines)


@st.composite
def notes_block(draw) -> str:
    first, last = draw(FIRST), draw(LAST)
    moment = draw(notes_moment())
    head = draw(st.sampled_from([
        f'"{first} {last}" <{first.lower()}.{last.lower().replace(" ", "")}@example.com> on {moment}',
        f"From:\t{first} {last} on {moment}",
        f"{first} {last}@ECT\n{moment}",
        f"{first} {last}\nSent by: {first} {last}@ECT\n{moment}",
        # Notes wraps at 78 characters: the time of a long attribution lands on the next line
        f'"{first} {last}" <{first.lower()}@example.com> on {moment.split(" ", 1)[0]}\n{moment.split(" ", 1)[1]}',
    ]))
    cc = draw(st.sampled_from(["cc:\t \n", "cc: \n", ""]))
    return f"{head}\nTo:\t{draw(FIRST)} {draw(LAST)}/NA/Enron@Enron\n{cc}Subject:\tRe: terms"


@st.composite
def forwarded_block(draw) -> str:
    dashes = "-" * draw(st.integers(3, 22))
    moment = draw(notes_moment())
    wrap = draw(st.sampled_from([" ", " \n"]))  # a banner wrapped before its time, as Notes does at 78 characters
    day, time = moment.split(" ", 1)
    return f"{dashes} Forwarded by {draw(FIRST)} {draw(LAST)}/HOU/ECT on {day}{wrap}{time} {dashes}\n\n\n" + draw(notes_block())


STYLES = {"outlook": outlook_block(), "notes": notes_block(), "forwarded": forwarded_block()}


@settings(max_examples=150, deadline=None)
@given(new=NEW_TEXT, quoted=QUOTED, block=st.one_of(*STYLES.values()), gap=st.sampled_from(["\n\n", "\n\n\n\n\n", "\n"]))
def test_header_block_history_is_split_from_the_new_text(new, quoted, block, gap):
    parts = split_reply(f"{new}{gap}{block}\n\n{quoted}\n")
    assert parts.new_text == new
    assert quoted in parts.quoted_text


@settings(max_examples=100, deadline=None)
@given(intro=NEW_TEXT, items=st.lists(SENTENCE, min_size=1, max_size=5), outro=NEW_TEXT)
def test_gt_bullets_without_attribution_stay_in_the_new_text(intro, items, outro):
    bullets = "\n".join(f"> {item}" for item in items)
    parts = split_reply(f"{intro}\n\n{bullets}\n\n{outro}\n")
    assert parts.quoted_text == ""
    assert all(item in parts.new_text for item in items) and outro in parts.new_text


@settings(max_examples=100, deadline=None)
@given(new=NEW_TEXT, earlier=QUOTED)
def test_a_gt_block_repeating_earlier_mail_of_the_thread_is_history(new, earlier):
    body = f"{new}\n\n" + "\n".join(f"> {line}" for line in earlier.split(". ")) + "\n"
    parts = split_reply(body, earlier=[f"Hi,\n\n{earlier}\n\nBest, Sam"])
    assert parts.new_text == new


@settings(max_examples=100, deadline=None)
@given(questions=st.lists(SENTENCE, min_size=1, max_size=4), answers=st.lists(SENTENCE, min_size=1, max_size=4))
def test_interleaved_answers_are_new_text_and_questions_are_history(questions, answers):
    pairs = list(zip(questions, answers))
    body = "On Tue, Mar 4, 2025 at 9:30 AM Nina Kowalski <nina@vendor.example> wrote:\n"
    body += "\n".join(f"> {q}\n{a}" for q, a in pairs)
    parts = split_reply(body)
    assert parts.new_text.split("\n") == [a for _, a in pairs]
    assert all(q in parts.quoted_text for q, _ in pairs)
