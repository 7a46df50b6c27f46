"""Notification use cases: one transaction each."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any, Protocol

import sqlalchemy as sa

from messaging.consumer import PoisonEvent
from messaging.envelope import Envelope
from notification_service import db
from notification_service.domain import SUPERSEDED_BY, InvalidEvent, draft_notification, message_id

log = logging.getLogger(__name__)


class Mailer(Protocol):
    def send(self, *, to: str, subject: str, body: str, message_id: str) -> None: ...


def handle_event(*, engine: sa.Engine, envelope: Envelope, enqueue_send: Callable[[str], None]) -> None:
    """The consumer step's handler: record (and commit) first, then ask a task to send."""
    notification_id = record_notification(engine=engine, envelope=envelope)
    if notification_id is None:
        return
    try:
        enqueue_send(notification_id)
    except Exception as error:  # noqa: BLE001 - committed already; the sweeper sends it later
        log.warning("could not enqueue notification %s (%r); the sweeper will", notification_id, error)


def record_notification(*, engine: sa.Engine, envelope: Envelope) -> str | None:
    """Records a PENDING notification; returns its id, or None when the event type is not
    one customers hear about, this event (inbox) or this order+kind was already recorded,
    or later news about the order makes it wrong (a confirmation after the cancellation)."""
    try:
        draft = draft_notification(event_type=envelope.type, data=envelope.data)
    except InvalidEvent as error:
        raise PoisonEvent(str(error)) from error
    if draft is None:
        log.info("no notification for %s event %s", envelope.type, envelope.id)
        return None
    notification_id = str(uuid.uuid4())
    with engine.begin() as connection:
        if not db.inbox.first_delivery(connection, message_id=envelope.id, event_type=envelope.type):
            return None
        later = SUPERSEDED_BY.get(draft.kind)
        if later is not None and db.has_notification(connection, order_id=draft.order_id, kind=later):
            log.info("not telling order %s is %s: it is already %s", draft.order_id, draft.kind, later)
            return None
        created = db.insert_notification(connection, notification_id=notification_id, draft=draft)
    return notification_id if created else None


def send_notification(*, engine: sa.Engine, mailer: Mailer, notification_id: str) -> bool:
    """Sends a PENDING notification and marks it SENT; False when there was nothing to send
    (already sent, unknown, or another sender holds it). The row stays locked while the
    mail goes out, so two senders never both send; a mailer error rolls back (still PENDING)."""
    with engine.begin() as connection:
        row = db.lock_pending(connection, notification_id=notification_id)
        if row is None:
            return False
        mailer.send(
            to=row.recipient,
            subject=row.subject,
            body=row.body,
            message_id=message_id(order_id=row.order_id, kind=row.kind),
        )
        db.mark_sent(connection, notification_id=notification_id)
    return True


def pending_notification_ids(*, engine: sa.Engine, older_than_seconds: float, limit: int = 100) -> list[str]:
    """PENDING notifications older than that: their send was lost (crash before enqueue) or failed."""
    with engine.connect() as connection:
        return db.select_pending_ids(
            connection, older_than=timedelta(seconds=older_than_seconds), limit=limit
        )


def list_notifications(*, engine: sa.Engine, order_id: str | None, limit: int) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        return db.select_notifications(connection, order_id=order_id, limit=limit)
