"""The notification worker (composition root): records notifications from events, sends them by SMTP.

Run: celery -A notification_service.celery_app worker -B --without-gossip --without-mingle
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
from notification_service import handlers
from notification_service.config import settings_from_env
from notification_service.mailer import SmtpMailer

EVENT_QUEUE = "notification.events"
TASK_QUEUE = "notification.tasks"
SEND_TASK = "notification_service.tasks.send_notifications"
RESEND_TASK = "notification_service.tasks.resend_pending_notifications"
RESEND_EVERY_SECONDS = 10.0
RESEND_OLDER_THAN_SECONDS = 15.0  # younger rows are most likely still in the queue or being retried

settings = settings_from_env()


@lru_cache(maxsize=1)
def engine() -> sa.Engine:
    return make_engine(settings.database_url, pool_size=2)  # created on first use: no connection at import


@lru_cache(maxsize=1)
def mailer() -> SmtpMailer:  # one per process: it keeps its SMTP connection open between emails
    return SmtpMailer.from_settings(settings)


@worker_process_init.connect
def _forget_parent_connections(**_: object) -> None:
    # A pool child forked after the main process used the engine must not reuse (or
    # close) the parent's sockets: drop them without closing, as SQLAlchemy advises.
    if engine.cache_info().currsize:
        engine().dispose(close=False)
    mailer.cache_clear()


def enqueue_sends(notification_ids: list[str]) -> None:
    # Imported here, not at the top: tasks.py imports this module for `app`.
    from notification_service.tasks import send_notifications_task

    send_notifications_task.delay(notification_ids)


def on_events(envelopes: list[Envelope]) -> None:
    handlers.handle_events(engine=engine(), envelopes=envelopes, enqueue_sends=enqueue_sends)


app = Celery("notification_service", include=["notification_service.tasks"])
app.conf.update(reliable_settings(broker_url=settings.broker_url, task_queue=TASK_QUEUE))
app.conf.beat_schedule = {
    "resend-pending-notifications": {
        "task": RESEND_TASK,
        "schedule": RESEND_EVERY_SECONDS,
    }
}
hide_periodic_ticks(app.conf.beat_schedule)
app.steps["consumer"].add(
    event_consumer_step(queue_name=EVENT_QUEUE, handle_batch=on_events, liveness_file=settings.liveness_file)
)
