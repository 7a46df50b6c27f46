"""The warehouse's Celery tasks (run in the worker's pool, fed by beat)."""

from __future__ import annotations

import logging

from celery import shared_task
from sqlalchemy.exc import OperationalError

from warehouse_service import handlers

log = logging.getLogger(__name__)


@shared_task(bind=True, name="warehouse_service.tasks.dispatch_due_shipments")
def dispatch_due_shipments(self) -> int:
    """Beat runs this every DISPATCH_EVERY_SECONDS; the next run is the retry, so a failed
    tick (database restarting) is logged, not retried or dead-lettered."""
    try:
        return handlers.dispatch_due_shipments(engine=self.app.service.engine())
    except OperationalError as error:
        log.warning("dispatch skipped, database unavailable: %r", error)
        return 0
