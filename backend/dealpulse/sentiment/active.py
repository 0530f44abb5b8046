"""Which loaded scorer serves each organisation, switching to a newly promoted version without a restart.

The transformer stack (scorer, seed trainer) is imported on the first scoring call, not with this module, so entry
points that never score (CLI, web app start-up) stay fast.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import Settings
from ..store.database import Database
from .registry import active_version, is_complete, version_dir

if TYPE_CHECKING:
    from .scorer import ToneScorer

CHECK_SECONDS = 10.0


class ActiveScorers:
    """Resolves an organisation's active version from the database at most every `check_seconds`, then loads it.

    `runtime`: one of the scorer's RUNTIMES (default: its DEFAULT_RUNTIME).
    """

    def __init__(self, settings: Settings, db: Database, *, check_seconds: float = CHECK_SECONDS, runtime: str | None = None):
        self.settings = settings
        self.db = db
        self.check_seconds = check_seconds
        self.runtime = runtime
        self._versions: dict[int | None, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def version_for(self, org_id: int | None, *, build_missing: bool = True) -> str:
        """The active version id for the organisation (global seed when it has none; built on first use).

        With `build_missing` False, a seed that would have to be trained raises ToneModelNotReady instead.
        """
        now = time.monotonic()
        with self._lock:
            cached = self._versions.get(org_id)
            if cached is not None and now - cached[1] < self.check_seconds:
                return cached[0]
        with self.db.uow() as uow:
            row = active_version(uow, org_id)
            version = row.version if row is not None else None
        if version is None or not is_complete(version_dir(self.settings.model_dir, version)):
            from .seed import ensure_seed_model  # noqa: PLC0415 - transformer stack, loaded on first use

            version = ensure_seed_model(self.settings, self.db, build=build_missing)
        with self._lock:
            self._versions[org_id] = (version, now)
        return version

    def for_org(self, org_id: int | None, *, build_missing: bool = True) -> ToneScorer:
        """The warmed scorer of the organisation's active version (`build_missing`: see `version_for`)."""
        from .scorer import DEFAULT_RUNTIME, load_scorer  # noqa: PLC0415 - transformer stack, loaded on first use

        version = self.version_for(org_id, build_missing=build_missing)
        return load_scorer(Path(self.settings.model_dir) / version, runtime=self.runtime or DEFAULT_RUNTIME,
                           threads=self.settings.torch_threads)

    def forget(self) -> None:
        """Re-check the database on the next call (after a promotion in this process)."""
        with self._lock:
            self._versions.clear()


_instances: dict[tuple[str, str], ActiveScorers] = {}
_instances_lock = threading.Lock()


def active_scorers(settings: Settings, db: Database) -> ActiveScorers:
    """The process-wide ActiveScorers for this database and model folder."""
    key = (db.url, str(settings.model_dir))
    with _instances_lock:
        if key not in _instances:
            _instances[key] = ActiveScorers(settings, db)
        return _instances[key]
