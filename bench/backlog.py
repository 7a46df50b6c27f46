"""Backlog drain: stop the consumers, pile up N orders' events, start them, time the drain.

Runs once with one warehouse worker and once with two (compose --scale), and always leaves
the stack as compose.yaml describes it: every consumer running, one warehouse worker.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import asdict, dataclass
from typing import Any

from bench.load import LoadProcess
from bench.measure import rows, wait_queues_empty
from e2e_tests.stack import ROOT, containers, is_healthy, queue_state

WATCHED = ("warehouse.orders", "notification.events")
ALSO_SHOWN = ("order.shipments", "order.notifications")  # the order worker's queues: shown, not waited on
CONSUMERS = ("warehouse-worker", "notification-worker")


@dataclass
class QueueDrain:
    queue: str
    depth_at_start: int
    events: int  # handled during the drain (from the consumer's database)
    drain_seconds: float | None  # from starting the workers to the queue seen empty
    events_per_s: float | None  # events / drain_seconds: what an operator waits for
    # First to last effect's DB timestamp, start-up left out: shipment rows for warehouse.orders;
    # emails *sent* for notification.events (sending runs behind consuming: its own rate).
    steady_events_per_s: float | None


def compose_scale_warehouse(count: int) -> None:
    command = ["docker", "compose", "up", "-d", "--no-deps", "--scale", f"warehouse-worker={count}"]
    result = subprocess.run(
        [*command, "warehouse-worker"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    if result.returncode != 0:
        raise RuntimeError(f"compose scale warehouse-worker={count}: {result.stderr[-2000:]}")


def wait_healthy(service: str, count: int, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(containers(service)) == count and is_healthy(service):
            return
        time.sleep(1)
    raise RuntimeError(f"{service}: not {count} healthy containers after {timeout} s")


def start_consumers() -> None:
    for service in CONSUMERS:
        for container in containers(service):
            container.reload()
            if container.status != "running":
                container.start()


def _rate(events: int, seconds: float | None) -> float | None:
    return round(events / seconds, 1) if seconds and seconds > 0 else None


def _span(values: list[Any]) -> float | None:
    return (max(values) - min(values)).total_seconds() if len(values) > 1 else None


def drain_round(load: LoadProcess, *, orders: int, concurrency: int, timeout: float) -> dict[str, Any]:
    """One round with whatever number of warehouse workers is running now."""
    workers = {service: len(containers(service)) for service in CONSUMERS}
    for service in CONSUMERS:
        for container in containers(service):
            container.stop(timeout=20)
    try:
        # The placement rate is whatever the API gives with the consumers down.
        placed = load.closed(concurrency=concurrency, seconds=timeout, max_requests=orders)
        ids = placed.order_ids
        relayed = wait_queues_empty((), timeout=120)  # only the order outbox: every event published
        depths = {name: ready for name, (ready, _) in queue_state(WATCHED + ALSO_SHOWN).items()}
        started_wall = time.time()
        started = time.monotonic()
        start_consumers()
        empty_at: dict[str, float | None] = {name: None for name in WATCHED}
        finished = False
        while time.monotonic() - started < timeout:
            state = queue_state(WATCHED)
            now = time.monotonic() - started
            for name, (ready, _) in state.items():
                if ready == 0 and empty_at[name] is None:
                    empty_at[name] = now
                elif ready > 0:
                    empty_at[name] = None  # refilled (shipment.dispatched keeps arriving): not done
            if all(v is not None for v in empty_at.values()):
                # Empty queues are not enough for notifications: dispatches (2 s after the
                # shipment) keep adding shipment.dispatched. Done once every email is sent.
                sent = rows(
                    "notification_service",
                    "SELECT count(*) AS n FROM notifications "
                    "WHERE sent_at IS NOT NULL AND order_id = ANY(:ids)",
                    ids=ids,
                )[0]["n"]
                if sent >= 2 * len(ids):
                    finished = True
                    break
            time.sleep(0.5)
    finally:
        start_consumers()
    shipments = rows(
        "warehouse_service", "SELECT created_at FROM shipments WHERE order_id = ANY(:ids)", ids=ids
    )
    sent_rows = rows(
        "notification_service",
        "SELECT sent_at FROM notifications WHERE sent_at IS NOT NULL AND order_id = ANY(:ids)",
        ids=ids,
    )
    ship_times = [r["created_at"] for r in shipments]
    mail_times = [r["sent_at"] for r in sent_rows]
    # Each queue's drain, and the database effects that show its events handled.
    effects = {"warehouse.orders": ship_times, "notification.events": mail_times}
    drains = [
        QueueDrain(
            queue=queue,
            depth_at_start=depths.get(queue, 0),
            events=len(times),
            drain_seconds=_round(empty_at[queue]),
            events_per_s=_rate(len(times), empty_at[queue]),
            steady_events_per_s=_rate(len(times), _span(times)),
        )
        for queue, times in effects.items()
    ]
    return {
        "warehouse_workers": workers["warehouse-worker"],
        "orders_requested": orders,
        "orders_confirmed": len(ids),
        "placement_errors": placed.errors,
        "placement_orders_per_s": _rate(placed.confirmed, placed.seconds),
        "outbox_relayed_s": _round(relayed),
        "depths_at_start": depths,
        "first_shipment_after_s": _round(min(ship_times).timestamp() - started_wall) if ship_times else None,
        "finished": finished,
        "queues": [asdict(d) for d in drains],
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def backlog_phase(
    load: LoadProcess, *, orders: int, concurrency: int, timeout: float
) -> list[dict[str, Any]]:
    rounds = [drain_round(load, orders=orders, concurrency=concurrency, timeout=timeout)]
    try:
        wait_queues_empty((*WATCHED, "notification.tasks"), timeout=timeout, emails=True)
        compose_scale_warehouse(2)
        wait_healthy("warehouse-worker", 2)
        rounds.append(drain_round(load, orders=orders, concurrency=concurrency, timeout=timeout))
    finally:
        # Always back to the stack compose.yaml describes, even after a failure or Ctrl-C.
        compose_scale_warehouse(1)
        start_consumers()
    return rounds
