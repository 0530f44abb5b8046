"""GET /metrics: Prometheus text format for operators (sync lag, queue depth, scoring latency, alerts, model version).

With DEALPULSE_METRICS_TOKEN set, a scrape must send `Authorization: Bearer <token>`; without it only loopback
clients (a Prometheus or an agent on the same host, as the trusted proxies report the client) are answered.
"""

from __future__ import annotations

import hmac
import ipaddress

from flask import Blueprint, Response, request

from ..domain.prometheus import CONTENT_TYPE, MetricFamily, exposition
from ..services.operations_metrics import stored_metrics
from ..store import utcnow
from ..tasks import queues_for
from ..tasks.inflight import InFlightStorage
from ..tasks.queue import QUEUE_NAMES
from .toolkit import app_db, app_settings

bp = Blueprint("metrics", __name__)


def _refusal() -> Response | None:
    """401/403 unless the request may read the metrics."""
    token = app_settings().metrics_token
    if token:
        sent = request.headers.get("Authorization", "")
        if not (sent.startswith("Bearer ") and hmac.compare_digest(sent[7:].strip().encode(), token.encode())):
            return Response("metrics need 'Authorization: Bearer <DEALPULSE_METRICS_TOKEN>'\n", 401,
                            {"WWW-Authenticate": 'Bearer realm="metrics"', "Content-Type": "text/plain; charset=utf-8"})
        return None
    try:
        loopback = ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        return Response("metrics answer loopback clients only; set DEALPULSE_METRICS_TOKEN to scrape from elsewhere\n",
                        403, {"Content-Type": "text/plain; charset=utf-8"})
    return None


def queue_metrics() -> list[MetricFamily]:
    """Tasks waiting on each queue, and tasks taken by a worker and not yet finished."""
    queues = queues_for(app_settings())
    depth = MetricFamily("dealpulse_queue_depth", "gauge", "Tasks waiting on the queue")
    in_flight = MetricFamily("dealpulse_queue_in_flight", "gauge", "Tasks a worker has taken and not yet finished")
    for name, queue in QUEUE_NAMES.items():
        huey = queues.huey(queue)
        depth.add(huey.pending_count(), queue=name)
        if isinstance(huey.storage, InFlightStorage):
            in_flight.add(len(huey.storage.in_flight()), queue=name)
    return [depth, in_flight]


@bp.get("/metrics")
def metrics() -> Response:
    """The metrics in Prometheus text exposition format 0.0.4."""
    refused = _refusal()
    if refused is not None:
        return refused
    with app_db().uow() as uow:
        families = stored_metrics(uow, utcnow())
    return Response(exposition(queue_metrics() + families), 200, {"Content-Type": CONTENT_TYPE, "Cache-Control": "no-store"})
