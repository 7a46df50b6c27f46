"""The notification Celery tasks: send a few emails; sweep for PENDING ones whose send was lost."""

from __future__ import annotations

import logging
import smtplib

from sqlalchemy.exc import OperationalError

from notification_service import handlers
from notification_service.celery_app import (
    RESEND_EVERY_SECONDS,
    RESEND_OLDER_THAN_SECONDS,
    RESEND_TASK,
    SEND_TASK,
    app,
    engine,
    mailer,
)

log = logging.getLogger(__name__)


@app.task(
    bind=True,
    name=SEND_TASK,
    autoretry_for=(smtplib.SMTPException, OSError, OperationalError),  # SMTP or database down: retry
    retry_backoff=True,
    retry_backoff_max=60,
    max_retries=8,
)
def send_notifications_task(self, notification_ids: list[str]) -> int:
    """Sends each in turn; a retry after a failure finds the ones already sent and skips them."""
    return handlers.send_notifications(engine=engine(), mailer=mailer(), notification_ids=notification_ids)


@app.task(bind=True, name=RESEND_TASK)
def resend_pending_notifications(self) -> int:
    """Sends what a lost or exhausted send left PENDING. The sweep itself is the retry (every
    RESEND_EVERY_SECONDS): it sends inline and stops at the first failure, so an SMTP outage
    never piles up task chains, and nothing needs to expire into a dead-letter queue."""
    sent = 0
    try:
        pending = handlers.pending_notification_ids(
            engine=engine(), older_than_seconds=RESEND_OLDER_THAN_SECONDS
        )
        for start in range(0, len(pending), handlers.SEND_CHUNK):
            sent += handlers.send_notifications(
                engine=engine(),
                mailer=mailer(),
                notification_ids=pending[start : start + handlers.SEND_CHUNK],
            )
    except (smtplib.SMTPException, OSError, OperationalError) as error:
        log.warning("sweep stopped after %d sends, will retry in %ss: %r", sent, RESEND_EVERY_SECONDS, error)
    return sent
