"""Measure reply-split candidates on tests/fixtures/mail/replies (accuracy) and our parsers' throughput.

Run: .venv/bin/python bench/bench_parsing.py   (candidate libraries that are not installed are skipped)
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
REPLIES = ROOT / "tests" / "fixtures" / "mail" / "replies"
SEPARATOR = "=== new text ===\n"
LENIENT_EXTRA_CHARS = 80  # a leftover sign-off/name/title after the message is tolerable for tone scoring
HELD_OUT_PREFIX = "h"  # cases written after our splitter was tuned, never tuned against


def load_cases() -> list[tuple[str, str, str]]:
    """(name, email body, expected new text) for every fixture."""
    cases = []
    for path in sorted(REPLIES.glob("*.txt")):
        body, expected = path.read_text(encoding="utf-8").split(SEPARATOR, 1)
        cases.append((path.stem, body, expected))
    return cases


def normalise(text: str | None) -> str:
    """Whitespace-insensitive form used for comparing new texts."""
    return re.sub(r"\s+", " ", text or "").strip()


def _candidates() -> dict[str, Callable[[str], str]]:
    found: dict[str, Callable[[str], str]] = {}
    from dealpulse.mail.reply_split import split_reply, split_signature

    found["dealpulse split_reply"] = lambda text: split_reply(text).new_text
    try:
        from email_reply_parser import EmailReplyParser as Zapier

        found["email-reply-parser 0.5"] = Zapier.parse_reply
        found["email-reply-parser + our sig"] = lambda text: split_signature(Zapier.parse_reply(text)).new_text
    except ImportError:
        pass
    try:
        from mailparser_reply import EmailReplyParser as Rausys

        parser = Rausys(languages=["en", "de", "fr", "es", "nl", "it"])
        found["mail-parser-reply 1.36"] = lambda text: parser.parse_reply(text) or ""
        found["mail-parser-reply + our sig"] = lambda text: split_signature(parser.parse_reply(text) or "").new_text
    except ImportError:
        pass
    try:
        import quotequail

        def quotequail_new_text(text: str) -> str:
            return "\n".join(part for shown, part in quotequail.quote(text) if shown)

        found["quotequail 0.5"] = quotequail_new_text
        found["quotequail + our sig"] = lambda text: split_signature(quotequail_new_text(text)).new_text
    except ImportError:
        pass
    return found


def measure_split(verbose: bool = False) -> list[dict]:
    """Accuracy of each candidate: exact (normalised) and lenient (a short trailing sign-off allowed)."""
    cases = load_cases()
    rows = []
    for name, split in _candidates().items():
        exact = lenient = held_exact = held_lenient = 0
        misses = []
        started = time.perf_counter()
        for case, body, expected in cases:
            got, want = normalise(split(body)), normalise(expected)
            exact += got == want
            ok = got.startswith(want) and len(got) - len(want) <= LENIENT_EXTRA_CHARS and (want or not got)
            lenient += bool(ok)
            if case.startswith(HELD_OUT_PREFIX):
                held_exact += got == want
                held_lenient += bool(ok)
            if got != want:
                misses.append(case)
        elapsed = time.perf_counter() - started
        rows.append(
            {
                "candidate": name,
                "cases": len(cases),
                "exact": exact,
                "lenient": lenient,
                "held_out_cases": sum(1 for case, _, _ in cases if case.startswith(HELD_OUT_PREFIX)),
                "held_out_exact": held_exact,
                "held_out_lenient": held_lenient,
                "ms_per_email": round(1000 * elapsed / len(cases), 3),
                "misses": misses,
            }
        )
    return rows


def measure_throughput(rounds: int = 200) -> list[dict]:
    """Items per second of each parsing step over the MIME and reply fixtures (one process, one core)."""
    from dealpulse.mail.html_text import html_to_text, sanitize_email_html
    from dealpulse.mail.mime import parse_gmail_full, parse_rfc822
    from dealpulse.mail.reply_split import split_reply
    from dealpulse.standins.gmail_server import GmailMailbox

    raws = [path.read_bytes() for path in sorted((ROOT / "tests" / "fixtures" / "mail" / "mime").glob("*.eml"))]
    mailbox = GmailMailbox("bench@dealvendor.com")
    resources = [mailbox.get_message(mailbox.add_message(raw), "full", []) for raw in raws]
    bodies = [body for _, body, _ in load_cases()]
    htmls = [mail.body_html for mail in map(parse_rfc822, raws) if mail.body_html]
    steps: dict[str, tuple[Callable, list]] = {
        "parse_rfc822": (parse_rfc822, raws),
        "parse_gmail_full": (parse_gmail_full, resources),
        "split_reply": (split_reply, bodies),
        "html_to_text": (html_to_text, htmls),
        "sanitize_email_html": (sanitize_email_html, htmls),
    }
    rows = []
    for name, (step, inputs) in steps.items():
        started = time.perf_counter()
        for _ in range(rounds):
            for item in inputs:
                step(item)
        elapsed = time.perf_counter() - started
        rows.append({"step": name, "items": rounds * len(inputs), "per_second": round(rounds * len(inputs) / elapsed)})
    return rows


def main() -> None:
    """Print the tables and write bench/results/parsing.json."""
    rows = measure_split()
    print(f"{'candidate':30} {'exact':>12} {'lenient':>12} {'held-out exact/lenient':>23} {'ms/email':>9}")
    for row in rows:
        n, h = row["cases"], row["held_out_cases"]
        print(
            f"{row['candidate']:30} {row['exact']:>3}/{n} {100 * row['exact'] / n:5.1f}%"
            f" {row['lenient']:>3}/{n} {100 * row['lenient'] / n:5.1f}%"
            f" {row['held_out_exact']:>10}/{h} {row['held_out_lenient']:>6}/{h}     {row['ms_per_email']:>9}"
        )
        if "-v" in sys.argv:
            print("   misses:", ", ".join(row["misses"]))
    throughput = measure_throughput()
    print(f"\n{'step':22} {'items':>7} {'per second':>11}")
    for row in throughput:
        print(f"{row['step']:22} {row['items']:>7} {row['per_second']:>11}")
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    (results / "parsing.json").write_text(json.dumps({"split": rows, "throughput": throughput}, indent=2))


if __name__ == "__main__":
    main()
