"""The order service's Celery worker: listens for shipment events (order -> SHIPPED).

Run: celery -A order_service.celery_app worker --without-gossip --without-mingle --without-heartbeat
"""

from __future__ import annotations

from functools import lru_cache

from celery import Celery

from messaging.celery_settings import reliable_settings
from messaging.consumer import event_consumer_step
from messaging.database import make_engine
from messaging.envelope import Envelope
from order_service import handlers
from order_service.config import settings_from_env

settings = settings_from_env()


@lru_cache(maxsize=1)
def engine():
    return make_engine(settings.database_url)  # created on first use, in the process that uses it


def on_shipment_event(envelope: Envelope) -> None:
    handlers.record_shipment_dispatched(engine=engine(), envelope=envelope)


app = Celery("order_service")
app.conf.update(reliable_settings(broker_url=settings.broker_url, task_queue="order.tasks"))
app.steps["consumer"].add(
    event_consumer_step(
        queue_name="order.shipments", handle=on_shipment_event, liveness_file=settings.liveness_file
    )
)
