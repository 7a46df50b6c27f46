"""The notification worker (composition root): records notifications from events, sends them by SMTP.

Run: celery -A notification_service.celery_app worker -B --without-gossip --without-mingle
     --without-heartbeat -c 2 -s /tmp/celerybeat-schedule
"""

from __future__ import annotations

from dataclasses import dataclass

from celery import Celery

from messaging.envelope import Envelope
from messaging.worker import PerProcess, WorkerResources, create_worker_app, worker_engine, worker_entry_point
from notification_service import handlers
from notification_service.config import Settings, settings_from_env
from notification_service.mailer import SmtpMailer

EVENT_QUEUE = "notification.events"
TASK_QUEUE = "notification.tasks"
SEND_TASK = "notification_service.tasks.send_notifications"
RESEND_TASK = "notification_service.tasks.resend_pending_notifications"


@dataclass(frozen=True)
class Worker(WorkerResources[Settings]):
    """What the consumer step and the tasks use (`task.app.service`): settings, engine and
    the mailer."""

    # One per process: it keeps its SMTP connection open between emails. A pool child drops
    # the parent's (without closing it) and opens its own.
    mailer: PerProcess[SmtpMailer]


def create_worker(settings: Settings) -> Celery:
    worker = Worker(
        settings=settings,
        engine=worker_engine(settings),
        mailer=PerProcess(lambda: SmtpMailer.from_settings(settings)),
    )

    def enqueue_sends(notification_ids: list[str]) -> None:
        app.send_task(SEND_TASK, args=[notification_ids])

    def on_events(envelopes: list[Envelope]) -> None:
        handlers.handle_events(engine=worker.engine(), envelopes=envelopes, enqueue_sends=enqueue_sends)

    app = create_worker_app(
        "notification_service",
        settings=settings,
        task_queue=TASK_QUEUE,
        include=["notification_service.tasks"],
        beat_schedule={
            "resend-pending-notifications": {"task": RESEND_TASK, "schedule": settings.resend_every_seconds}
        },
        event_queues={EVENT_QUEUE: on_events},
        service=worker,
    )
    return app


__getattr__ = worker_entry_point(lambda: create_worker(settings_from_env()))
