"""Bench: the naive transformers pipeline (batch 1, fp32, whole raw email) against our scorer, same weights.

Every variant is timed on the same chunk of emails before the next chunk, so a noisy neighbour slows them alike.

Run as `dealpulse bench scoring` (or `python bench/bench_scoring.py`). Prints a table and writes
var/bench/scoring.json: emails/second over realistic emails, p50/p95 single-email latency, macro-F1 on the
seed corpus's evaluation split with its opposite-polarity errors (positive read negative or the reverse), and the
throughput ratio, all measured in one process. The CPU model and its vector extensions are recorded with the
figures: int8 speed depends on AVX-512 / VNNI / AMX.
"""

from __future__ import annotations

import json
import os
import platform
import random
import time
from pathlib import Path
from typing import Callable, Sequence

import torch

from dealpulse.config import Settings
from dealpulse.sentiment.base_model import choose_threads, force_offline, quiet_transformers
from dealpulse.sentiment.corpus import load_seed_corpus
from dealpulse.sentiment.evaluation import classification_metrics, is_opposite_polarity
from dealpulse.sentiment.modeling import load_tone_classifier
from dealpulse.sentiment.scorer import DEFAULT_RUNTIME, RUNTIMES, ToneScorer
from dealpulse.sentiment.seed import ensure_seed_model
from dealpulse.store.database import Database

LATENCY_SAMPLES = 200
VECTOR_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_tile", "amx_int8")
BATCH = 64

_NAMES = ["Anna", "Marco", "Priya", "Jonas", "Chen", "Fatima", "Luis", "Sophie", "Kwame", "Ingrid"]
_TITLES = ["Head of Procurement", "CFO", "IT Director", "VP Operations", "Plant Manager", "Purchasing Lead"]
_COMPANIES = ["Acme Fleet GmbH", "Brightwater Health", "Northwind Foods", "Contoso Retail", "Globex Logistics"]
_ANGRY = [
    "This is completely unacceptable. We have waited three weeks and nobody has answered.",
    "Frankly we are disappointed with how this has gone so far.",
    "If this is not fixed by Friday we will have to look elsewhere.",
]
_DISCLAIMER = (
    "CONFIDENTIALITY NOTICE: This e-mail message, including any attachments, is for the sole use of the intended "
    "recipient(s) and may contain confidential and privileged information. Any unauthorized review, use, "
    "disclosure or distribution is prohibited. If you are not the intended recipient, please contact the sender "
    "by reply e-mail and destroy all copies of the original message."
)


def compose_email(passage: str, history: Sequence[str], rng: random.Random) -> str:
    """A realistic inbound email around a passage: greeting, signature, sometimes quoted history and a disclaimer."""
    sender, rep = rng.choice(_NAMES), rng.choice(_NAMES)
    parts = [f"Hi {rep},", "", passage, "", rng.choice(["Best regards,", "Thanks,", "Kind regards,", "Cheers,"]), sender]
    if rng.random() < 0.7:
        parts += [f"{rng.choice(_TITLES)} | {rng.choice(_COMPANIES)}", f"+44 20 7946 {rng.randint(1000, 9999)}"]
    if rng.random() < 0.3:
        parts += ["", _DISCLAIMER]
    if rng.random() < 0.6:
        day = rng.randint(1, 28)
        parts += ["", f"On Mon, {day} Sep 2026 at 10:{rng.randint(10, 59)}, {rep} Lee <{rep.lower()}@seller.example> wrote:"]
        quoted = list(rng.sample(list(history), k=min(len(history), rng.randint(1, 3))))
        if rng.random() < 0.3:
            quoted.append(rng.choice(_ANGRY))
        parts += ["> " + line for text in quoted for line in (text, "")]
    return "\n".join(parts)


