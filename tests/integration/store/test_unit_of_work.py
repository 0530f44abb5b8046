"""A unit of work discards whatever the code did not commit; one that only read keeps PostgreSQL's prepared statements."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text, update

from dealpulse.store import Organisation, Team


def _org_names(db) -> list[str]:
    with db.uow() as uow:
        return list(uow.s.scalars(select(Organisation.name).order_by(Organisation.id)))


def test_changes_left_uncommitted_are_discarded(db):
    with db.uow() as uow:
        uow.s.add(Organisation(name="Kept", domains=[], settings={}))
        uow.commit()
    with db.uow() as uow:  # a pending object
        uow.s.add(Organisation(name="Pending", domains=[], settings={}))
    with db.uow() as uow:  # flushed, then a read
        uow.s.add(Organisation(name="Flushed", domains=[], settings={}))
        uow.s.flush()
        uow.s.scalar(select(func.count()).select_from(Organisation))
    with db.uow() as uow:  # a statement, then a read
        uow.s.execute(update(Organisation).values(name="Renamed"))
        uow.s.scalar(select(func.count()).select_from(Organisation))
    with db.uow() as uow:  # an object changed in place
        uow.s.scalar(select(Organisation)).name = "Edited"
    with pytest.raises(RuntimeError), db.uow() as uow:  # a read that fails
        uow.s.scalar(select(Organisation.id))
        raise RuntimeError("the use case failed")
    assert _org_names(db) == ["Kept"]


def test_committed_work_stays_and_later_uncommitted_work_does_not(db):
    with db.uow() as uow:
        org = Organisation(name="Acme sellers", domains=[], settings={})
        uow.s.add(org)
        uow.commit()
        uow.s.add(Team(org_id=org.id, name="Uncommitted", settings={}))
    assert _org_names(db) == ["Acme sellers"]
    with db.uow() as uow:
        assert uow.s.scalar(select(func.count()).select_from(Team)) == 0


@pytest.mark.postgres
def test_read_only_work_keeps_postgres_prepared_statements(postgres_db):
    by_name = select(Organisation.id).where(Organisation.name == "nobody")
    for _ in range(8):  # psycopg prepares a statement on its sixth run on a connection
        with postgres_db.uow() as uow:
            uow.s.execute(by_name).all()
    with postgres_db.uow() as uow:
        prepared = uow.s.scalar(text("SELECT count(*) FROM pg_prepared_statements"))
    assert prepared >= 1  # a ROLLBACK at the end of each unit of work would have deallocated it
