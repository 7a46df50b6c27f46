"""Notification tables and the queries the handlers need (SQLAlchemy Core)."""

from __future__ import annotations

import json
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from messaging.database import from_row
from messaging.envelope import Envelope
from messaging.inbox import Inbox, inbox_table
from messaging.outbox import NOTIFY_CHANNEL, Outbox, outbox_table
from notification_service.domain import (
    ClaimedNotification,
    Email,
    Notification,
    NotificationDraft,
    NotificationKind,
    NotificationStatus,
)

metadata = sa.MetaData()

notifications = sa.Table(
    "notifications",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("order_id", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("recipient", sa.Text, nullable=False),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False, server_default=NotificationStatus.PENDING.value),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),  # successful sends
    sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.Column("sent_at", sa.DateTime(timezone=True)),
    # Set while a sender has the mail in hand; a claim older than the lease is a dead sender's.
    sa.Column("claimed_at", sa.DateTime(timezone=True)),
    # A sender may have got it to the SMTP server without recording it (it died, or timed out
    # waiting for the answer): the next sender asks the mail server before sending it again.
    sa.Column("in_doubt", sa.Boolean, nullable=False, server_default=sa.false()),
    # The span that recorded it (W3C traceparent): the send continues the order's trace.
    sa.Column("traceparent", sa.Text),
    # One email per order and kind, however many events (ids) say the same thing.
    sa.UniqueConstraint("order_id", "kind", name="notifications_order_id_kind_key"),
    sa.CheckConstraint(
        "kind IN ('order_confirmed', 'order_rejected', 'order_failed', 'order_cancelled', 'order_shipped')",
        name="notifications_kind_check",
    ),
    sa.CheckConstraint("status IN ('PENDING', 'SENT', 'UNDELIVERABLE')", name="notifications_status_check"),
    # The sweeper's scan: only what is still to send.
    sa.Index("notifications_pending", "created_at", postgresql_where=sa.text("status = 'PENDING'")),
)
inbox = Inbox(inbox_table(metadata), consumer="notification.events")  # the queue (metrics label)
# notification.sent, one per email recorded SENT (mark_sent), published by notification-relay.
outbox = Outbox(outbox_table(metadata))

PUBLIC_COLUMNS = (
    notifications.c.id,
    notifications.c.order_id,
    notifications.c.kind,
    notifications.c.recipient,
    notifications.c.status,
    notifications.c.created_at,
    notifications.c.sent_at,
)


def insert_notification(
    connection: sa.Connection,
    *,
    notification_id: str,
    draft: NotificationDraft,
    traceparent: str | None = None,
) -> bool:
    """False when this order already has a notification of this kind."""
    values = {
        "traceparent": traceparent,
        "id": notification_id,
        "order_id": draft.order_id,
        "kind": draft.kind.value,
        "recipient": draft.recipient,
        "subject": draft.email.subject,
        "body": draft.email.body,
    }
    return connection.execute(_INSERT_NEW, values).rowcount == 1


def has_notification(connection: sa.Connection, *, order_id: str, kind: NotificationKind) -> bool:
    return connection.execute(_EXISTS, {"order_id": order_id, "kind": kind.value}).first() is not None


# The consumer's statements, built once (executed with parameters, compiled once).
_INSERT_NEW = insert(notifications).on_conflict_do_nothing(index_elements=["order_id", "kind"])
_EXISTS = sa.select(sa.literal(1)).where(
    notifications.c.order_id == sa.bindparam("order_id"), notifications.c.kind == sa.bindparam("kind")
)


def claim_pending(
    connection: sa.Connection, *, notification_ids: list[str], lease_seconds: float
) -> list[ClaimedNotification]:
    """Takes those still PENDING for sending, unless another sender claimed them within the
    lease. Committed before the mail goes out: no lock or transaction is held across SMTP."""
    rows = connection.execute(_CLAIM, {"ids": notification_ids, "lease_seconds": lease_seconds})
    claimed = [
        ClaimedNotification(
            notification_id=row.id,
            draft=NotificationDraft(
                order_id=row.order_id,
                kind=NotificationKind(row.kind),
                recipient=row.recipient,
                email=Email(subject=row.subject, body=row.body),
            ),
            in_doubt=row.in_doubt,
            traceparent=row.traceparent,
        )
        for row in rows
    ]
    return sorted(claimed, key=lambda each: notification_ids.index(each.notification_id))  # as asked


