"""`dealpulse bench fleet`: the scaled-out deployment under mail load, email-to-alert latency, nothing lost.

Runs the deployment as separate processes: gunicorn (2 workers x 4 threads) serving the app, W `dealpulse worker
--queue default` processes and one `dealpulse worker --queue scoring` process, on PostgreSQL (--database-url, which is
EMPTIED) and Redis (--broker-url, whose DealPulse queues are flushed), with the Google stand-in in this process. N Gmail
mailboxes of the demo organisation's reps receive R messages per minute each for M minutes: customer replies in
threads, a share of strongly negative ones, the reps' own outbound mail, out-of-office replies and newsletters (noise).
Every message is followed by Gmail's Pub/Sub push to the app; the 1-minute poll is the safety net. With
--kill-worker one default worker is SIGKILLed half way and a new one started (what a supervisor does).

For every message: arrival (handed to the provider) to stored (its activity's created_at), to scored (its first
score's scored_at), and for the strongly negative email that is a deal's latest buyer email, to its alert being
visible through GET /api/v1/alerts (polled every half second). Prints a table and writes var/bench/fleet.json:
messages per second, p50/p95/p99 latencies, queue depth over time, CPU and peak memory per process, lost and
duplicated messages (both must be 0) and alerts never seen.

One warm-up message is synced and scored before the measured run (the scoring worker loads its model then). Each
mailbox's last message is strongly negative, so every run expects alerts. Gmail only (the Microsoft stand-in is not
driven yet); faults other than the worker kill (Redis and PostgreSQL restarts, provider 429/5xx) are not injected yet.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import random
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_memory import children, environment, rss_kib, wait_for

from dealpulse.config import Settings
from dealpulse.demo.orgdata import load_org
from dealpulse.services.dynamics import in_tone_trend
from dealpulse.services.mailboxes import add_mailbox
from dealpulse.services.org_setup import create_personal_token, load_organisation
from dealpulse.standins.google import GoogleStandIn
from dealpulse.standins.sample_mail import rfc822
from dealpulse.store import Activity, ActivitySource, Base, Mailbox, Opportunity, SentimentScore, Stage
from dealpulse.store.database import Database
from dealpulse.tasks import build_queues
from dealpulse.tasks.sync import sync_mailbox_task

NEGATIVE = "Unfortunately we have decided to go with another vendor. Please stop all work on the proposal."
NEUTRAL = ["Thanks for the update. Could you send the revised pricing by Friday?",
           "The security review is scheduled for next week; our team will join the call.",
           "Looks good to us so far. Let's keep the rollout plan on track."]
OUTBOUND = "Hi, following up on the rollout plan: does Thursday work for the next call?"


@dataclass
class Injected:
    """One message handed to the provider."""

    message_id: str
    mailbox: str
    kind: str  # inbound | negative | outbound | ooo | noise
    at: float  # time.time() when added to the mailbox


@dataclass
class Observations:
    """What the observer saw while the run went on."""

    alerts_seen: dict[int, tuple[float, int]] = field(default_factory=dict)  # opportunity -> (first seen, its activity)
    queue_depth: list[dict[str, Any]] = field(default_factory=list)


def percentiles(values: list[float]) -> dict[str, float | None]:
    """p50, p95, p99 and max of `values` in seconds (None when empty)."""
    if not values:
        return {"count": 0, "p50": None, "p95": None, "p99": None, "max": None}
    ordered = sorted(values)
    cut = statistics.quantiles(ordered, n=100, method="inclusive") if len(ordered) > 1 else [ordered[0]] * 99
    return {"count": len(ordered), "p50": round(cut[49], 3), "p95": round(cut[94], 3), "p99": round(cut[98], 3),
            "max": round(ordered[-1], 3)}


def plan_messages(boxes: list[str], contacts: list[dict[str, Any]], rate: float, minutes: float,
                  rng: random.Random) -> list[tuple[float, str, str, dict[str, Any]]]:
    """(offset seconds, mailbox, kind, contact) for every message; each mailbox's last message is strongly negative."""
    plan = []
    seconds = minutes * 60
    per_box = max(1, round(rate * minutes))
    for index, box in enumerate(boxes):
        mine = [c for i, c in enumerate(contacts) if i % len(boxes) == index % len(contacts)] or contacts
        offsets = sorted(rng.uniform(0, seconds * 0.95) for _ in range(per_box))
        for n, offset in enumerate(offsets):
            roll = rng.random()
            kind = ("negative" if roll < 0.15 else "outbound" if roll < 0.30 else "ooo" if roll < 0.35
                    else "noise" if roll < 0.40 else "inbound")
            if n == len(offsets) - 1:
                kind = "negative"
            plan.append((offset, box, kind, rng.choice(mine)))
    return sorted(plan, key=lambda item: item[0])


