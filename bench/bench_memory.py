"""`dealpulse bench memory`: resident memory of each kind of DealPulse process, run as the scaled-out setup runs them.

Starts gunicorn (one worker process) serving the app, a default-queue worker (`dealpulse worker --queue default`) and
a scoring worker (`dealpulse worker --queue scoring`) on PostgreSQL and Redis, with the Gmail stand-in in this
process. A demo-organisation mailbox of N customer emails is connected and its sync queued; once every email is
stored and the scoring queue is drained, the API is asked for the pipeline a few times, and each process's RSS (now)
and peak RSS (VmHWM) are read from /proc. The database named by --database-url is EMPTIED (use a scratch one) and
the broker's DealPulse queues are flushed. Prints a table and writes var/bench/memory.json (the processes' logs go to
var/bench/memory-logs/).
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import shutil
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Callable

from sqlalchemy import func, select

from dealpulse.config import Settings
from dealpulse.demo.orgdata import load_org
from dealpulse.services.mailboxes import add_mailbox
from dealpulse.services.org_setup import create_personal_token, load_organisation
from dealpulse.standins.google import GoogleStandIn
from dealpulse.standins.sample_mail import rfc822
from dealpulse.store import Activity, Base, Mailbox, SentimentScore
from dealpulse.store.database import Database
from dealpulse.tasks import build_queues
from dealpulse.tasks.sync import sync_mailbox_task

REP = "sam.keller@northwind.example"
DEADLINE = 900


def customer_mail(count: int) -> list[bytes]:
    """`count` inbound emails from the demo organisation's contacts to the rep, mildly mixed in tone."""
    contacts = load_org()["contacts"]
    tones = ["Thanks, the proposal looks good and we would like to move ahead.",
             "We have some concerns about the pricing and the timeline.",
             "Unfortunately we have decided to go with another vendor."]
    now = datetime.now(UTC)
    return [rfc822(sender=contacts[i % len(contacts)]["email"], to=[REP], subject=f"Rollout plan {i}",
                   body=f"Hi Sam,\n\n{tones[i % len(tones)]}\n\nBest,\n{contacts[i % len(contacts)]['name']}",
                   message_id=f"memory-{i}@customer.example", sent_at=now - timedelta(minutes=count - i))
            for i in range(count)]


