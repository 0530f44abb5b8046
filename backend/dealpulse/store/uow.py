"""Unit of work: one session per use case; leaving the block rolls back unless the code committed."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from .base import transaction_wrote


class UnitOfWork:
    """Wraps a session; `with uow:` opens it, `uow.commit()` commits, leaving rolls back anything else."""

    def __init__(self, session_factory: sessionmaker):
        self._session_factory = session_factory
        self.session: Session | None = None

    def __enter__(self) -> "UnitOfWork":
        if self.session is not None:
            raise RuntimeError("unit of work is already open")
        self.session = self._session_factory()
        return self

    def __exit__(self, *exc: Any) -> None:
        assert self.session is not None
        try:
            if exc[0] is None and self._only_read():
                # Same outcome as a rollback, but psycopg drops its prepared statements on every ROLLBACK: read-only
                # requests ending that way would make PostgreSQL parse and plan each of their queries every time.
                self.session.commit()
            else:
                self.session.rollback()
        finally:
            self.session.close()
            self.session = None

    def _only_read(self) -> bool:
        """True if the open transaction ran nothing but SELECTs and the session holds no unsaved changes."""
        s = self.s
        transaction = s.get_transaction()
        if transaction is None or not transaction.is_active or s.new or s.dirty or s.deleted:
            return False
        return not transaction_wrote(s.connection())

    @property
    def s(self) -> Session:
        """The open session."""
        if self.session is None:
            raise RuntimeError("unit of work is not open: use `with uow:`")
        return self.session

    def commit(self) -> None:
        """Commit what the use case did so far."""
        self.s.commit()

    def rollback(self) -> None:
        """Throw away what the use case did since the last commit."""
        self.s.rollback()