def compose(box: str, kind: str, contact: dict[str, Any], serial: int, threads: dict[tuple[str, str], str]) -> tuple[bytes, list[str], str]:
    """(RFC 822 bytes, labels, Message-ID) of one planned message, replying in the mailbox's thread with the contact."""
    message_id = f"fleet-{serial}-{kind}@{'northwind.example' if kind == 'outbound' else 'customer.example'}"
    parent = threads.get((box, contact["email"]), "")
    subject = "Re: Rollout plan" if parent else "Rollout plan"
    if kind == "outbound":
        raw = rfc822(sender=box, to=[contact["email"]], subject=subject, body=OUTBOUND, message_id=message_id,
                     in_reply_to=parent, sent_at=datetime.now(UTC))
        labels = ["SENT"]
    elif kind == "ooo":
        raw = rfc822(sender=contact["email"], to=[box], subject=f"Automatic reply: {subject}", message_id=message_id,
                     body="I am out of the office until Monday with limited access to email.", sent_at=datetime.now(UTC),
                     headers={"Auto-Submitted": "auto-replied"})
        labels = ["INBOX"]
    elif kind == "noise":
        raw = rfc822(sender="news@newsletter.example", to=[box], subject="This week's industry roundup",
                     body="Top stories this week.", message_id=message_id, sent_at=datetime.now(UTC),
                     headers={"List-Id": "<weekly.newsletter.example>", "List-Unsubscribe": "<mailto:u@newsletter.example>"})
        labels = ["INBOX", "CATEGORY_PROMOTIONS"]
    else:
        body = NEGATIVE if kind == "negative" else NEUTRAL[serial % len(NEUTRAL)]
        raw = rfc822(sender=contact["email"], to=[box], subject=subject, body=f"Hi,\n\n{body}\n\n{contact['name']}",
                     message_id=message_id, in_reply_to=parent, sent_at=datetime.now(UTC))
        labels = ["INBOX"]
    if kind != "noise":
        threads[(box, contact["email"])] = parent or message_id
    return raw, labels, message_id


def fresh_database(url: str) -> Database:
    """The database at `url`, migrated and emptied."""
    db = Database.connect(url)
    db.upgrade()
    with db.engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())
    return db


