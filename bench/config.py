"""The benchmark's knobs: one full profile, one quick smoke profile (BENCH_QUICK=1)."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    quick: bool
    concurrencies: tuple[int, ...]  # closed-loop steps
    step_seconds: float  # every closed-loop, open-loop and lag step
    open_fractions: tuple[float, ...]  # open-loop rates, as fractions of the best closed-loop rate
    lag_fraction: float
    backlog_orders: int
    backlog_concurrency: int
    max_requests_per_step: int  # a hard count bound on top of the time bound
    request_timeout: float
    settle_timeout: float  # waiting for queues to empty between phases
    drain_timeout: float  # one backlog drain
    stats_interval: float
    skus: int  # fresh SKUs per run, spread over the threads so no single row lock serialises orders
    stock_per_sku: int
    live_connections: int  # idle WebSockets held on one order-web process (bench/live.py)
    live_rate: float  # orders/s placed while they are held, each watched live
    live_seconds: float
    live_idle_seconds: float  # each CPU window: without, then with the idle connections
    catalog_changes: int  # price changes timed from the inventory to the order's copy (bench/catalog.py)
    catalog_change_rate: float  # changes/s, while orders are placed at catalog_order_rate
    catalog_order_rate: float
    catalog_products: int  # the catalog whose rebuild is timed


def load_settings() -> Settings:
    quick = os.environ.get("BENCH_QUICK", "") not in ("", "0")
    backlog_default = 300 if quick else 5000
    return Settings(
        quick=quick,
        concurrencies=(4, 8, 16, 32),
        step_seconds=5.0 if quick else 15.0,
        open_fractions=(0.25, 0.5, 1.0),
        lag_fraction=0.5,
        backlog_orders=int(os.environ.get("BENCH_BACKLOG_ORDERS", backlog_default)),
        backlog_concurrency=16,
        max_requests_per_step=20_000,
        request_timeout=10.0,
        settle_timeout=120.0 if quick else 300.0,
        drain_timeout=300.0 if quick else 900.0,
        stats_interval=2.0,
        skus=32,
        stock_per_sku=1_000_000,
        live_connections=1000,
        live_rate=float(os.environ.get("BENCH_LIVE_RATE", 20.0)),
        live_seconds=30.0 if quick else 60.0,
        live_idle_seconds=10.0 if quick else 20.0,
        catalog_changes=1000,  # a p99 needs 1,000 samples
        catalog_change_rate=25.0 if quick else 50.0,
        catalog_order_rate=15.0,
        catalog_products=10_000,
    )