def realistic_emails(count: int, seed: int = 11) -> list[str]:
    """`count` emails composed from the evaluation passages, quoting training passages as history."""
    corpus = load_seed_corpus()
    rng = random.Random(seed)
    history = [p.text for p in corpus.train]
    return [compose_email(corpus.eval[i % len(corpus.eval)].text, history, rng) for i in range(count)]


def cpu_description(cpuinfo: str | None = None) -> dict:
    """The CPU model and which of the vector extensions that matter to int8 inference it has (from /proc/cpuinfo)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            cpuinfo = ""
    model, flags = platform.processor() or platform.machine(), set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and value.strip():
            model = value.strip()
        elif key.strip() in ("flags", "Features") and not flags:
            flags = set(value.split())
    return {"model": model, "vector_extensions": [flag for flag in VECTOR_FLAGS if flag in flags]}


def opposite_polarity_count(gold: Sequence[str], predicted: Sequence[str]) -> int:
    """How many passages were read with the opposite polarity."""
    return sum(1 for g, p in zip(gold, predicted) if is_opposite_polarity(g, p))


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by nearest rank."""
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, int(round(q / 100 * len(ordered) + 0.5)) - 1))
    return ordered[index]


def timed(function: Callable[[], object]) -> float:
    """Seconds one call takes."""
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def naive_pipeline(version_dir: Path):
    """The baseline: transformers `pipeline("text-classification")` on the same weights, fp32, batch 1."""
    from transformers import pipeline

    from transformers.utils import logging as hf_logging

    model, tokenizer = load_tone_classifier(version_dir)  # the version's own head (CLS pooler or mean pooling)
    with quiet_transformers():
        # The pipeline lists every class it knows when handed our mean-pooling head (it runs it all the same).
        hf_logging.set_verbosity(hf_logging.CRITICAL)
        return pipeline("text-classification", model=model.eval(), tokenizer=tokenizer, device=-1)


def naive_classify(classifier) -> Callable[[str], str]:
    """The baseline's way of scoring one email: the raw email, batch 1, truncated at the encoder's 512 tokens."""
    return lambda text: classifier(text, truncation=True, max_length=512)[0]["label"]


def interleaved_timings(
    baseline: Callable[[str], object], scorers: dict[str, ToneScorer], emails: list[str], baseline_emails: int
) -> dict[str, dict]:
    """Time every variant on the same chunk of emails before moving to the next, so load changes hit all alike.

    Throughput: the baseline one email at a time, our scorers a chunk of BATCH emails per call. Latency: one email
    at a time through every variant, for the first LATENCY_SAMPLES emails.
    """
    baseline(emails[0])
    seconds = {name: 0.0 for name in ["baseline", *scorers]}
    counted = {name: 0 for name in seconds}
    for start in range(0, len(emails), BATCH):
        chunk = emails[start : start + BATCH]
        if start < baseline_emails:
            timed_chunk = chunk[: baseline_emails - start]
            seconds["baseline"] += sum(timed(lambda e=e: baseline(e)) for e in timed_chunk)
            counted["baseline"] += len(timed_chunk)
        for name, scorer in scorers.items():
            seconds[name] += timed(lambda c=chunk, s=scorer: s.score_texts(c))
            counted[name] += len(chunk)
    latencies: dict[str, list[float]] = {name: [] for name in seconds}
    for email in emails[:LATENCY_SAMPLES]:
        latencies["baseline"].append(timed(lambda e=email: baseline(e)))
        for name, scorer in scorers.items():
            latencies[name].append(timed(lambda e=email, s=scorer: s.score_texts([e])))
    return {
        name: {
            "emails": counted[name],
            "emails_per_second": round(counted[name] / seconds[name], 2),
            "p50_ms": round(percentile(latencies[name], 50) * 1000, 2),
            "p95_ms": round(percentile(latencies[name], 95) * 1000, 2),
        }
        for name in seconds
    }


