"""The order service's worker (composition root): listens for shipment events (order ->
SHIPPED) and emails sent (the order's next step), and runs the sweeper that resumes or
compensates orders whose saga stopped moving.

Run: celery -A order_service.celery_app worker -B -s /tmp/celerybeat-schedule
     --without-gossip --without-mingle --without-heartbeat
"""

from __future__ import annotations

from dataclasses import dataclass

from celery import Celery

from messaging.database import make_engine
from messaging.envelope import Envelope
from messaging.settings import Role
from messaging.worker import PerProcess, create_worker_app, worker_entry_point
from order_service import handlers
from order_service.bootstrap import Dependencies, build_dependencies
from order_service.config import Settings, settings_from_env

SHIPMENTS_QUEUE = "order.shipments"
NOTIFICATIONS_QUEUE = "order.notifications"
TASK_QUEUE = "order.tasks"
SWEEP_TASK = "order_service.tasks.recover_orders"


@dataclass(frozen=True)
class Worker:
    """What the consumer step and the tasks use (`task.app.service`)."""

    settings: Settings
    deps: PerProcess[Dependencies]


def create_worker(settings: Settings) -> Celery:
    def wire() -> Dependencies:  # an engine pooled for a worker process, not an API's
        engine = make_engine(settings.database_url, pool_size=settings.pool_size(Role.WORKER))
        return build_dependencies(settings, engine=engine)

    worker = Worker(
        settings=settings, deps=PerProcess(wire, forget=lambda deps: deps.engine.dispose(close=False))
    )

    def on_shipment_events(envelopes: list[Envelope]) -> None:
        handlers.record_shipments_dispatched(engine=worker.deps().engine, envelopes=envelopes)

    def on_notification_events(envelopes: list[Envelope]) -> None:
        handlers.record_emails_sent(engine=worker.deps().engine, envelopes=envelopes)

    return create_worker_app(
        "order_service",
        settings=settings,
        task_queue=TASK_QUEUE,
        include=["order_service.tasks"],
        beat_schedule={"recover-orders": {"task": SWEEP_TASK, "schedule": settings.sweep_every_seconds}},
        event_queues={SHIPMENTS_QUEUE: on_shipment_events, NOTIFICATIONS_QUEUE: on_notification_events},
        service=worker,
    )


__getattr__ = worker_entry_point(lambda: create_worker(settings_from_env()))
