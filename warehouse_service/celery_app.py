"""The warehouse worker (composition root): consumes order.confirmed and order.cancelled,
dispatches due shipments.

Run: celery -A warehouse_service.celery_app worker -B --without-gossip --without-mingle
     --without-heartbeat -c 2 -s /tmp/celerybeat-schedule
"""

from __future__ import annotations

from functools import lru_cache

import sqlalchemy as sa
from celery import Celery
from celery.signals import worker_process_init

from messaging.celery_settings import hide_periodic_ticks, reliable_settings
from messaging.consumer import event_consumer_step
from messaging.database import make_engine
from messaging.envelope import Envelope
from warehouse_service import handlers
from warehouse_service.config import settings_from_env

EVENT_QUEUE = "warehouse.orders"
TASK_QUEUE = "warehouse.tasks"

settings = settings_from_env()


@lru_cache(maxsize=1)
def engine() -> sa.Engine:
    return make_engine(settings.database_url, pool_size=2)  # created on first use: no connection at import


@worker_process_init.connect
def _forget_parent_connections(**_: object) -> None:
    # A pool child forked after the main process used the engine must not reuse (or
    # close) the parent's sockets: drop them without closing, as SQLAlchemy advises.
    if engine.cache_info().currsize:
        engine().dispose(close=False)


def on_events(envelopes: list[Envelope]) -> None:
    handlers.handle_events(
        engine=engine(), envelopes=envelopes, dispatch_delay_seconds=settings.dispatch_delay_seconds
    )


app = Celery("warehouse_service", include=["warehouse_service.tasks"])
app.conf.update(reliable_settings(broker_url=settings.broker_url, task_queue=TASK_QUEUE))
app.conf.beat_schedule = {
    "dispatch-due-shipments": {
        "task": "warehouse_service.tasks.dispatch_due_shipments",
        "schedule": settings.dispatch_every_seconds,
    }
}
hide_periodic_ticks(app.conf.beat_schedule)
app.steps["consumer"].add(
    event_consumer_step(queue_name=EVENT_QUEUE, handle_batch=on_events, liveness_file=settings.liveness_file)
)