def environment(settings: Settings) -> dict[str, str]:
    """DEALPULSE_* variables carrying `settings` to a child process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEALPULSE_")}
    env.update({f.metadata["env"]: str(getattr(settings, f.name)) for f in dataclasses.fields(settings)
                if getattr(settings, f.name) not in ("", None)})
    env.setdefault("PYTHONPATH", os.pathsep.join(p for p in sys.path if p))
    return env


def rss_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a process, in KiB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0])
    return fields


def children(pid: int) -> list[int]:
    """Direct child processes of `pid`."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def wait_for(condition: Callable[[], bool], what: str, processes: list[subprocess.Popen]) -> None:
    """Poll `condition`; stop with the reason if a process exits or the deadline passes."""
    deadline = time.monotonic() + DEADLINE
    while not condition():
        for proc in processes:
            if proc.poll() is not None:
                raise RuntimeError(f"{proc.args} exited ({proc.returncode}) while waiting for {what}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"gave up waiting for {what}")
        time.sleep(0.5)


def main(settings: Settings, *, database_url: str, broker_url: str, emails: int = 300, port: int = 5099) -> dict[str, Any]:
    """Run the three processes, measure them, print the table and write var/bench/memory.json."""
    load_before = os.getloadavg()
    db = Database.connect(database_url)
    db.upgrade()
    with db.engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())
    with db.uow() as uow:
        load_organisation(uow, load_org(), now=datetime.now(UTC))
        token = create_personal_token(uow, REP, "bench-memory")
        uow.commit()
    processes: list[subprocess.Popen] = []
    with GoogleStandIn() as google:
        run = dataclasses.replace(settings, database_url=database_url, broker_url=broker_url, demo=False,
                                  **google.settings_overrides())
        queues = build_queues(run)
        for huey in (queues.default, queues.scoring):
            huey.flush()
        refresh = google.add_user(REP)
        for raw in customer_mail(emails):
            google.add_message(REP, raw, ["INBOX"])
        env = environment(run)
        gunicorn = shutil.which("gunicorn", path=str(Path(sys.executable).parent)) or "gunicorn"
        commands = {
            "web (gunicorn worker)": [gunicorn, "-w", "1", "-b", f"127.0.0.1:{port}", "dealpulse.wsgi:app"],
            "default worker": [sys.executable, "-m", "dealpulse.cli", "worker", "--queue", "default", "--workers", "2"],
            "scoring worker": [sys.executable, "-m", "dealpulse.cli", "worker", "--queue", "scoring", "--workers", "1"],
        }
        logs = Path(settings.var_dir) / "bench" / "memory-logs"
        logs.mkdir(parents=True, exist_ok=True)
        try:
            for name, command in commands.items():
                with open(logs / f"{name.split()[0]}-{name.split()[1]}.log", "wb") as log:
                    processes.append(subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT))
            with db.uow() as uow:
                mailbox_id = add_mailbox(uow, run, provider="gmail", address=REP, refresh_token=refresh)
            sync_mailbox_task(mailbox_id)

            def settled() -> bool:
                with db.uow() as uow:
                    idle = uow.s.get(Mailbox, mailbox_id).sync_state == "idle"
                    stored = uow.s.scalar(select(func.count()).select_from(Activity))
                    scored = uow.s.scalar(select(func.count()).select_from(SentimentScore))
                drained = all(h.pending_count() == 0 and not h.storage.in_flight() and h.scheduled_count() == 0
                              for h in (queues.default, queues.scoring))
                return idle and stored == emails and scored > 0 and drained

            wait_for(settled, "every email stored and scored", processes)

            def web_answers() -> bool:
                request = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/opportunities",
                                                 headers={"Authorization": f"Bearer {token}"})
                try:
                    with urllib.request.urlopen(request, timeout=30) as response:
                        return response.status == 200
                except OSError:
                    return False

            wait_for(web_answers, "the web app to answer", processes)
            for _ in range(20):
                web_answers()
            pids = {"web (gunicorn worker)": children(processes[0].pid)[0], "default worker": processes[1].pid,
                    "scoring worker": processes[2].pid}
            rows = [{"process": name, "pid": pid, **{k: round(v / 1024, 1) for k, v in rss_kib(pid).items()}}
                    for name, pid in pids.items()]
            rows.append({"process": "web (gunicorn master)", "pid": processes[0].pid,
                         **{k: round(v / 1024, 1) for k, v in rss_kib(processes[0].pid).items()}})
            with db.uow() as uow:
                scored = uow.s.scalar(select(func.count()).select_from(SentimentScore))
        finally:
            for proc in processes:
                if proc.poll() is None:
                    proc.terminate()
            for proc in processes:
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
    db.dispose()
    load_after = os.getloadavg()
    result = {"benchmark": "memory", "python": platform.python_version(), "machine": platform.machine(),
              "cpus": os.cpu_count(), "at": datetime.now(UTC).isoformat(timespec="seconds"), "emails": emails,
              "scored": scored, "processes": rows, "load_average_before": [round(x, 2) for x in load_before],
              "load_average_after": [round(x, 2) for x in load_after]}
    print(f"per-process memory after syncing {emails} emails, scoring them and 21 API requests (MiB)")
    print(f"{'process':<24} {'RSS now':>8} {'peak RSS':>9}")
    for row in rows:
        print(f"{row['process']:<24} {row['VmRSS']:>8.1f} {row['VmHWM']:>9.1f}")
    print(f"load average (1/5/15 min): before {load_before[0]:.1f}/{load_before[1]:.1f}/{load_before[2]:.1f}, "
          f"after {load_after[0]:.1f}/{load_after[1]:.1f}/{load_after[2]:.1f}")
    out = Path(settings.var_dir) / "bench" / "memory.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")
    return result
