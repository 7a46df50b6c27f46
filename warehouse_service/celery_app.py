"""The warehouse worker (composition root): consumes order.confirmed and order.cancelled,
dispatches due shipments.

Run: celery -A warehouse_service.celery_app worker -B --without-gossip --without-mingle
     --without-heartbeat -c 2 -s /tmp/celerybeat-schedule
"""

from __future__ import annotations

from celery import Celery

from messaging.envelope import Envelope
from messaging.worker import WorkerResources, create_worker_app, worker_engine, worker_entry_point
from warehouse_service import handlers
from warehouse_service.config import Settings, settings_from_env

EVENT_QUEUE = "warehouse.orders"
TASK_QUEUE = "warehouse.tasks"
DISPATCH_TASK = "warehouse_service.tasks.dispatch_due_shipments"


def create_worker(settings: Settings) -> Celery:
    worker = WorkerResources(settings=settings, engine=worker_engine(settings))

    def on_events(envelopes: list[Envelope]) -> None:
        handlers.handle_events(
            engine=worker.engine(),
            envelopes=envelopes,
            dispatch_delay_seconds=settings.dispatch_delay_seconds,
        )

    return create_worker_app(
        "warehouse_service",
        settings=settings,
        task_queue=TASK_QUEUE,
        include=["warehouse_service.tasks"],
        beat_schedule={
            "dispatch-due-shipments": {"task": DISPATCH_TASK, "schedule": settings.dispatch_every_seconds}
        },
        event_queues={EVENT_QUEUE: on_events},
        service=worker,
    )


__getattr__ = worker_entry_point(lambda: create_worker(settings_from_env()))
