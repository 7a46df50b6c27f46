"""The order worker's scheduled task: the sweeper."""

from __future__ import annotations

import logging

from celery import shared_task

from messaging.worker import skip_tick_when_database_down
from order_service import handlers

log = logging.getLogger(__name__)


@shared_task(bind=True, name="order_service.tasks.recover_orders")
def recover_orders(self) -> int:
    """Beat runs this every SWEEP_EVERY_SECONDS; a sweep that finds the database down waits
    for the next one."""
    return skip_tick_when_database_down(
        lambda: handlers.recover_orders(deps=self.app.service.deps()), what="sweep", log=log
    )
