"""`dealpulse bench train`: training time and peak memory per rating count, and the held-out learning curve.

Each measurement runs in a fresh process (so peak RSS is its own) on a fresh SQLite database holding a copy of
the current seed version, with torch pinned to `threads` threads (the target machine has 2 cores).

Ratings are the team's own passages: the held-out jargon domain's rated part first, then seed-corpus train
passages, then (for counts beyond the corpus) the same passages with greeting / sign-off variants, spread over
five raters. The learning curve trains on the first N of them and reports macro-F1 on the domain passages that
are never rated, plus the seed eval split. Results: a table on stdout and JSON under var/bench/.
"""

from __future__ import annotations

import hashlib
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

DOMAIN = "federal-contracting"
GREETINGS = ("", "Hi Sam,\n\n", "Hello team,\n\n", "Dear Alex,\n\n", "Morning,\n\n")
SIGN_OFFS = ("", "\n\nBest, Jo", "\n\nThanks, Priya", "\n\nRegards, M.")
RATERS = 5
TARGET_SECONDS = 180


def domain_split() -> tuple[list, list]:
    """(rated part, never-rated test part) of the held-out domain, by a stable hash of the passage id."""
    from dealpulse.sentiment.corpus import load_domain_corpus

    passages = load_domain_corpus(DOMAIN)
    rated = [p for p in passages if hashlib.sha1(p.id.encode()).digest()[0] % 10 < 6]
    test = [p for p in passages if hashlib.sha1(p.id.encode()).digest()[0] % 10 >= 6]
    return rated, test


def rating_lines(count: int) -> list[str]:
    """`count` import lines: domain passages, then seed passages, then their greeting/sign-off variants."""
    from dealpulse.sentiment.corpus import load_seed_corpus

    rated, _ = domain_split()
    base = rated + load_seed_corpus().train
    lines = []
    for index in range(count):
        passage = base[index % len(base)]
        round_ = index // len(base)
        text = GREETINGS[round_ % len(GREETINGS)] + passage.text + SIGN_OFFS[(round_ // len(GREETINGS)) % len(SIGN_OFFS)]
        lines.append(json.dumps({"text": text, "label": passage.label, "rater": f"rep{index % RATERS}@bench.example"}))
    return lines


def _measure(seed_dir: str, count: int, threads: int) -> dict:
    """One training run in this (fresh) process; returns its numbers."""
    from dealpulse.config import Settings
    from dealpulse.services.org_setup import ensure_default_organisation
    from dealpulse.services.ratings_import import import_ratings
    from dealpulse.services.training import train_org_version
    from dealpulse.sentiment.few_shot import load_classifier
    from dealpulse.sentiment.trainer import evaluate_classifier
    from dealpulse.store.database import Database

    var = Path(tempfile.mkdtemp(prefix="bench-train-"))
    try:
        shutil.copytree(seed_dir, var / "models" / Path(seed_dir).name)
        settings = Settings(env="test", var_dir=var, model_dir=var / "models", torch_threads=threads).resolved()
        db = Database.connect(settings.database_url)
        db.upgrade()
        with db.uow() as uow:
            org_id = ensure_default_organisation(uow)
            if count:
                import_ratings(uow, org_id, rating_lines(count))
        _, test = domain_split()
        started = time.perf_counter()
        result = {"ratings": count}
        if count:
            report = train_org_version(settings, db, org_id, trigger="bench", rescore=lambda org: None)
            result.update(seconds=round(time.perf_counter() - started, 1), method=report.method,
                          version=report.version, promoted=report.promoted, reason=report.reason,
                          seed_eval_f1=report.seed_eval_f1, active_seed_eval_f1=report.active_seed_eval_f1,
                          holdout_f1=report.holdout_f1, active_holdout_f1=report.active_holdout_f1,
                          train_ratings=report.data["ratings"], replay=report.data["replay"])
            model = load_classifier(var / "models" / report.version)
        else:
            model = load_classifier(Path(seed_dir))
            from dealpulse.sentiment.corpus import load_seed_corpus

            result["seed_eval_f1"] = evaluate_classifier(*model, load_seed_corpus().eval).macro_f1
        result["domain_test_f1"] = evaluate_classifier(*model, test).macro_f1
        result["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        db.dispose()
        return result
    finally:
        shutil.rmtree(var, ignore_errors=True)


def run_isolated(seed_dir: Path, count: int, threads: int) -> dict:
    """`_measure` in a fresh Python process (its own peak memory); the last stdout line is its JSON."""
    completed = subprocess.run(
        [sys.executable, __file__, str(seed_dir), str(count), str(threads)], capture_output=True, text=True, check=False
    )
    if completed.returncode != 0:
        return {"ratings": count, "error": (completed.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(completed.stdout.strip().splitlines()[-1])


def main(settings, sizes: list[int], curve: list[int], threads: int) -> dict:
    """Run the timings and the learning curve; print a table; write JSON under var/bench/."""
    from dealpulse.sentiment.seed import build_seed_version
    from dealpulse.store.database import Database

    db = Database.connect(settings.database_url)
    db.upgrade()
    # The current corpus's seed (reused when built): an older active seed would make every measurement retrain it.
    seed_dir = build_seed_version(settings, db).path
    db.dispose()
    timings = []
    for count in sizes:
        print(f"timing {count} ratings ...", flush=True)
        timings.append(run_isolated(seed_dir, count, threads))
    points = []
    for count in curve:
        print(f"learning curve: {count} ratings ...", flush=True)
        points.append(run_isolated(seed_dir, count, threads))
    print()
    print(f"{'ratings':>8} {'method':<11} {'seconds':>8} {'peak MiB':>9} {'seed-eval F1':>14} {'held-out F1':>16} decision")
    for t in timings:
        if "error" in t:
            print(f"{t['ratings']:>8} {t['error']}")
            continue
        print(f"{t['ratings']:>8} {t['method']:<11} {t['seconds']:>8} {t['peak_rss_mib']:>9} "
              f"{t['active_seed_eval_f1']:.4f}->{t['seed_eval_f1']:.4f} "
              f"{(t['active_holdout_f1'] or 0):.4f}->{(t['holdout_f1'] or 0):.4f} {'promoted' if t['promoted'] else 'rejected'}")
    print()
    print(f"learning curve: macro-F1 on the never-rated '{DOMAIN}' passages ({threads} threads)")
    print(f"{'ratings':>8} {'method':<11} {'domain F1':>10} {'seed-eval F1':>13}")
    for p in points:
        if "error" in p:
            print(f"{p['ratings']:>8} {p['error']}")
            continue
        print(f"{p['ratings']:>8} {p.get('method', 'active'):<11} {p['domain_test_f1']:>10.4f} {p['seed_eval_f1']:>13.4f}")
    within = [t for t in timings if t.get("ratings") == 1000 and "seconds" in t]
    if within:
        verdict = "meets" if within[0]["seconds"] <= TARGET_SECONDS else "misses"
        print(f"\n1,000 ratings + seed corpus: {within[0]['seconds']} s ({verdict} the {TARGET_SECONDS} s target)")
    result = {"threads": threads, "seed_version": seed_dir.name, "timings": timings, "learning_curve": points,
              "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    out = Path(settings.var_dir) / "bench" / f"train-{datetime.now(timezone.utc):%Y%m%dT%H%M%S}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(f"JSON: {out}")
    return result


if __name__ == "__main__":
    print(json.dumps(_measure(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))))