def api_get(port: int, path: str, token: str) -> Any:
    """JSON of a GET on the app (None when it does not answer 200)."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read()) if response.status == 200 else None
    except OSError:
        return None


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a running process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def aware(moment: datetime) -> datetime:
    """A stored timestamp as aware UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def main(settings: Settings, *, database_url: str, broker_url: str, mailboxes: int = 5, rate: float = 2.0, workers: int = 2,
         minutes: float = 1.0, port: int = 5098, kill_worker: bool = False, settle_minutes: float = 5.0, seed: int = 7,
         quiet: bool = False) -> dict[str, Any]:
    """Run the fleet, print the table (unless `quiet`), write var/bench/fleet.json; returns the results."""
    load_before = os.getloadavg()
    rng = random.Random(seed)
    db = fresh_database(database_url)
    org = load_org()
    reps = [u["email"] for u in org["users"] if u["role"] == "rep"]
    admin = next(u["email"] for u in org["users"] if u["role"] == "admin")
    with db.uow() as uow:
        load_organisation(uow, org, now=datetime.now(UTC))
        token = create_personal_token(uow, admin, "bench-fleet")
        uow.commit()
    logs = Path(settings.var_dir) / "bench" / "fleet-logs"
    logs.mkdir(parents=True, exist_ok=True)
    processes: dict[str, subprocess.Popen] = {}
    usage: dict[str, dict[str, float]] = {}
    observations = Observations()
    injected: list[Injected] = []
    events: list[dict[str, Any]] = []
    with GoogleStandIn() as google:
        base_url = f"http://127.0.0.1:{port}"
        run = dataclasses.replace(settings, database_url=database_url, broker_url=broker_url, demo=False, base_url=base_url,
                                  poll_interval_minutes=1, task_lease_seconds=10, sync_lease_seconds=15,
                                  google_pubsub_audience="", **google.settings_overrides()).resolved()
        google.push_endpoint, google.push_audience = f"{base_url}/push/gmail", run.google_pubsub_audience
        queues = build_queues(run)
        for huey in (queues.default, queues.scoring):
            huey.flush()
        boxes = [f"fleet.box{i}@northwind.example" for i in range(mailboxes)]
        with db.uow() as uow:
            for i, box in enumerate(boxes):
                add_mailbox(uow, run, provider="gmail", address=box, refresh_token=google.add_user(box), user_email=reps[i % len(reps)])
        env = environment(run)
        gunicorn = shutil.which("gunicorn", path=str(Path(sys.executable).parent)) or "gunicorn"
        commands = {"web": [gunicorn, "-w", "2", "-k", "gthread", "--threads", "4", "-b", f"127.0.0.1:{port}", "dealpulse.wsgi:app"],
                    "scoring": [sys.executable, "-m", "dealpulse.cli", "worker", "--queue", "scoring", "--workers", "1"]}
        for i in range(workers):
            commands[f"default-{i}"] = [sys.executable, "-m", "dealpulse.cli", "worker", "--queue", "default", "--workers", "2"]

        def start(name: str) -> None:
            with open(logs / f"{name}.log", "ab") as log:
                processes[name] = subprocess.Popen(commands[name], env=env, stdout=log, stderr=subprocess.STDOUT)

        def measure(name: str, proc: subprocess.Popen) -> None:
            pids = [proc.pid] + (children(proc.pid) if name == "web" else [])
            try:
                usage[name] = {"cpu_seconds": round(sum(cpu_seconds(p) for p in pids), 2),
                               "peak_rss_mib": round(sum(rss_kib(p)["VmHWM"] for p in pids) / 1024, 1)}
            except (OSError, KeyError, IndexError):
                pass

        stop = threading.Event()

        def observe() -> None:
            while not stop.wait(0.5):
                feed = api_get(port, "/api/v1/alerts?limit=500", token)
                now = time.time()
                for alert in (feed or {}).get("items", []):
                    activity = alert.get("evidence", {}).get("activity_id")
                    if alert["rule"] == "negative_email" and activity is not None:
                        observations.alerts_seen.setdefault(alert["opportunity_id"], (now, int(activity)))
                depth = {name: huey.pending_count() for name, huey in (("default", queues.default), ("scoring", queues.scoring))}
                depth["in_flight"] = len(queues.default.storage.in_flight()) + len(queues.scoring.storage.in_flight())
                depth["scheduled"] = queues.default.scheduled_count()
                observations.queue_depth.append({"t": round(now, 1), **depth})

        observer = threading.Thread(target=observe, name="fleet-observer", daemon=True)
        try:
            for name in commands:
                start(name)
            wait_for(lambda: api_get(port, "/api/v1/alerts?limit=1", token) is not None, "the web app", list(processes.values()))
            with db.uow() as uow:
                ids = list(uow.s.scalars(select(Mailbox.id)))
            for mailbox_id in ids:  # the first sync of each (empty) mailbox sets its cursor; new mail comes by push
                sync_mailbox_task(mailbox_id)

            def all_idle() -> bool:
                with db.uow() as uow:
                    return uow.s.scalar(select(func.count()).select_from(Mailbox).where(Mailbox.sync_state != "idle")) == 0

            wait_for(all_idle, "the first sync of every mailbox", list(processes.values()))
            warm_up(google, db, boxes[0], org["contacts"][0], processes)
            observer.start()
            plan = plan_messages(boxes, org["contacts"], rate, minutes, rng)
            threads: dict[tuple[str, str], str] = {}
            pushes = ThreadPoolExecutor(max_workers=8)
            started = time.time()
            killed = False
            for serial, (offset, box, kind, contact) in enumerate(plan):
                delay = started + offset - time.time()
                if delay > 0:
                    time.sleep(delay)  # the load generator keeps its schedule
                if kill_worker and not killed and offset >= minutes * 30:
                    victim = processes["default-0"]
                    measure("default-0 (killed)", victim)
                    victim.send_signal(signal.SIGKILL)
                    victim.wait(timeout=60)
                    events.append({"event": "SIGKILL default-0", "at": round(time.time() - started, 1)})
                    start("default-0")
                    killed = True
                raw, labels, message_id = compose(box, kind, contact, serial, threads)
                at = time.time()
                google.add_message(box, raw, labels)
                injected.append(Injected(message_id, box, kind, at))
                pushes.submit(google.deliver_push, box)
            pushes.shutdown(wait=True)
            injection_seconds = time.time() - started
            expected_ids = {m.message_id for m in injected if m.kind != "noise"}

            def settled() -> bool:
                with db.uow() as uow:
                    stored = set(uow.s.scalars(select(Activity.message_id).where(Activity.message_id.in_(expected_ids))))
                    unscored = uow.s.scalar(select(func.count()).select_from(Activity).where(
                        Activity.kind == "email", ~Activity.id.in_(select(SentimentScore.activity_id))))
                wanted = expected_alerts(db, injected)
                return stored == expected_ids and unscored == 0 and wanted <= set(observations.alerts_seen)

            settle_deadline = time.monotonic() + settle_minutes * 60
            while not settled() and time.monotonic() < settle_deadline:
                time.sleep(0.5)
            settle_seconds = time.time() - started - injection_seconds
            for name, proc in processes.items():
                measure(name, proc)
        finally:
            stop.set()
            for proc in processes.values():
                if proc.poll() is None:
                    proc.terminate()
            for proc in processes.values():
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=30)
    result = summarise(db, injected, observations, usage, events, settings=dict(
        mailboxes=mailboxes, rate_per_minute_per_mailbox=rate, workers=workers, minutes=minutes, kill_worker=kill_worker),
        injection_seconds=injection_seconds, settle_seconds=settle_seconds)
    db.dispose()
    load_after = os.getloadavg()
    result.update(python=platform.python_version(), cpus=os.cpu_count(), at=datetime.now(UTC).isoformat(timespec="seconds"),
                  load_average_before=[round(x, 2) for x in load_before], load_average_after=[round(x, 2) for x in load_after])
    out = Path(settings.var_dir) / "bench" / "fleet.json"
    out.write_text(json.dumps(result, indent=2))
    if not quiet:
        print_table(result)
        print(f"wrote {out}")
    return result


