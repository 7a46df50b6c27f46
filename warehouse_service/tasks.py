"""The warehouse's Celery tasks (run in the worker's pool, fed by beat)."""

from __future__ import annotations

import logging

from celery import shared_task

from messaging.worker import skip_tick_when_database_down
from warehouse_service import handlers

log = logging.getLogger(__name__)


@shared_task(bind=True, name="warehouse_service.tasks.dispatch_due_shipments")
def dispatch_due_shipments(self) -> int:
    """Beat runs this every DISPATCH_EVERY_SECONDS; a tick that finds the database down waits
    for the next one."""
    return skip_tick_when_database_down(
        lambda: handlers.dispatch_due_shipments(engine=self.app.service.engine()), what="dispatch", log=log
    )
