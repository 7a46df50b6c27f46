"""The order worker's scheduled task: the sweeper (every SWEEP_EVERY_SECONDS)."""

from __future__ import annotations

from messaging.worker import periodic_task
from order_service import handlers

recover_orders = periodic_task(
    name="order_service.tasks.recover_orders",
    what="sweep",
    tick=lambda worker: handlers.recover_orders(deps=worker.deps()),
)