def warm_up(google: GoogleStandIn, db: Database, box: str, contact: dict[str, Any], processes: dict[str, subprocess.Popen]) -> None:
    """One message through sync and scoring before the measured run, so the scoring worker has loaded its model."""
    raw = rfc822(sender=contact["email"], to=[box], subject="Warm-up", body="Hello, a quick check before we start.",
                 message_id="fleet-warm-up@customer.example", sent_at=datetime.now(UTC))
    google.add_message(box, raw, ["INBOX"])
    google.deliver_push(box)

    def scored() -> bool:
        with db.uow() as uow:
            return bool(uow.s.scalar(select(func.count()).select_from(SentimentScore).join(
                Activity, Activity.id == SentimentScore.activity_id).where(Activity.message_id == "fleet-warm-up@customer.example")))

    wait_for(scored, "the warm-up message to be scored", list(processes.values()))


def expected_alerts(db: Database, injected: list[Injected]) -> set[int]:
    """Every deal whose latest stored buyer email is one of the strongly negative ones (its alert must show; an earlier
    negative email may have opened it: one unresolved alert per deal and rule)."""
    negatives = {m.message_id for m in injected if m.kind == "negative"}
    with db.uow() as uow:
        rows = uow.s.execute(select(Activity.opportunity_id, Activity.id, Activity.message_id, Activity.occurred_at)
                             .join(Opportunity, Opportunity.id == Activity.opportunity_id)
                             .join(Stage, Stage.id == Opportunity.stage_id)
                             .where(in_tone_trend(), Stage.is_closed.is_(False))).all()  # alerts watch open deals
    latest: dict[int, tuple[datetime, int, str]] = {}
    for opp, activity, message_id, occurred in rows:
        if opp not in latest or (occurred, activity) > latest[opp][:2]:
            latest[opp] = (occurred, activity, message_id or "")
    return {opp for opp, (_, _, message_id) in latest.items() if message_id in negatives}


