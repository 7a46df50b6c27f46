"""The storefront's push under connection load (issue 14): what 1,000 open WebSockets cost one
`order-web` process, and how late a step reaches its watcher while orders flow.

1. idle: order-web's CPU for a while with no socket open; then `connections` clients, each
   watching an order of its own (orders preloaded in SQL: the phase needs them to exist,
   not to have run), and the same window again. The difference, per connection, is what an
   idle socket costs (its heartbeats included); memory likewise (docker stats, before/after).
2. push: with those sockets still open, orders are placed at `rate`/s through the order API
   and each gets a watcher once placed. A subscriber of the bench's own on the broker notes
   when each `order.step` is published; a step's push latency is its arrival at the watcher
   minus that. Only steps published after their watcher connected count: the earlier ones
   came in the snapshot, which is not a push.
Bounded: the connections, the rate, the seconds, and a deadline for the last steps.
"""

from __future__ import annotations

import asyncio
import json
import resource
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from bench.measure import percentile
from e2e_tests.stack import URLS, amqp_url, containers, database_url, new_sku, order_body, post_order

STEP_ROUTING_KEY = "order.step"
SHIPPED_AND_EMAILS = 3  # live steps an order placed with tok_visa still has once POST answers


@dataclass
class PushRecord:
    published: dict[tuple[str, int], float] = field(default_factory=dict)  # (order, seq) -> broker time
    received: dict[tuple[str, int], float] = field(default_factory=dict)  # -> watcher time
    opened: dict[str, float] = field(default_factory=dict)  # order -> when its watcher connected
    errors: dict[str, int] = field(default_factory=dict)
    watchers: list[asyncio.Task] = field(default_factory=list)  # of the orders placed in the push step
    lock: threading.Lock = field(default_factory=threading.Lock)

    def error(self, what: str) -> None:
        with self.lock:
            self.errors[what] = self.errors.get(what, 0) + 1


def live_phase(*, connections: int, rate: float, seconds: float, idle_seconds: float) -> dict[str, Any]:
    _raise_open_files_limit(connections * 2 + 256)
    web = containers("order-web")[0]
    idle_orders = preload_orders(connections)
    result: dict[str, Any] = {"connections": connections, "rate": rate, "seconds": seconds}
    result.update(asyncio.run(_run(web, idle_orders, rate=rate, seconds=seconds, idle_seconds=idle_seconds)))
    return result


async def _run(web, idle_orders: list[str], *, rate: float, seconds: float, idle_seconds: float) -> dict:
    record = PushRecord()
    baseline_cpu = _cpu_ms_per_s(web, idle_seconds)
    memory_before = _memory_bytes(web)
    held = await _connect_all(idle_orders, record)
    await asyncio.sleep(2)  # the snapshots are sent; the sockets settle
    held_cpu = _cpu_ms_per_s(web, idle_seconds)
    memory_after = _memory_bytes(web)
    idle = {
        "held": sum(1 for task in held if not task.done()),
        "cpu_ms_per_s_without": round(baseline_cpu, 2),
        "cpu_ms_per_s_with": round(held_cpu, 2),
        "cpu_us_per_s_per_connection": round((held_cpu - baseline_cpu) * 1000 / max(1, len(idle_orders)), 3),
        "memory_mib_before": round(memory_before / 2**20, 1),
        "memory_mib_after": round(memory_after / 2**20, 1),
        "memory_kib_per_connection": round(
            (memory_after - memory_before) / 1024 / max(1, len(idle_orders)), 1
        ),
    }
    subscriber = _StepSubscriber(record)
    subscriber.start()
    try:
        placed = await _place_and_watch(record, rate=rate, seconds=seconds)
        await _wait_for_steps(record, placed, timeout=30)
    finally:
        subscriber.stop()
        still_open = sum(1 for task in held if not task.done())
        for task in held:
            task.cancel()
    latencies = [
        (received - record.published[key]) * 1000
        for key, received in record.received.items()
        if key in record.published and record.published[key] >= record.opened.get(key[0], float("inf"))
    ]
    return {
        "idle": idle,
        "push": {
            "orders": len(placed),
            "samples": len(latencies),
            "p50_ms": _round(percentile(latencies, 50)),
            "p99_ms": _round(percentile(latencies, 99)) if len(latencies) >= 1000 else None,
            "max_ms": _round(max(latencies, default=None)),
            "idle_sockets_still_open": still_open,
        },
        "errors": dict(record.errors),
    }