def render_table(rows: dict[str, dict]) -> str:
    """The results as a Markdown table."""
    lines = [
        "| variant | emails/s | p50 ms | p95 ms | macro-F1 (eval) | opposite polarity (eval) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, r in rows.items():
        lines.append(
            f"| {name} | {r['emails_per_second']:.1f} | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} | {r['macro_f1']:.4f} "
            f"| {r['opposite_polarity']} |"
        )
    return "\n".join(lines)


def main(
    settings: Settings, db: Database, *, emails: int = 2000, baseline_emails: int = 2000, runtimes: Sequence[str] = RUNTIMES
) -> dict:
    """Run the bench, print the table, write var/bench/scoring.json, and return the results."""
    force_offline()
    load_before = os.getloadavg()[0]
    threads = choose_threads(settings.torch_threads)
    torch.set_num_threads(threads)
    version = ensure_seed_model(settings, db)
    version_dir = Path(settings.model_dir) / version
    corpus = load_seed_corpus()
    mail = realistic_emails(emails)
    eval_texts, gold = [p.text for p in corpus.eval], [p.label for p in corpus.eval]
    classify = naive_classify(naive_pipeline(version_dir))
    ordered = sorted(set(runtimes) | {DEFAULT_RUNTIME}, key=lambda r: (r != DEFAULT_RUNTIME, r))
    scorers = {runtime: ToneScorer(version_dir, runtime=runtime, threads=threads) for runtime in ordered}
    timings = interleaved_timings(classify, scorers, mail, baseline_emails)
    baseline_name = "naive pipeline (batch 1, fp32)"
    naive = [classify(t) for t in eval_texts]
    rows = {baseline_name: {**timings["baseline"], "macro_f1": classification_metrics(gold, naive).macro_f1,
                            "opposite_polarity": opposite_polarity_count(gold, naive)}}
    for runtime, scorer in scorers.items():
        label = f"our scorer ({runtime}{', default' if runtime == DEFAULT_RUNTIME else ''})"
        predicted = [r.label for r in scorer.score_texts(eval_texts)]
        rows[label] = {**timings[runtime], "macro_f1": classification_metrics(gold, predicted).macro_f1,
                       "opposite_polarity": opposite_polarity_count(gold, predicted)}
    baseline, ours = rows[baseline_name], rows[next(k for k in rows if "default" in k)]
    summary = {
        "throughput_ratio": round(ours["emails_per_second"] / baseline["emails_per_second"], 2),
        "f1_difference_points": round((ours["macro_f1"] - baseline["macro_f1"]) * 100, 2),
        "p95_ms": ours["p95_ms"],
        "opposite_polarity": ours["opposite_polarity"],
        "targets": {"throughput_ratio": ">= 5", "p95_ms": "<= 40", "f1_difference_points": ">= -1"},
    }
    cpu = cpu_description()
    result = {
        "model_version": version,
        "threads": threads,
        "machine": f"{cpu['model']} ({', '.join(cpu['vector_extensions']) or 'no AVX2'}), {threads} torch threads",
        "cpu": cpu,
        "torch": torch.__version__,
        "eval_passages": len(eval_texts),
        "load_average": {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)},
        "rows": rows,
        "summary": summary,
    }
    out = Path(settings.var_dir) / "bench" / "scoring.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(f"CPU: {result['machine']}")
    print(render_table(rows))
    print(
        f"\nthroughput ratio {summary['throughput_ratio']}x (target >= 5x), p95 {ours['p95_ms']} ms (target <= 40), "
        f"F1 difference {summary['f1_difference_points']:+.2f} points (target within 1), "
        f"{ours['opposite_polarity']} of {len(eval_texts)} eval passages read with the opposite polarity\nwritten {out}"
    )
    return result


if __name__ == "__main__":
    from dealpulse import runtime

    process_settings = runtime.get_settings()
    database = runtime.get_database(process_settings)
    if process_settings.is_sqlite:
        database.upgrade()
    main(process_settings, database)
