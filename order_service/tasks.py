"""The order worker's scheduled task: the sweeper."""

from __future__ import annotations

import logging

from celery import shared_task
from sqlalchemy.exc import OperationalError

from order_service import handlers

log = logging.getLogger(__name__)


@shared_task(bind=True, name="order_service.tasks.recover_orders")
def recover_orders(self) -> int:
    """Beat runs this every SWEEP_EVERY_SECONDS; the next run is the retry, so a failed
    sweep (database restarting) is logged, not retried or dead-lettered."""
    try:
        return handlers.recover_orders(deps=self.app.service.deps())
    except OperationalError as error:
        log.warning("sweep skipped, database unavailable: %r", error)
        return 0
