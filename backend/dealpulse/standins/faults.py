"""Deterministic fault injection shared by the local provider stand-ins (Google, Microsoft).

A `FaultPlan` decides, per request, whether to answer with an error status, answer slowly, or drop the
connection without answering. Random faults come from a seeded RNG (same seed, same request order -> same
faults); scripted one-shot faults (`plan.once("history", status=404)`) fire first. Every injected fault is
recorded so tests can assert what the client went through.

Stand-ins render error bodies in their provider's shape from `Fault.status` and `Fault.reason`;
`FaultMiddleware` does the provider-neutral part (slow and drop) and asks the stand-in for the error response.
"""

from __future__ import annotations

import random
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

#: WSGI environ key a stand-in sets on the inner requests of a batch (they only get status faults).
BATCH_PART_ENVIRON_KEY = "dealpulse.batch_part"

STATUS = "status"
SLOW = "slow"
DROP = "drop"

#: Kind names accepted by `FaultPlan(kinds=...)` and `FaultPlan.once(kind=...)`.
FAULT_KINDS = ("429", "403", "500", "503", "slow", "drop")

#: Reason strings in Google's error vocabulary; other stand-ins may map them to their own codes.
_REASONS = {429: "rateLimitExceeded", 403: "userRateLimitExceeded", 500: "backendError", 503: "backendError"}


@dataclass(frozen=True)
class Fault:
    """One decided fault: an error `status` (with optional Retry-After seconds), a `delay`, or a dropped connection."""

    kind: str  # STATUS | SLOW | DROP
    status: int = 0
    retry_after: float | None = None
    delay: float = 0.0
    reason: str = ""  # provider reason code, e.g. "userRateLimitExceeded"
    scripted: bool = False


@dataclass(frozen=True)
class InjectedFault:
    """A record of a fault that was injected into one request."""

    method: str
    path: str
    fault: Fault
    inner: bool = False  # True for a part of a batch request


@dataclass
class _Scripted:
    path: str
    fault: Fault
    method: str | None
    remaining: int
    skip: int = 0  # matching requests to let through first