def preload_orders(count: int) -> list[str]:
    """`count` shipped orders with one step each, written straight into the order database."""
    run = uuid.uuid4().hex[:8]
    ids = [str(uuid.uuid4()) for _ in range(count)]
    engine = sa.create_engine(database_url("order_service"), poolclass=sa.pool.NullPool)
    with engine.begin() as connection:
        connection.execute(
            sa.text("""
                INSERT INTO orders (id, customer_id, email, status, items, currency, payment_token,
                                    stock_settled, payment_settled, last_step)
                VALUES (:id, :customer, :email, 'SHIPPED', '[]', 'EUR', 'tok_visa', true, true, 1)
            """),
            [{"id": i, "customer": f"bench-live-{run}", "email": f"live-{run}@example.test"} for i in ids],
        )
        connection.execute(
            sa.text(
                "INSERT INTO order_steps (order_id, seq, kind, status, at)"
                " VALUES (:id, 1, 'shipped', 'SHIPPED', now())"
            ),
            [{"id": i} for i in ids],
        )
    engine.dispose()
    return ids


def _ws_url(order_id: str) -> str:
    return f"{URLS.web.replace('http://', 'ws://')}/ws/orders/{order_id}"


async def _watch(order_id: str, record: PushRecord, ready: asyncio.Event | None = None) -> None:
    from websockets.asyncio.client import connect

    try:
        async with connect(_ws_url(order_id), open_timeout=30, ping_interval=None) as socket:
            record.opened[order_id] = time.time()
            if ready:
                ready.set()
            async for raw in socket:
                step = json.loads(raw)
                record.received.setdefault((order_id, step["seq"]), time.time())
    except asyncio.CancelledError:
        raise
    except Exception as error:  # noqa: BLE001 - counted: the goal is none
        record.error(type(error).__name__)
    finally:
        if ready:
            ready.set()


async def _connect_all(order_ids: list[str], record: PushRecord) -> list[asyncio.Task]:
    """Open a watcher per order, 50 handshakes at a time (a burst of 1,000 SYNs would only
    measure the listen backlog); returns the tasks that hold them."""
    tasks = []
    for start in range(0, len(order_ids), 50):
        batch = []
        for order_id in order_ids[start : start + 50]:
            ready = asyncio.Event()
            tasks.append(asyncio.create_task(_watch(order_id, record, ready)))
            batch.append(ready.wait())
        await asyncio.wait_for(asyncio.gather(*batch), timeout=60)
    return tasks


async def _place_and_watch(record: PushRecord, *, rate: float, seconds: float) -> list[str]:
    """Open loop: an order every 1/rate s for `seconds`, each watched once its POST answers."""
    sku = new_sku(available=1_000_000, price_cents=1200)
    placed: list[str] = []

    async def place() -> None:
        response = await asyncio.to_thread(post_order, order_body(sku=sku))
        if response.status_code != 201:
            record.error(f"POST {response.status_code}")
            return
        order_id = response.json()["id"]
        placed.append(order_id)
        record.watchers.append(asyncio.create_task(_watch(order_id, record)))

    started = time.monotonic()
    sends = []
    for n in range(int(rate * seconds)):
        await asyncio.sleep(max(0.0, started + n / rate - time.monotonic()))
        sends.append(asyncio.create_task(place()))
    await asyncio.gather(*sends)
    return placed


async def _wait_for_steps(record: PushRecord, placed: list[str], *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    wanted, orders = len(placed) * SHIPPED_AND_EMAILS, set(placed)
    while time.monotonic() < deadline:
        live = sum(1 for key in record.received if key[0] in orders and key in record.published)
        if live >= wanted:
            break
        await asyncio.sleep(0.5)
    for task in record.watchers:
        task.cancel()


class _StepSubscriber:
    """The bench's own queue on `events`, bound to order.step: when each step was published."""

    def __init__(self, record: PushRecord) -> None:
        self.record = record
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._consume, daemon=True)

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("the bench's step subscriber did not start")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _consume(self) -> None:
        import pika

        connection = pika.BlockingConnection(pika.URLParameters(amqp_url()))
        channel = connection.channel()
        queue = channel.queue_declare("", exclusive=True, auto_delete=True).method.queue
        channel.queue_bind(queue, "events", STEP_ROUTING_KEY)
        self._ready.set()
        try:
            for _method, _properties, body in channel.consume(queue, auto_ack=True, inactivity_timeout=0.2):
                if self._stop.is_set():
                    break
                if body is None:
                    continue
                data = json.loads(body)["data"]
                self.record.published.setdefault((data["order_id"], data["seq"]), time.time())
        finally:
            connection.close()


def _cpu_ms_per_s(container, seconds: float) -> float:
    """The container's CPU over `seconds` (ms of CPU per second of wall time), from the
    cgroup's cumulative counter read twice: no sampling, nothing run inside the container."""
    first, started = _cpu_ns(container), time.monotonic()
    time.sleep(seconds)
    return (_cpu_ns(container) - first) / 1e6 / (time.monotonic() - started)


def _cpu_ns(container) -> int:
    return container.stats(stream=False)["cpu_stats"]["cpu_usage"]["total_usage"]


def _memory_bytes(container) -> int:
    memory = container.stats(stream=False)["memory_stats"]
    stats = memory.get("stats", {})
    return memory["usage"] - stats.get("inactive_file", stats.get("cache", 0))


def _raise_open_files_limit(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
