"""Test fixtures shared by every suite: no off-box network, settings, databases (SQLite and PostgreSQL), apps.

Database fixtures:
- `db`: a migrated, empty database; parametrised over SQLite and PostgreSQL (integration tests run on both).
- `sqlite_db` / `postgres_db`: one engine only.
- `world`: a small organisation built with `tests.builders.build_world` (two teams, manager, reps, admin, deals).
- `app`, `client`: the Flask app on `db` and its test client.

Process fixtures:
- `process_runtime`: `dealpulse.runtime` (what entry points and tasks read) on the test's settings and database.
- `inline_queues`: the task queues built for the test's settings, running every enqueued task at once.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import socket
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import pytest

if TYPE_CHECKING:
    from types import ModuleType

    from flask import Flask

    from dealpulse.config import Settings
    from dealpulse.store.database import Database
    from dealpulse.tasks import Queues

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("DEALPULSE_ENV", "test")

_SESSION_VAR = Path(os.environ.get("DEALPULSE_TEST_VAR_DIR", "")) if os.environ.get("DEALPULSE_TEST_VAR_DIR") else None

POSTGRES_URL = os.environ.get("DEALPULSE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("DEALPULSE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


# ---------------------------------------------------------------- network guard


class OffBoxConnection(RuntimeError):
    """A test tried to reach a host that is not this machine."""


def _is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain", ""):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_getaddrinfo = socket.getaddrinfo


def _guarded_connect(self: socket.socket, address, *args):
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(str(address[0])):
        raise OffBoxConnection(f"tests may only connect to loopback, not {address!r}")
    return _real_connect(self, address, *args)


def _guarded_connect_ex(self: socket.socket, address, *args):
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(str(address[0])):
        raise OffBoxConnection(f"tests may only connect to loopback, not {address!r}")
    return _real_connect_ex(self, address, *args)


def _guarded_getaddrinfo(host, *args, **kwargs):
    if host is not None and not _is_loopback(host if isinstance(host, str) else host.decode()):
        raise OffBoxConnection(f"tests may not resolve off-box host {host!r}")
    return _real_getaddrinfo(host, *args, **kwargs)


socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]
socket.getaddrinfo = _guarded_getaddrinfo  # type: ignore[assignment]


# ---------------------------------------------------------------- settings and databases


@pytest.fixture
def var_dir(tmp_path: Path) -> Path:
    """A fresh runtime folder for one test."""
    path = tmp_path / "var"
    path.mkdir()
    return path


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file per session, copied for each test (migrations run once)."""
    from dealpulse.store.database import Database

    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    database = Database.connect(f"sqlite:///{path}")
    database.upgrade()
    with database.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    database.dispose()
    return path


@pytest.fixture
def sqlite_db(_sqlite_template: Path, var_dir: Path) -> Iterator["Database"]:
    """A migrated empty SQLite database in the test's var folder."""
    from dealpulse.store.database import Database

    path = var_dir / "dealpulse.db"
    shutil.copyfile(_sqlite_template, path)
    database = Database.connect(f"sqlite:///{path}")
    yield database
    database.dispose()


def _postgres_admin_url() -> str:
    return POSTGRES_URL


@pytest.fixture(scope="session")
def _postgres_database() -> Iterator[str]:
    """A throwaway PostgreSQL database for this session, migrated once."""
    import sqlalchemy as sa

    from dealpulse.store.database import Database

    admin = sa.create_engine(_postgres_admin_url(), isolation_level="AUTOCOMMIT")
    name = f"dealpulse_test_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sa.exc.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable at {POSTGRES_URL} (run `make services`): {exc.orig}")
    url = sa.engine.make_url(_postgres_admin_url()).set(database=name).render_as_string(hide_password=False)
    database = Database.connect(url)
    database.upgrade()
    database.dispose()
    yield url
    with admin.connect() as conn:
        conn.exec_driver_sql(
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid()"
        )
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
    admin.dispose()


def _truncate_all(database: "Database") -> None:
    from dealpulse.store import Base

    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with database.engine.begin() as conn:
        conn.exec_driver_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")


@pytest.fixture
def postgres_db(_postgres_database: str) -> Iterator["Database"]:
    """The session's PostgreSQL database, emptied before the test."""
    from dealpulse.store.database import Database

    database = Database.connect(_postgres_database)
    _truncate_all(database)
    yield database
    database.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest) -> "Database":
    """A migrated, empty database: once on SQLite, once on PostgreSQL."""
    return request.getfixturevalue(f"{request.param}_db")


@pytest.fixture
def settings(db: "Database", var_dir: Path) -> "Settings":
    """Settings pointing at the test's database and var folder."""
    from dealpulse.config import Settings

    return Settings(env="test", var_dir=var_dir, database_url=db.url, model_dir=var_dir / "models").resolved()


@pytest.fixture
def process_runtime(settings: "Settings", db: "Database") -> Iterator["ModuleType"]:
    """`dealpulse.runtime` on the test's settings and database (the fixture's engine, shared, not disposed)."""
    from dealpulse import runtime

    runtime.reset()
    runtime.configure(settings, db)
    yield runtime
    runtime.reset(keep=db)


@pytest.fixture
def inline_queues(settings: "Settings") -> "Queues":
    """The process's task queues for the test's settings, running each enqueued task at once (in memory)."""
    from dealpulse.tasks import build_queues

    return build_queues(settings, immediate=True)


@pytest.fixture(autouse=True)
def _fresh_queues() -> Iterator[None]:
    """No test inherits the task queues another test built (they point at its var folder)."""
    from dealpulse.tasks import forget_queues

    yield
    forget_queues()


@pytest.fixture
def app(settings: "Settings", db: "Database", process_runtime: "ModuleType") -> "Flask":
    """The Flask app on the test database (sharing the fixture's engine)."""
    from dealpulse.app import create_app

    application = create_app(settings)
    application.config["TESTING"] = True
    return application


@pytest.fixture
def client(app: "Flask"):
    """A test client of `app`."""
    return app.test_client()


@pytest.fixture
def world(db: "Database") -> "World":  # noqa: F821
    """A small organisation (see tests/builders.py) in the test database."""
    from tests.builders import build_world

    return build_world(db)