class FaultPlan:
    """Seeded, thread-safe fault injection: a failure `rate`, a mix of `kinds`, optional path filters, scripted faults."""

    def __init__(
        self,
        rate: float = 0.0,
        kinds: Sequence[str] = ("429", "500", "503", "drop"),
        *,
        seed: int = 0,
        paths: Iterable[str] | None = None,
        retry_after: float | None = 1.0,
        slow_delay: float = 0.2,
    ):
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"fault rate must be between 0 and 1, got {rate!r}")
        unknown = [k for k in kinds if k not in FAULT_KINDS]
        if unknown or (rate > 0 and not kinds):
            raise ValueError(f"unknown fault kinds {unknown!r}; choose from {FAULT_KINDS}")
        self.rate = rate
        self.kinds = tuple(kinds)
        self.paths = tuple(paths) if paths is not None else None
        self.retry_after = retry_after
        self.slow_delay = slow_delay
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._scripted: list[_Scripted] = []
        self._injected: list[InjectedFault] = []

    # -- configuration -------------------------------------------------------------------------------------
    def once(
        self,
        path: str,
        *,
        status: int | None = None,
        kind: str | None = None,
        retry_after: float | None = None,
        delay: float | None = None,
        reason: str | None = None,
        method: str | None = None,
        times: int = 1,
        after: int = 0,
    ) -> None:
        """Script a fault for the next `times` requests whose path contains `path` (and whose method is `method`),
        after letting `after` such requests through (a failure in the middle of a long sync).

        Give `status` (any HTTP status, e.g. 404 for a stale history id) or `kind` ("slow", "drop", or one of
        the status kinds "429", "403", "500", "503").
        """
        if status is None and kind is None:
            raise ValueError("once() needs a status or a kind")
        if kind is not None and kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; choose from {FAULT_KINDS}")
        if kind == SLOW:
            fault = Fault(SLOW, delay=self.slow_delay if delay is None else delay, scripted=True)
        elif kind == DROP:
            fault = Fault(DROP, scripted=True)
        else:
            code = status if status is not None else int(kind)  # type: ignore[arg-type]
            fault = Fault(
                STATUS,
                status=code,
                retry_after=retry_after,
                reason=reason if reason is not None else _REASONS.get(code, ""),
                scripted=True,
            )
        with self._lock:
            self._scripted.append(_Scripted(path, fault, method.upper() if method else None, times, after))

    def set_rate(self, rate: float) -> None:
        """Change the random failure rate (0 turns random faults off; scripted ones still fire)."""
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"fault rate must be between 0 and 1, got {rate!r}")
        with self._lock:
            self.rate = rate

    def clear(self) -> None:
        """Forget scripted faults and the record of injected ones."""
        with self._lock:
            self._scripted.clear()
            self._injected.clear()

    # -- decisions -----------------------------------------------------------------------------------------
    def decide(self, method: str, path: str, *, inner: bool = False) -> Fault | None:
        """The fault to inject into this request, or None. `inner` requests (batch parts) only get status faults."""
        with self._lock:
            fault = self._take_scripted(method, path, inner) or self._roll(path, inner)
            if fault is not None:
                self._injected.append(InjectedFault(method.upper(), path, fault, inner))
            return fault

    def _take_scripted(self, method: str, path: str, inner: bool) -> Fault | None:
        for entry in self._scripted:
            if entry.path not in path or (entry.method and entry.method != method.upper()):
                continue
            if inner and entry.fault.kind != STATUS:
                continue
            if entry.skip > 0:
                entry.skip -= 1
                continue
            entry.remaining -= 1
            if entry.remaining <= 0:
                self._scripted.remove(entry)
            return entry.fault
        return None

    def _roll(self, path: str, inner: bool) -> Fault | None:
        if self.rate <= 0 or (self.paths is not None and not any(p in path for p in self.paths)):
            return None
        # Always draw both numbers so the sequence does not depend on which branch was taken.
        hit = self._rng.random() < self.rate
        kind = self._rng.choice(self.kinds)
        if not hit:
            return None
        if kind == SLOW:
            return None if inner else Fault(SLOW, delay=self.slow_delay)
        if kind == DROP:
            return None if inner else Fault(DROP)
        code = int(kind)
        retry_after = self.retry_after if code in (429, 503) else None
        return Fault(STATUS, status=code, retry_after=retry_after, reason=_REASONS[code])

    # -- records -------------------------------------------------------------------------------------------
    @property
    def injected(self) -> list[InjectedFault]:
        """A copy of every fault injected so far, in order."""
        with self._lock:
            return list(self._injected)

    def count(self, kind: str | None = None) -> int:
        """How many faults were injected; `kind` filters by "slow", "drop" or a status such as "429"."""
        records = self.injected
        if kind is None:
            return len(records)
        if kind in (SLOW, DROP):
            return sum(1 for r in records if r.fault.kind == kind)
        return sum(1 for r in records if r.fault.kind == STATUS and r.fault.status == int(kind))


def drop_connection(environ: dict[str, Any]) -> None:
    """Close the client's socket under a werkzeug dev server so the request gets no answer at all."""
    sock = environ.get("werkzeug.socket")
    if sock is None:
        raise RuntimeError("drop_connection needs werkzeug's development server (environ['werkzeug.socket'])")
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


class FaultMiddleware:
    """WSGI middleware applying a FaultPlan: drops and delays here, error responses via `render_error(fault, environ)`."""

    def __init__(
        self,
        app: Callable[..., Any],
        plan_getter: Callable[[], FaultPlan | None],
        render_error: Callable[[Fault, dict[str, Any]], Callable[..., Any]],
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.app = app
        self.plan_getter = plan_getter
        self.render_error = render_error
        self.sleep = sleep

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        plan = self.plan_getter()
        inner = bool(environ.get(BATCH_PART_ENVIRON_KEY))
        method, path = environ.get("REQUEST_METHOD", "GET"), environ.get("PATH_INFO", "")
        fault = plan.decide(method, path, inner=inner) if plan else None
        if fault is None:
            return self.app(environ, start_response)
        if fault.kind == DROP:
            drop_connection(environ)
            start_response("500 Dropped", [("Content-Length", "0"), ("Connection", "close")])
            return [b""]
        if fault.kind == SLOW:
            self.sleep(fault.delay)
            return self.app(environ, start_response)
        return self.render_error(fault, environ)(environ, start_response)
