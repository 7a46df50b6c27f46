"""The order service's catalog copy (issue 15): how late a product change reaches it while
orders flow, and how long a copy of 10,000 products takes to rebuild from the stream.

1. lag: `changes` products of the run's own are created and copied; then, while orders are
   placed open-loop at `order_rate`/s, each gets one price change, paced at `change_rate`/s.
   A change's lag is the copy's `copied_at` minus the inventory's `changed_at` (the event's):
   both are now() of one PostgreSQL server, so one clock. Counted once the copy holds them all.
2. rebuild: the inventory is topped up to `products` products (in SQL, then published by an
   on-demand snapshot, as a new copy would find them), the copy is emptied (`rebuild`) and
   timed until it equals the inventory again: the whole stream replayed (every event of the
   stack's life, not only the snapshot), so the stream's size is printed with it.
Bounded: the counts, the rates, and a deadline on each wait.
"""

from __future__ import annotations

import subprocess
import threading
import time
import uuid
from typing import Any

import requests
import sqlalchemy as sa

from bench.measure import percentile
from e2e_tests.stack import (
    MANAGEMENT_URL,
    ROOT,
    TIMEOUT,
    URLS,
    admin_headers,
    catalog_command,
    container_env,
    database_url,
)
from messaging.topology import CATALOG_STREAM

WAIT_SECONDS = 120.0  # the deadline of each wait for the copy


def catalog_phase(
    load, *, changes: int, change_rate: float, order_rate: float, products: int
) -> dict[str, Any]:
    inventory, copy = _engine("inventory_service"), _engine("order_service")
    try:
        return {
            "lag": _lag_under_load(
                load, copy, changes=changes, change_rate=change_rate, order_rate=order_rate
            ),
            "rebuild": _rebuild(inventory, copy, products=products),
        }
    finally:
        inventory.dispose()
        copy.dispose()


def _engine(database: str) -> sa.Engine:
    return sa.create_engine(database_url(database), poolclass=sa.pool.NullPool)


def _put(session: requests.Session, sku: str, price_cents: int) -> None:
    answer = session.put(
        f"{URLS.inventory}/products/{sku}",
        json={"name": f"Bench item {sku}", "price_cents": price_cents, "available": 1000},
        timeout=TIMEOUT,
    )
    answer.raise_for_status()


def _lag_under_load(load, copy: sa.Engine, *, changes: int, change_rate: float, order_rate: float) -> dict:
    run = uuid.uuid4().hex[:8]
    skus = [f"BENCH-LAG-{run}-{n:05d}" for n in range(changes)]
    session = requests.Session()
    session.headers.update(admin_headers())
    for sku in skus:
        _put(session, sku, 1000)
    _wait_versions(copy, skus, version=1)
    seconds = changes / change_rate
    orders: list[Any] = []
    placing = threading.Thread(target=lambda: orders.append(load.open(rate=order_rate, seconds=seconds)))
    placing.start()
    started = time.monotonic()
    for n, sku in enumerate(skus):  # paced: the n-th change at n / change_rate
        time.sleep(max(0.0, started + n / change_rate - time.monotonic()))
        _put(session, sku, 1100)
    placing.join()
    _wait_versions(copy, skus, version=2)
    with copy.connect() as connection:
        lags = sorted(
            connection.execute(
                sa.text(
                    "SELECT extract(epoch FROM copied_at - changed_at) FROM catalog WHERE sku = ANY(:skus)"
                ),
                {"skus": skus},
            ).scalars()
        )
    ms = [float(lag) * 1000 for lag in lags]
    return {
        "changes": len(ms),
        "change_rate": change_rate,
        "order_rate": order_rate,
        "orders_confirmed": len(orders[0].order_ids) if orders else None,
        "orders_errors": orders[0].errors if orders else None,
        "p50_ms": round(percentile(ms, 50), 1),
        "p99_ms": round(percentile(ms, 99), 1) if len(ms) >= 1000 else None,
        "max_ms": round(max(ms), 1),
    }


def _wait_versions(copy: sa.Engine, skus: list[str], *, version: int) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    query = sa.text("SELECT count(*) FROM catalog WHERE sku = ANY(:skus) AND version >= :version")
    while True:
        with copy.connect() as connection:
            if connection.execute(query, {"skus": skus, "version": version}).scalar() == len(skus):
                return
        if time.monotonic() > deadline:
            raise TimeoutError(f"the copy did not reach version {version} of {len(skus)} products")
        time.sleep(0.1)


def _rebuild(inventory: sa.Engine, copy: sa.Engine, *, products: int) -> dict:
    with inventory.begin() as connection:
        held = connection.execute(sa.text("SELECT count(*) FROM products")).scalar()
        missing = max(0, products - held)
        run = uuid.uuid4().hex[:8]
        if missing:
            connection.execute(
                sa.text(
                    "INSERT INTO products (sku, name, price_cents, available)"
                    " SELECT 'BENCH-CAT-' || :run || '-' || n, 'Bench catalog item ' || n,"
                    " 500 + n % 5000, 100"
                    " FROM generate_series(1, :missing) AS n"
                ),
                {"run": run, "missing": missing},
            )
    if missing:  # published as a new copy would find them: by a snapshot on the catalog stream
        subprocess.run(
            [
                "docker",
                "compose",
                "exec",
                "-T",
                "inventory-expirer",
                "python",
                "-m",
                "inventory_service.snapshot",
            ],
            cwd=ROOT,
            check=True,
            capture_output=True,
            timeout=600,
        )
    _wait_equal(inventory, copy)
    stream_messages = _stream_messages()
    began = time.monotonic()
    rebuilt = catalog_command("rebuild")
    if rebuilt.returncode != 0:
        raise RuntimeError(f"rebuild: {rebuilt.stderr[-500:]}")
    total = _wait_equal(inventory, copy)
    return {
        "products": total,
        "seconds": round(time.monotonic() - began, 2),
        "stream_messages": stream_messages,
    }


def _versions(engine: sa.Engine, table: str) -> dict[str, int]:
    with engine.connect() as connection:
        return dict(connection.execute(sa.text(f"SELECT sku, version FROM {table}")).all())  # noqa: S608


def _wait_equal(inventory: sa.Engine, copy: sa.Engine) -> int:
    """Polls (deadline) until the copy holds every product at the inventory's version."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        source = _versions(inventory, "products")
        if _versions(copy, "catalog") == source:
            return len(source)
        if time.monotonic() > deadline:
            raise TimeoutError("the copy did not become equal to the inventory")
        time.sleep(0.1)


def _stream_messages() -> int | None:
    """How many messages the catalog stream holds (the management API's count, approximate)."""
    user, password = (container_env("rabbitmq", f"RABBITMQ_DEFAULT_{k}") for k in ("USER", "PASS"))
    try:
        answer = requests.get(
            f"{MANAGEMENT_URL}/queues/%2F/{CATALOG_STREAM}", auth=(user, password), timeout=TIMEOUT
        )
        return answer.json().get("messages") if answer.ok else None
    except requests.RequestException:
        return None