def summarise(db: Database, injected: list[Injected], observations: Observations, usage: dict[str, Any],
              events: list[dict[str, Any]], *, settings: dict[str, Any], injection_seconds: float,
              settle_seconds: float) -> dict[str, Any]:
    """Latencies, counts and resources of a finished run."""
    by_id = {m.message_id: m for m in injected}
    with db.uow() as uow:
        stored = uow.s.execute(select(Activity.id, Activity.message_id, Activity.created_at).where(
            Activity.message_id.in_(list(by_id)))).all()
        scored = dict(uow.s.execute(select(SentimentScore.activity_id, func.min(SentimentScore.scored_at))
                                    .group_by(SentimentScore.activity_id)).all())
        duplicates = uow.s.scalar(select(func.count()).select_from(
            select(Activity.message_id).where(Activity.message_id.in_(list(by_id))).group_by(Activity.org_id, Activity.message_id)
            .having(func.count() > 1).subquery())) or 0
        duplicate_sources = uow.s.scalar(select(func.count()).select_from(
            select(ActivitySource.activity_id).group_by(ActivitySource.activity_id, ActivitySource.mailbox_id)
            .having(func.count() > 1).subquery())) or 0
    stored_ids = {message_id for _, message_id, _ in stored}
    expected = {m.message_id for m in injected if m.kind != "noise"}
    to_stored = [aware(created).timestamp() - by_id[mid].at for _, mid, created in stored]
    to_scored = [aware(scored[aid]).timestamp() - by_id[mid].at for aid, mid, _ in stored if aid in scored]
    activity_message = {aid: mid for aid, mid, _ in stored}
    wanted = expected_alerts(db, injected)
    to_alert = [seen - by_id[activity_message[activity]].at for seen, activity in observations.alerts_seen.values()
                if activity in activity_message]  # from the arrival of the email that opened it
    kinds = {kind: sum(1 for m in injected if m.kind == kind) for kind in ("inbound", "negative", "outbound", "ooo", "noise")}
    return {
        "benchmark": "fleet", "settings": settings, "messages": len(injected), "kinds": kinds,
        "injection_seconds": round(injection_seconds, 1), "settle_seconds": round(settle_seconds, 1),
        "messages_per_second": round(len(injected) / injection_seconds, 2) if injection_seconds else None,
        "arrival_to_stored": percentiles(to_stored), "arrival_to_scored": percentiles(to_scored),
        "arrival_to_alert": percentiles(to_alert),
        "lost": len(expected - stored_ids), "lost_ids": sorted(expected - stored_ids)[:20],
        "noise_stored": len({m.message_id for m in injected if m.kind == "noise"} & stored_ids),
        "duplicated": duplicates + duplicate_sources, "unscored": sum(1 for aid, _, _ in stored if aid not in scored),
        "alerts_expected": len(wanted), "alerts_never_seen": len(wanted - set(observations.alerts_seen)),
        "events": events, "processes": usage,
        "queue_depth_max": {key: max((s[key] for s in observations.queue_depth), default=0)
                            for key in ("default", "scoring", "in_flight", "scheduled")},
        "queue_depth": observations.queue_depth[::4],
    }


def print_table(result: dict[str, Any]) -> None:
    """The run as a table."""
    s = result["settings"]
    print(f"fleet: {s['mailboxes']} Gmail mailboxes x {s['rate_per_minute_per_mailbox']}/min for {s['minutes']} min, "
          f"{s['workers']} default workers + 1 scoring worker, gunicorn 2x4; kill a worker: {s['kill_worker']}")
    print(f"{result['messages']} messages {result['kinds']} in {result['injection_seconds']} s "
          f"({result['messages_per_second']} msg/s); settled {result['settle_seconds']} s after the last")
    print(f"{'arrival to':<10} {'count':>6} {'p50 s':>8} {'p95 s':>8} {'p99 s':>8} {'max s':>8}")
    for key in ("stored", "scored", "alert"):
        row = result[f"arrival_to_{key}"]

        def cell(value: float | None) -> str:
            return f"{value:>8.2f}" if value is not None else f"{'-':>8}"

        print(f"{key:<10} {row['count']:>6} {cell(row['p50'])} {cell(row['p95'])} {cell(row['p99'])} {cell(row['max'])}")
    print(f"lost {result['lost']}, duplicated {result['duplicated']}, unscored {result['unscored']}, "
          f"alerts expected {result['alerts_expected']}, never seen {result['alerts_never_seen']}; "
          f"max queue depth {result['queue_depth_max']}")
    for name, row in result["processes"].items():
        print(f"  {name:<20} CPU {row['cpu_seconds']:>7.1f} s   peak RSS {row['peak_rss_mib']:>7.1f} MiB")
    for event in result["events"]:
        print(f"  at {event['at']} s: {event['event']}")
    print(f"load average before {result['load_average_before']}, after {result['load_average_after']}")