def release_claims(
    connection: sa.Connection, *, notification_ids: list[str], in_doubt_ids: tuple[str, ...] = ()
) -> None:
    """Frees them for the next sender; those in in_doubt_ids may have reached the SMTP server."""
    connection.execute(
        notifications.update()
        .where(notifications.c.id.in_(notification_ids))
        .values(claimed_at=None, in_doubt=notifications.c.in_doubt | notifications.c.id.in_(in_doubt_ids))
    )


def mark_undeliverable(connection: sa.Connection, *, notification_id: str) -> None:
    """The claimed one, whose recipient the mail server refused for good."""
    connection.execute(
        notifications.update()
        .where(
            notifications.c.id == notification_id, notifications.c.status == NotificationStatus.PENDING.value
        )
        .values(status=NotificationStatus.UNDELIVERABLE.value, claimed_at=None)
    )


def mark_sent(connection: sa.Connection, *, events: list[Envelope]) -> list[str]:
    """Records SENT the notification each `notification.sent` event names (`data.notification_id`,
    at `data.sent_at`), and puts that event in the outbox, in one statement; returns the ids of
    the events put there. A notification no longer PENDING (another sender recorded it, or this
    record is a retry of one whose commit went through unseen) is left as it is, without event:
    one event per email."""
    found = connection.execute(
        _MARK_SENT, {"events": json.dumps([event.to_dict() for event in events]), "channel": NOTIFY_CHANNEL}
    )
    return list(found.scalars())


# The senders' statements, built once like the consumer's.
_IDS = sa.bindparam("ids", expanding=True)
_CLAIM = (
    notifications.update()
    .where(
        notifications.c.id.in_(_IDS),
        notifications.c.status == NotificationStatus.PENDING.value,
        sa.or_(
            notifications.c.claimed_at.is_(None),
            notifications.c.claimed_at
            < sa.func.now()
            - sa.func.make_interval(0, 0, 0, 0, 0, 0, sa.bindparam("lease_seconds", type_=sa.Float)),
        ),
    )
    # Taking over a claim that was never released (its lease ran out): its sender died with
    # the mail in hand, maybe after the SMTP server took it. (SET reads the row as it was.)
    .values(
        claimed_at=sa.func.now(), in_doubt=notifications.c.in_doubt | notifications.c.claimed_at.is_not(None)
    )
    .returning(*notifications.c)
)
# One statement, so atomic without a transaction: the sender's pinned autocommit connection
# records an email and its event in one round trip (a transaction: BEGIN, UPDATE, INSERT,
# NOTIFY, COMMIT). pg_notify wakes the relay at commit, as Outbox.add does.
_MARK_SENT = sa.text("""
    WITH sent_event AS (
        SELECT envelope, envelope -> 'data' ->> 'notification_id' AS notification_id
        FROM jsonb_array_elements(CAST(:events AS jsonb)) AS each_event (envelope)
    ), sent AS (
        UPDATE notifications
        SET status = 'SENT', attempts = attempts + 1,
            sent_at = CAST(sent_event.envelope -> 'data' ->> 'sent_at' AS timestamptz)
        FROM sent_event
        WHERE id = sent_event.notification_id AND status = 'PENDING'
        RETURNING id
    ), announced AS (
        INSERT INTO outbox (event_id, event_type, envelope)
        SELECT envelope ->> 'id', envelope ->> 'type', envelope
        FROM sent_event JOIN sent ON sent.id = sent_event.notification_id
        RETURNING event_id
    )
    SELECT event_id, pg_notify(:channel, '') FROM announced
""")


def select_pending_ids(connection: sa.Connection, *, older_than: timedelta, limit: int) -> list[str]:
    query = (
        sa.select(notifications.c.id)
        .where(
            notifications.c.status == NotificationStatus.PENDING.value,
            notifications.c.created_at <= sa.func.now() - older_than,
        )
        .order_by(notifications.c.created_at)
        .limit(limit)
    )
    return list(connection.execute(query).scalars())


def select_notifications(
    connection: sa.Connection, *, order_id: str | None, limit: int
) -> list[Notification]:
    query = sa.select(*PUBLIC_COLUMNS).order_by(notifications.c.created_at.desc(), notifications.c.id)
    if order_id is not None:
        query = query.where(notifications.c.order_id == order_id)
    return [
        from_row(
            Notification,
            row,
            notification_id=row.id,
            kind=NotificationKind(row.kind),
            status=NotificationStatus(row.status),
        )
        for row in connection.execute(query.limit(limit))
    ]
