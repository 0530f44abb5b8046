"""A sync process killed mid-way loses nothing and duplicates nothing once a later run resumes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from dealpulse.standins.faults import FaultPlan
from dealpulse.store import Activity, Mailbox

from .conftest import activity_count, connect, raw_mail, run_sync, source_count

REP = "rep.a1@seller.example"
BUYER = "buyer@acme.test.example"
TOTAL = 200


def _environment(settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEALPULSE_")}
    env.update({
        "DEALPULSE_ENV": "test",
        "DEALPULSE_VAR_DIR": str(settings.var_dir),
        "DEALPULSE_DATABASE_URL": settings.database_url,
        "DEALPULSE_GMAIL_API_URL": settings.gmail_api_url,
        "DEALPULSE_CALENDAR_API_URL": settings.calendar_api_url,
        "DEALPULSE_GOOGLE_TOKEN_URL": settings.google_token_url,
        "DEALPULSE_GOOGLE_CLIENT_ID": settings.google_client_id,
        "DEALPULSE_GOOGLE_CLIENT_SECRET": settings.google_client_secret,
        "DEALPULSE_SYNC_BATCH_SIZE": "10",
    })
    return env


def test_sync_killed_mid_way_then_restarted_stores_every_message_exactly_once(db, world, capture_settings, google):
    box = connect(db, capture_settings, google, REP)
    expected = set()
    for i in range(TOTAL):
        message_id = f"crash-{i}@acme.test.example"
        google.add_message(REP, raw_mail(BUYER, [REP], subject=f"Update {i}", message_id=message_id))
        expected.add(f"mid:{message_id}")
    google.faults = FaultPlan(1.0, kinds=("slow",), slow_delay=0.25)  # every request slow: time to kill it

    worker = subprocess.Popen(
        [sys.executable, "-m", "dealpulse.cli", "sync", "--mailbox", str(box)],
        env=_environment(capture_settings), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 120
        while activity_count(db) < 30:
            assert worker.poll() is None, f"the sync finished before it could be killed: {worker.stdout.read().decode()}"
            assert time.monotonic() < deadline, "the sync stored nothing in time"
            time.sleep(0.05)
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
        worker.stdout.close()
    stored_before_restart = activity_count(db)
    assert 30 <= stored_before_restart < TOTAL
    with db.uow() as uow:
        assert uow.s.get(Mailbox, box).sync_state == "syncing"  # the killed worker's lease is still there

    google.faults = FaultPlan()
    later = datetime.now(timezone.utc) + timedelta(minutes=10)  # the dead worker's lease has lapsed
    result = run_sync(db, capture_settings, box, clock=lambda: later)

    assert result.state == "idle"
    with db.uow() as uow:
        keys = list(uow.s.scalars(select(Activity.dedupe_key)))
    assert len(keys) == len(set(keys)) == TOTAL
    assert set(keys) == expected
    assert source_count(db, box) == TOTAL
