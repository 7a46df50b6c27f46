"""Hybrid against all-synchronous: the same load on ORDER_FLOW=hybrid and ORDER_FLOW=sync.

Hybrid (the default): POST /orders calls inventory and payment, then publishes order.* events
through the outbox; the warehouse and the notification service consume them later.
Sync (the baseline): the same request also POSTs each event to the warehouse's and the
notification service's `POST /events` and waits for them (the shipment row, the email).

For each flow: the best closed-loop rate, an open loop at the same rate for both (half the
hybrid maximum), and that open loop again with the warehouse (API and worker) stopped.
The phase always leaves the stack as compose.yaml describes it (hybrid, warehouse running).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench import report
from bench.backlog import wait_healthy
from bench.config import Settings
from bench.load import LoadProcess
from e2e_tests.stack import containers, current_flow, set_flow

WAREHOUSE_SERVICES = ("warehouse-api", "warehouse-worker")


def ensure_hybrid() -> None:
    """A run that died mid-phase can have left ORDER_FLOW=sync behind."""
    if current_flow() != "hybrid":
        set_flow("hybrid")


def _warehouse(action: str) -> None:
    for service in WAREHOUSE_SERVICES:
        for container in containers(service):
            container.stop(timeout=20) if action == "stop" else container.start()
    if action == "start":
        for service in WAREHOUSE_SERVICES:
            wait_healthy(service, 1)


def with_warehouse_down(step: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    _warehouse("stop")
    try:
        return step()
    finally:
        _warehouse("start")


def measure_flow(
    load: LoadProcess, settings: Settings, *, rate: float, settle: Callable[[], float | None]
) -> dict[str, Any]:
    closed = []
    for concurrency in settings.concurrencies:
        closed.append(
            report.summarize(
                load.closed(
                    concurrency=concurrency,
                    seconds=settings.step_seconds,
                    max_requests=settings.max_requests_per_step,
                )
            )
        )
        settle()
    best = max(closed, key=lambda s: s["confirmed_per_s"])
    steady = report.summarize(load.open(rate=rate, seconds=settings.step_seconds))
    settle()
    down = with_warehouse_down(lambda: report.summarize(load.open(rate=rate, seconds=settings.step_seconds)))
    settle()
    return {
        "closed_loop": closed,
        "max_rate": best["confirmed_per_s"],
        "open": steady,
        "warehouse_down": down,
    }


def flows_phase(
    load: LoadProcess, settings: Settings, *, hybrid_max_rate: float, settle: Callable[[], float | None]
) -> dict[str, Any]:
    rate = max(1.0, 0.5 * hybrid_max_rate)
    results: dict[str, Any] = {"rate": round(rate, 1)}
    results["hybrid"] = measure_flow(load, settings, rate=rate, settle=settle)
    try:
        set_flow("sync")
        results["sync"] = measure_flow(load, settings, rate=rate, settle=settle)
    finally:
        set_flow("hybrid")
    hybrid, sync = results["hybrid"], results["sync"]
    results["throughput_ratio"] = _ratio(hybrid["max_rate"], sync["max_rate"])
    results["p99_ratio_sync_over_hybrid"] = _ratio(sync["open"]["p99_ms"], hybrid["open"]["p99_ms"])
    return results


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a and b else None
