"""`python -m bench.run`: benchmark the running stack, print a table, write bench-results.json.

Phases, each bounded in count and time:
1. throughput: closed loop at a few concurrencies (the best is the max sustained rate),
   then open loop at fractions of it;
2. event lag at a steady fraction of that rate (CONFIRMED -> shipment row / email sent);
3. hybrid against all-synchronous (ORDER_FLOW=sync): throughput, p99 at the same rate, and
   p99 with the warehouse stopped, for both flows (bench/flows.py);
4. backlog drain with the consumers stopped, with one and then two warehouse workers;
5. the storefront's push: 1,000 idle WebSockets on one order-web, then push latency while
   orders flow (bench/live.py);
6. the catalog copy: a product change's lag to the order service's copy while orders flow,
   and the rebuild of a copy of 10,000 products from the stream (bench/catalog.py);
7. docker stats of every container during phase 1.
A phase that fails is recorded and the next one still runs; results are written whatever happens.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
import uuid
from typing import Any

from bench import backlog, catalog, flows, live, measure, report
from bench.config import Settings, load_settings
from bench.load import LoadProcess, create_skus
from e2e_tests.stack import ROOT, URLS, admin_headers, wait_for_stack
from messaging import topology

# The event queues, and the queue of the notification worker's send tasks (where the email
# backlog waits once the events are consumed).
SETTLE_QUEUES = (*topology.EVENT_QUEUES, "notification.tasks")
RESULTS_PATH = ROOT / "bench-results.json"


def settle(settings: Settings, sampler: measure.StatsSampler | None = None) -> float | None:
    """Let the consumers catch up before the next step, so one step's backlog does not load
    the next (bounded: None means they did not catch up in time, itself worth reporting).
    docker stats pause meanwhile: the resource figures describe the system under load."""
    if sampler:
        sampler.pause()
    try:
        waited = measure.wait_queues_empty(
            SETTLE_QUEUES, timeout=min(settings.settle_timeout, 90), interval=0.5, emails=True
        )
    finally:
        if sampler:
            sampler.resume()
    return None if waited is None else round(waited, 1)


def throughput(load: LoadProcess, settings: Settings, results: dict[str, Any]) -> None:
    # A short warm-up (connections, gunicorn threads, Postgres caches); not reported.
    load.closed(concurrency=4, seconds=min(3.0, settings.step_seconds), max_requests=1000)
    settle(settings)
    sampler = measure.StatsSampler(settings.stats_interval)
    try:
        with sampler:
            for concurrency in settings.concurrencies:
                step = report.summarize(
                    load.closed(
                        concurrency=concurrency,
                        seconds=settings.step_seconds,
                        max_requests=settings.max_requests_per_step,
                    )
                )
                step["settle_s"] = settle(settings, sampler)
                results["closed_loop"].append(step)
                print(f"  closed x{concurrency}: {step['confirmed_per_s']}/s, p99 {step['p99_ms']} ms")
            best = max(results["closed_loop"], key=lambda s: s["confirmed_per_s"])
            results["max_rate"] = best["confirmed_per_s"]
            for fraction in settings.open_fractions:
                rate = max(1.0, fraction * results["max_rate"])
                step = report.summarize(load.open(rate=rate, seconds=settings.step_seconds))
                step["fraction"] = fraction
                step["settle_s"] = settle(settings, sampler)
                results["open_loop"].append(step)
                print(f"  open {rate:.1f}/s: {step['confirmed_per_s']}/s, p99 {step['p99_ms']} ms")
    finally:
        # Whatever steps ran, their resource figures are kept, with the rate they served.
        steps = results["closed_loop"] + results["open_loop"]
        seconds = sum(step["seconds"] for step in steps)
        results["sampled_rate"] = round(sum(s["confirmed"] for s in steps) / seconds, 2) if seconds else None
        results["resources"] = {
            "containers": sampler.summary(),
            "host_cpu_pct": _round(sampler.host_cpu_percent),
            "host_processes_cpu_pct": sampler.process_cpu_percent,
        }


def event_lag(load: LoadProcess, settings: Settings, results: dict[str, Any]) -> None:
    rate = max(1.0, settings.lag_fraction * (results.get("max_rate") or 10.0))
    step = load.open(rate=rate, seconds=settings.step_seconds)
    lag = measure.event_lags(step.order_ids, timeout=60)
    lag["rate"] = round(rate, 1)
    lag["load_confirmed_per_s"] = report.summarize(step)["confirmed_per_s"]
    results["event_lag"] = lag
    settle(settings)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def main() -> int:
    # Progress lines while the benchmark runs, even when stdout is a pipe.
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[attr-defined]
    settings = load_settings()
    started = time.monotonic()
    results: dict[str, Any] = {
        "quick": settings.quick,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": measure.machine(),
        "settings": {k: v for k, v in vars(settings).items()},
        "closed_loop": [],
        "open_loop": [],
        "backlog": [],
        "errors": {},
    }
    wait_for_stack(timeout=120)
    flows.ensure_hybrid()
    run_id = uuid.uuid4().hex[:8]
    results["run_id"] = run_id
    skus = create_skus(
        URLS.inventory,
        count=settings.skus,
        stock=settings.stock_per_sku,
        run_id=run_id,
        headers=admin_headers(),
    )
    load = LoadProcess(URLS.order, skus, run_id, settings.request_timeout)
    phases = (
        ("throughput", lambda: throughput(load, settings, results)),
        ("event_lag", lambda: event_lag(load, settings, results)),
        (
            "flows",
            lambda: results.__setitem__(
                "flows",
                flows.flows_phase(
                    load,
                    settings,
                    hybrid_max_rate=results.get("max_rate") or 10.0,
                    settle=lambda: settle(settings),
                ),
            ),
        ),
        (
            "backlog",
            lambda: results["backlog"].extend(
                backlog.backlog_phase(
                    load,
                    orders=settings.backlog_orders,
                    concurrency=settings.backlog_concurrency,
                    timeout=settings.drain_timeout,
                )
            ),
        ),
        (
            "live",
            lambda: results.__setitem__(
                "live",
                live.live_phase(
                    connections=settings.live_connections,
                    rate=settings.live_rate,
                    seconds=settings.live_seconds,
                    idle_seconds=settings.live_idle_seconds,
                ),
            ),
        ),
        (
            "catalog",
            lambda: results.__setitem__(
                "catalog",
                catalog.catalog_phase(
                    load,
                    changes=settings.catalog_changes,
                    change_rate=settings.catalog_change_rate,
                    order_rate=settings.catalog_order_rate,
                    products=settings.catalog_products,
                ),
            ),
        ),
    )
    # BENCH_PHASES=backlog,flows runs only those (for a quick look at one change).
    wanted = [name for name in os.environ.get("BENCH_PHASES", "").split(",") if name]
    try:
        for name, phase in phases:
            if wanted and name not in wanted:
                continue
            print(f"{name} ...")
            phase_started = time.monotonic()
            try:
                phase()
            except Exception as error:  # noqa: BLE001 - record it and still run the other phases
                traceback.print_exc()
                results["errors"][name] = repr(error)
            results.setdefault("phase_seconds", {})[name] = round(time.monotonic() - phase_started, 1)
    finally:
        load.close()
        results["took_s"] = round(time.monotonic() - started, 1)
        report.write(results, RESULTS_PATH)
        print(report.render(results))
        print(f"\nwritten: {RESULTS_PATH}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
