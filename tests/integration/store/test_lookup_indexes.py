"""Sign-in by address and linking by participant are served by the case-insensitive indexes the migrations create."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

from sqlalchemy import event

from dealpulse.mail.linking import load_customer_matches
from dealpulse.web.auth import VerifiedIdentity, load_principal


@contextmanager
def _statements(db) -> Iterator[list[tuple[str, Any]]]:
    """The SQL statements (with parameters) the engine runs inside the block."""
    seen: list[tuple[str, Any]] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        seen.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


def _plan(db, statement: str, parameters: Any) -> str:
    """The query plan as text; PostgreSQL is told to avoid table scans so a usable index shows even on tiny tables."""
    with db.engine.connect() as conn:
        if db.url.startswith("sqlite"):
            rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
            return "\n".join(str(row[-1]) for row in rows)
        conn.exec_driver_sql("SET enable_seqscan = off")
        return "\n".join(row[0] for row in conn.exec_driver_sql("EXPLAIN " + statement, parameters).all())


def _plans_of(db, seen: list[tuple[str, Any]], table: str) -> str:
    return "\n".join(_plan(db, statement, parameters) for statement, parameters in seen if f"FROM {table}" in statement)


def test_signing_in_by_address_uses_the_lower_email_indexes(db, world):
    with _statements(db) as seen, db.uow() as uow:
        principal = load_principal(uow.s, VerifiedIdentity(surface="outlook", email="Rep.A1@Seller.Example"))
    assert principal.user_id == world.users["rep.a1"]
    plans = "\n".join(_plan(db, statement, parameters) for statement, parameters in seen)
    assert "ix_users_email_lower" in plans and "ix_user_aliases_email_lower" in plans


def test_linking_participants_uses_the_lower_address_and_domain_indexes(db, world):
    with _statements(db) as seen, db.uow() as uow:
        matches = load_customer_matches(uow.s, world.org_id, ["Buyer@Acme.Test.Example", "someone@globex.test.example"])
    assert matches.contact("buyer@acme.test.example") == (world.contacts["buyer@acme.test.example"],
                                                          matches.account_domains["acme.test.example"])
    assert "ix_contacts_org_email_lower" in _plans_of(db, seen, "contacts")
    assert "ix_account_domains_org_domain_lower" in _plans_of(db, seen, "account_domains")
