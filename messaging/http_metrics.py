"""Every API's request metrics and its GET /metrics (installed by `messaging.web.create_api`)."""

from __future__ import annotations

import time
from collections.abc import Iterable

from flask import Blueprint, Flask, Response, g, request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector

from messaging.metrics import HTTP_REQUEST_SECONDS, exposition_registry

# Anything else a client sends is counted as "other": a label value per invented method
# would let any caller grow the series without bound. Likewise a path no route matched is
# "unmatched", never the raw path.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"


def install_request_metrics(app: Flask) -> None:
    """Times every request, by route template (`/orders/<order_id>`) and status. Register it
    before any other before_request hook: one that refuses the request must still be counted."""

    @app.before_request
    def start_clock() -> None:
        g.request_started = time.perf_counter()

    @app.after_request
    def observe(response: Response) -> Response:
        started = g.pop("request_started", None)
        if started is not None:
            rule = request.url_rule
            HTTP_REQUEST_SECONDS.labels(
                method=request.method if request.method in METHODS else "other",
                route=rule.rule if rule is not None else UNMATCHED,
                status=str(response.status_code),
            ).observe(time.perf_counter() - started)
        return response


def metrics_blueprint(collectors: Iterable[Collector] = ()) -> Blueprint:
    """GET /metrics, open like /healthz (figures, no customer data): Prometheus scrapes it on
    the compose network."""
    registry = exposition_registry(collectors)
    blueprint = Blueprint("metrics", __name__)

    @blueprint.get("/metrics")
    def metrics():
        return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)

    return blueprint
