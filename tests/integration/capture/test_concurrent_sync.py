"""Race safety: concurrent workers on one mailbox, and two mailboxes sharing threads synced at once."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor


from dealpulse.store import Mailbox

from .conftest import connect, dedupe_keys, raw_mail, run_sync, source_count

REP = "rep.a1@seller.example"
REP2 = "rep.a2@seller.example"
BUYER = "buyer@acme.test.example"
SHARED = 60


def _run_together(*jobs):
    barrier = threading.Barrier(len(jobs))

    def go(job):
        barrier.wait(timeout=30)
        return job()

    with ThreadPoolExecutor(len(jobs)) as pool:
        return [f.result(timeout=300) for f in [pool.submit(go, job) for job in jobs]]


def test_two_mailboxes_sharing_threads_synced_at_once_store_each_message_once(db, world, settings, google):
    box1 = connect(db, settings, google, REP)
    box2 = connect(db, settings, google, REP2)
    for i in range(SHARED):
        raw = raw_mail(BUYER, [REP, REP2], subject=f"Shared {i}", message_id=f"shared-{i}@acme.test.example")
        google.add_message(REP, raw)
        google.add_message(REP2, raw)

    results = _run_together(lambda: run_sync(db, settings, box1), lambda: run_sync(db, settings, box2))

    assert [r.state for r in results] == ["idle", "idle"], [r.detail for r in results]
    keys = dedupe_keys(db)
    assert len(keys) == len(set(keys)) == SHARED
    assert source_count(db, box1) == SHARED and source_count(db, box2) == SHARED
    assert sum(r.stored for r in results) == SHARED  # each message created by exactly one of them


def test_two_workers_on_one_mailbox_do_not_both_sync_it(db, world, settings, google):
    box = connect(db, settings, google, REP)
    for i in range(40):
        google.add_message(REP, raw_mail(BUYER, [REP], subject=f"Solo {i}", message_id=f"solo-{i}@acme.test.example"))

    results = _run_together(*[lambda: run_sync(db, settings, box) for _ in range(3)])

    assert sum(1 for r in results if r.ran and r.state == "idle") >= 1
    assert all(r.state in ("idle", "syncing") for r in results), [(r.state, r.detail) for r in results]
    keys = dedupe_keys(db)
    assert len(keys) == len(set(keys)) == 40
    assert source_count(db, box) == 40
    with db.uow() as uow:
        assert uow.s.get(Mailbox, box).sync_state == "idle"
