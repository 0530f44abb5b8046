"""Agreement between the two labellers of the real-writing evaluation: Cohen's kappa overall and per source, and the confusion between them.

Run from the repository root with the project's Python:

    python models/sentiment/eval/agreement.py [--json]

Reads real-writing.passages.jsonl, real-writing.labels-a.jsonl and real-writing.labels-b.jsonl from this folder
(only passages present in all three are compared; passages dropped after labelling are ignored).
"""

import argparse
import json
from collections import Counter
from pathlib import Path

from sklearn.metrics import cohen_kappa_score, confusion_matrix

HERE = Path(__file__).resolve().parent
LABELS = ("negative", "neutral", "positive")


def read_jsonl(path: Path) -> list[dict]:
    """Rows of a JSON-lines file, blank lines skipped."""
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def paired_labels(folder: Path = HERE) -> list[tuple[str, str, str, str]]:
    """(id, source, label A, label B) for every passage both labellers labelled."""
    sources = {row["id"]: row["source"] for row in read_jsonl(folder / "real-writing.passages.jsonl")}
    labels_a = {row["id"]: row["label"] for row in read_jsonl(folder / "real-writing.labels-a.jsonl")}
    labels_b = {row["id"]: row["label"] for row in read_jsonl(folder / "real-writing.labels-b.jsonl")}
    return [
        (pid, source, labels_a[pid], labels_b[pid])
        for pid, source in sources.items()
        if pid in labels_a and pid in labels_b
    ]


def agreement(pairs: list[tuple[str, str, str, str]]) -> dict:
    """Kappa, raw agreement and A-by-B confusion, overall and per source."""

    def summary(rows):
        a = [row[2] for row in rows]
        b = [row[3] for row in rows]
        return {
            "n": len(rows),
            "kappa": round(float(cohen_kappa_score(a, b, labels=list(LABELS))), 4),
            "agreement": round(sum(x == y for x, y in zip(a, b)) / len(rows), 4),
            "labels_a": dict(Counter(a)),
            "labels_b": dict(Counter(b)),
            "confusion_a_rows_b_columns": confusion_matrix(a, b, labels=list(LABELS)).tolist(),
        }

    by_source: dict[str, list] = {}
    for row in pairs:
        by_source.setdefault(row[1], []).append(row)
    return {
        "overall": summary(pairs),
        "by_source": {source: summary(rows) for source, rows in sorted(by_source.items())},
        "disagreements": sum(row[2] != row[3] for row in pairs),
    }


def render(result: dict) -> str:
    """Plain-text report of an agreement() result."""
    lines = []
    for name, block in [("overall", result["overall"]), *result["by_source"].items()]:
        lines.append(f"{name}: n={block['n']} kappa={block['kappa']:.3f} agreement={block['agreement']:.3f}")
    overall = result["overall"]["confusion_a_rows_b_columns"]
    lines.append("confusion (rows labeller A, columns labeller B): " + " ".join(LABELS))
    for label, row in zip(LABELS, overall):
        lines.append(f"  {label:>8} " + " ".join(f"{count:>8}" for count in row))
    lines.append(f"disagreements: {result['disagreements']}")
    return "\n".join(lines)


def main() -> None:
    """Print the agreement report (text, or JSON with --json)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    args = parser.parse_args()
    result = agreement(paired_labels())
    print(json.dumps(result, indent=2) if args.json else render(result))


if __name__ == "__main__":
    main()
