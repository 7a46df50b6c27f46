"""The order service's Celery worker: listens for shipment events (order -> SHIPPED) and
runs the sweeper that resumes or compensates orders whose saga stopped moving.

Run: celery -A order_service.celery_app worker -B -s /tmp/celerybeat-schedule
     --without-gossip --without-mingle --without-heartbeat
"""

from __future__ import annotations

from functools import lru_cache

from celery import Celery
from celery.signals import worker_process_init

from messaging.celery_settings import hide_periodic_ticks, reliable_settings
from messaging.consumer import event_consumer_step
from messaging.envelope import Envelope
from order_service import handlers
from order_service.bootstrap import Dependencies, build_dependencies
from order_service.config import settings_from_env

settings = settings_from_env()


@lru_cache(maxsize=1)
def dependencies() -> Dependencies:
    return build_dependencies(settings)  # created on first use, in the process that uses it


@worker_process_init.connect
def _forget_parent_connections(**_: object) -> None:
    # A forked pool child must not reuse the parent's pooled sockets (SQLAlchemy's advice).
    if dependencies.cache_info().currsize:
        dependencies().engine.dispose(close=False)


def on_shipment_events(envelopes: list[Envelope]) -> None:
    handlers.record_shipments_dispatched(engine=dependencies().engine, envelopes=envelopes)


app = Celery("order_service", include=["order_service.tasks"])
app.conf.update(reliable_settings(broker_url=settings.broker_url, task_queue="order.tasks"))
app.conf.beat_schedule = {
    "recover-orders": {
        "task": "order_service.tasks.recover_orders",
        "schedule": settings.sweep_every_seconds,
    },
}
hide_periodic_ticks(app.conf.beat_schedule)
app.steps["consumer"].add(
    event_consumer_step(
        queue_name="order.shipments",
        handle_batch=on_shipment_events,
        liveness_file=settings.liveness_file,
    )
)
