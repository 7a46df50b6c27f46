"""Prometheus metrics: every metric of the pipeline, defined once, and what a process needs to
serve them (`exposition_registry`, `serve_metrics` for the processes without an HTTP port).

Several processes, one set of numbers: gunicorn's workers and Celery's pool children each
count on their own, and a scrape reaches only one of them. With PROMETHEUS_MULTIPROC_DIR set
(compose sets it for every Python process; infra/entrypoint.sh empties it at each container
start) prometheus_client keeps each process's values in a memory-mapped file of that folder, and a
scrape adds them up (`MultiProcessCollector`). The variable is read when prometheus_client
is imported, so it must come from the environment, never from code. Without it (tests, a
process run by hand) the process's own registry is served.

What an event costs: a counter or histogram update, a dict look-up and a few memory writes
(microseconds). Gauges that need the database (the outbox's backlog, overdue orders) are read
at scrape time by a `ScrapeTimeGauges` collector: one query per scrape, none per event.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Iterator, Mapping

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    multiprocess,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger("metrics")

# Calls to other services and to the broker: 5 ms to the 3 s read timeout, and past it.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

HTTP_REQUEST_SECONDS = Histogram(
    "pipeline_http_request_duration_seconds",
    "API requests by route template (not the raw path), method and status; its _count is the request rate",
    ["method", "route", "status"],
    buckets=LATENCY_BUCKETS,
)
SAGA_STEP_SECONDS = Histogram(
    "pipeline_saga_step_duration_seconds",
    "The order saga's calls to inventory and payment (reserve, charge, commit), failed ones included",
    ["step"],
    buckets=LATENCY_BUCKETS,
)
ORDERS = Counter(
    "pipeline_orders",
    "Orders reaching a status: the saga's outcome (CONFIRMED, REJECTED, FAILED), then SHIPPED, CANCELLED",
    ["status"],
)
RELAY_CONFIRM_SECONDS = Histogram(
    "pipeline_relay_confirm_seconds",
    "From the relay's publish of an outbox row to the broker's confirm",
    ["service"],
    buckets=LATENCY_BUCKETS,
)
CONSUMER_EVENTS = Counter(
    "pipeline_consumer_events",
    "Events a worker's consumer step settled: handled (acked), retried (after a backoff), dead_lettered",
    ["consumer", "outcome"],
)
CONSUMER_DUPLICATES = Counter(
    "pipeline_consumer_duplicates",
    "Events the inbox had seen already and whose effect was skipped",
    ["consumer"],
)
EMAIL_SEND_SECONDS = Histogram(
    "pipeline_email_send_seconds", "One email handed to the SMTP server, failed sends included",
    buckets=LATENCY_BUCKETS,
)  # fmt: skip
EMAIL_SEND_FAILURES = Counter("pipeline_email_send_failures", "Emails the SMTP server did not take")
RESERVATIONS_EXPIRED = Counter(
    "pipeline_reservations_expired", "Reservations the expirer released because their hold ran out"
)
# livemax: the worst state among the live processes (each has its own breakers); a dead
# process's value is dropped by mark_process_dead.
BREAKER_STATE = Gauge(
    "pipeline_breaker_state",
    "A dependency's circuit breaker: 0 closed, 1 half-open (a probe is out), 2 open",
    ["dependency"],
    multiprocess_mode="livemax",
)
BREAKER_STATE_VALUES = {"closed": 0, "half-open": 1, "open": 2}
# The order service's catalog copy (order_service/catalog.py): from the inventory's change to
# the copy's commit, so a replay (a rebuild) shows as days; hence buckets up to a week.
CATALOG_LAG_SECONDS = Histogram(
    "pipeline_catalog_lag_seconds",
    "A product event's changed_at to its copy in the order service's catalog, per event applied",
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0, 86400.0, 604800.0),
)
# One process sets it (order-catalog); NaN while it is unknown: never reconciled yet, or the
# last round failed (inventory down). A stale 0 would say "no differences" when nobody knows.
CATALOG_DIFFERENCES = Gauge(
    "pipeline_catalog_differences",
    "Products whose copy in the order service differs from the inventory's GET /products, "
    "at the last reconcile (NaN: unknown)",
    multiprocess_mode="mostrecent",
)


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def mark_process_dead(pid: int) -> None:
    """For the parent (gunicorn's master) or the process itself (a Celery pool child on its way
    out): the live gauges forget it. Nothing to do outside multiprocess mode."""
    if multiprocess_dir():
        multiprocess.mark_process_dead(pid)


class _ProcessRegistry(Collector):
    """This process's own metrics, for a registry of its own (the global one stays untouched,
    so building many apps in a test registers nothing twice)."""

    def collect(self):
        return REGISTRY.collect()


def exposition_registry(collectors: Iterable[Collector] = ()) -> CollectorRegistry:
    """What GET /metrics answers: every process's values in multiprocess mode (this one's
    otherwise), and `collectors` (scrape-time gauges) read by the process that serves it."""
    registry = CollectorRegistry()
    if multiprocess_dir():
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_ProcessRegistry())
    for collector in collectors:
        registry.register(collector)
    return registry


def serve_metrics(port: int, collectors: Iterable[Collector] = ()) -> None:
    """GET :port/metrics from a daemon thread, for a process without an HTTP server of its own
    (workers, relays, the expirer). Port 0: no server (tests, a process run by hand)."""
    if port:
        start_http_server(port, registry=exposition_registry(collectors))
        log.info("metrics on port %d", port)


class ScrapeTimeGauges(Collector):
    """Gauges read when Prometheus scrapes, by `read()`: {metric name: {label values: value}}
    (a query, so one per scrape rather than work per event). `gauges`: {name: (help, label
    names)}. A failed read (the database down) yields no samples, and the scrape goes on:
    the alerts that need these see the gap, and the other metrics still arrive."""

    def __init__(
        self,
        *,
        gauges: Mapping[str, tuple[str, tuple[str, ...]]],
        read: Callable[[], Mapping[str, Mapping[tuple[str, ...], float]]],
    ) -> None:
        self.gauges, self.read = gauges, read

    def describe(self) -> Iterator[GaugeMetricFamily]:  # names without a query at registration
        for name, (documentation, labels) in self.gauges.items():
            yield GaugeMetricFamily(name, documentation, labels=labels)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            values = self.read()
        except Exception as error:  # noqa: BLE001 - a scrape must not fail for one gauge
            log.warning("scrape-time gauges %s unavailable: %r", sorted(self.gauges), error)
            return
        for name, (documentation, labels) in self.gauges.items():
            family = GaugeMetricFamily(name, documentation, labels=labels)
            for label_values, value in values.get(name, {}).items():
                family.add_metric(list(label_values), value)
            yield family
