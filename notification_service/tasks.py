"""The notification Celery tasks: send a few emails; sweep for PENDING ones whose send was lost.

They reach the engine, the mailer and the settings through `self.app.service` (see
celery_app.Worker) and never import the worker module.
"""

from __future__ import annotations

import logging
import smtplib

from celery import shared_task
from sqlalchemy.exc import OperationalError

from messaging.backoff import backoff_seconds
from notification_service import handlers

log = logging.getLogger(__name__)

MAIL_OR_DATABASE_DOWN = (smtplib.SMTPException, OSError, OperationalError)
SEND_MAX_RETRIES = 8


def send_retry_delay(retries: int) -> float:
    """Before the next attempt of a failed send: up to 1 s, 2 s, 4 s ... at most 60 s (full jitter)."""
    return backoff_seconds(retries, first=1.0, cap=60.0, spread=1.0)


@shared_task(bind=True, name="notification_service.tasks.send_notifications", max_retries=SEND_MAX_RETRIES)
def send_notifications_task(self, notification_ids: list[str]) -> int:
    """Sends each in turn; a retry after a failure finds the ones already sent and skips them.
    SMTP or the database down: retried with backoff, then failed (the sweep sends it later)."""
    service = self.app.service
    try:
        return handlers.send_notifications(
            engine=service.engine(), mailer=service.mailer(), notification_ids=notification_ids
        )
    except MAIL_OR_DATABASE_DOWN as error:
        raise self.retry(exc=error, countdown=send_retry_delay(self.request.retries)) from error


@shared_task(bind=True, name="notification_service.tasks.resend_pending_notifications")
def resend_pending_notifications(self) -> int:
    """Sends what a lost or exhausted send left PENDING. The sweep itself is the retry (every
    resend_every_seconds): it sends inline and stops at the first failure, so an SMTP outage
    never piles up task chains, and nothing needs to expire into a dead-letter queue."""
    service = self.app.service
    settings = service.settings
    sent = 0
    try:
        pending = handlers.pending_notification_ids(
            engine=service.engine(), older_than_seconds=settings.resend_older_than_seconds
        )
        for start in range(0, len(pending), handlers.SEND_CHUNK):
            sent += handlers.send_notifications(
                engine=service.engine(),
                mailer=service.mailer(),
                notification_ids=pending[start : start + handlers.SEND_CHUNK],
            )
    except MAIL_OR_DATABASE_DOWN as error:
        log.warning(
            "sweep stopped after %d sends, will retry in %ss: %r", sent, settings.resend_every_seconds, error
        )
    return sent
