"""The process-wide database handle: engine, session factory and migrations for a Settings object."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

from .base import make_engine, make_session_factory
from .uow import UnitOfWork

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


@dataclass
class Database:
    """An engine and its session factory; `uow()` gives a fresh unit of work."""

    url: str
    engine: Engine
    session_factory: sessionmaker

    @classmethod
    def connect(cls, url: str) -> "Database":
        """Open (lazily) the database at `url`, creating the SQLite folder if needed."""
        if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = make_engine(url)
        return cls(url=url, engine=engine, session_factory=make_session_factory(engine))

    def uow(self) -> UnitOfWork:
        """A new unit of work on this database."""
        return UnitOfWork(self.session_factory)

    def upgrade(self, revision: str = "head") -> None:
        """Apply Alembic migrations up to `revision`."""
        from alembic import command  # noqa: PLC0415 - alembic loads only for migrations, not on every start

        command.upgrade(alembic_config(self.url, self.engine), revision)

    def schema_revisions(self) -> tuple[set[str], set[str]]:
        """(revisions the database is at, the latest revisions of the code): equal when it is migrated."""
        from alembic.runtime.migration import MigrationContext  # noqa: PLC0415 - see Database.upgrade
        from alembic.script import ScriptDirectory  # noqa: PLC0415 - see Database.upgrade

        heads = set(ScriptDirectory.from_config(alembic_config(self.url)).get_heads())
        with self.engine.connect() as conn:
            current = set(MigrationContext.configure(conn).get_current_heads())
        return current, heads

    def dispose(self) -> None:
        """Close pooled connections."""
        self.engine.dispose()


def alembic_config(url: str, engine: Engine | None = None) -> AlembicConfig:
    """An Alembic configuration pointing at our migrations and `url`."""
    from alembic.config import Config as AlembicConfig  # noqa: PLC0415 - see Database.upgrade

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if engine is not None:
        cfg.attributes["engine"] = engine
    return cfg
