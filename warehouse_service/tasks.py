"""The warehouse's Celery task, fed by beat (every DISPATCH_EVERY_SECONDS): dispatch what is due."""

from __future__ import annotations

from messaging.worker import periodic_task
from warehouse_service import handlers

dispatch_due_shipments = periodic_task(
    name="warehouse_service.tasks.dispatch_due_shipments",
    what="dispatch",
    tick=lambda worker: handlers.dispatch_due_shipments(engine=worker.engine()),
)
