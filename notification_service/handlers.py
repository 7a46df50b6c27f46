"""Notification use cases: one transaction each."""

from __future__ import annotations

import contextlib
import logging
import smtplib
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

import sqlalchemy as sa

from messaging.backoff import backoff_seconds
from messaging.envelope import Envelope, PoisonEvent, new_event
from messaging.metrics import EMAIL_SEND_FAILURES, EMAIL_SEND_SECONDS
from messaging.tracing import continued_span, current_traceparent, event_traceparent
from notification_service import db
from notification_service.domain import (
    SENT_EVENT,
    SUPERSEDED_BY,
    ClaimedNotification,
    InvalidEvent,
    Notification,
    NotificationDraft,
    draft_notification,
    message_id,
    sent_event_data,
)

log = logging.getLogger(__name__)
SOURCE = "notification_service"


class Mailer(Protocol):
    def send(
        self, *, to: str, subject: str, body: str, message_id: str, traceparent: str | None = None
    ) -> None: ...

    def has_delivered(self, message_id: str) -> bool | None:
        """Whether the mail server has an email with this Message-ID; None when it cannot be asked."""
        ...


EnqueueSends = Callable[[list[str]], None]
SEND_CHUNK = 3  # notifications per send task: fewer publishes, yet a burst spreads over the pool


def handle_events(*, engine: sa.Engine, envelopes: list[Envelope], enqueue_sends: EnqueueSends) -> None:
    """The consumer step's handler: record (and commit) first, then ask tasks to send."""
    ids = record_notifications(engine=engine, envelopes=envelopes)
    for start in range(0, len(ids), SEND_CHUNK):
        try:
            enqueue_sends(ids[start : start + SEND_CHUNK])
        except Exception as error:  # noqa: BLE001 - committed already; the sweeper sends them later
            log.warning("could not enqueue %d notifications (%r); the sweeper will", len(ids) - start, error)
            return


def record_notifications(*, engine: sa.Engine, envelopes: list[Envelope]) -> list[str]:
    """Records a PENDING notification per event, in one transaction for all of them; returns
    the ids of those recorded. An event makes none when its type is not one customers hear
    about, when it (inbox) or its order+kind was already recorded, or when later news about
    the order makes it wrong (a confirmation after the cancellation). Every event is read
    first, so a poison one fails the batch before any transaction."""
    drafts = [(envelope, draft) for envelope in envelopes if (draft := _draft(envelope)) is not None]
    if not drafts:
        return []
    with engine.begin() as connection:
        return _record_all(connection, drafts)


def _draft(envelope: Envelope) -> NotificationDraft | None:
    try:
        draft = draft_notification(event_type=envelope.type, data=envelope.data)
    except InvalidEvent as error:
        raise PoisonEvent(str(error)) from error
    if draft is None:
        log.info("no notification for %s event %s", envelope.type, envelope.id)
    return draft


def _record_all(connection: sa.Connection, drafts: list[tuple[Envelope, NotificationDraft]]) -> list[str]:
    """The inbox for all the events in one statement, then each new one in turn (in order:
    a cancellation earlier in the batch supersedes a confirmation after it)."""
    first = db.inbox.first_deliveries(connection, [(envelope.id, envelope.type) for envelope, _ in drafts])
    recorded = (
        _record(connection, draft, traceparent=event_traceparent(envelope))
        for envelope, draft in drafts
        if envelope.id in first
    )
    return [notification_id for notification_id in recorded if notification_id is not None]


def _record(
    connection: sa.Connection, draft: NotificationDraft, *, traceparent: str | None = None
) -> str | None:
    later = SUPERSEDED_BY.get(draft.kind)
    if later is not None and db.has_notification(connection, order_id=draft.order_id, kind=later):
        log.info("not telling order %s is %s: it is already %s", draft.order_id, draft.kind, later)
        return None
    notification_id = str(uuid.uuid4())
    created = db.insert_notification(
        connection, notification_id=notification_id, draft=draft, traceparent=traceparent
    )
    return notification_id if created else None


# > SEND_CHUNK sends at the SMTP timeout (3 x 10 s) + every retry of recording SENT (~24 s)
SEND_LEASE_SECONDS = 60.0
RECORD_SENT_ATTEMPTS = 8


def send_notifications(*, engine: sa.Engine, mailer: Mailer, notification_ids: list[str]) -> int:
    """Sends each PENDING one of them once and records it SENT, with its `notification.sent`
    event in the outbox (the same statement); returns how many it sent.

    Two phases, so a database restart can never make us send twice: claim (committed), send,
    then record SENT, retried until the database answers. A sender that dies between the SMTP
    server's acceptance of an email and its record leaves the claim to run out; whoever takes
    it over next knows the email is in doubt and asks the mail server (by Message-ID) before
    sending it again, so the customer still gets one. Each email is recorded as soon as it is
    out, so a crash puts at most one email of a chunk in doubt. A failed send releases the
    claims it did not use (marking the failed one in doubt unless the server refused it),
    then raises for the task to retry; but an email whose recipient the server refuses for
    good is recorded UNDELIVERABLE and the others go on (it would block every sweep)."""
    with engine.begin() as connection:
        claimed = db.claim_pending(
            connection, notification_ids=notification_ids, lease_seconds=SEND_LEASE_SECONDS
        )
    if not claimed:
        return 0
    # Checked out (and pinged) before the first email goes out, in autocommit: recording an
    # email is then one round trip, not four (checkout ping, BEGIN, UPDATE, COMMIT).
    went = 0
    with engine.connect() as pinned:
        recorder = pinned.execution_options(isolation_level="AUTOCOMMIT")
        for sent, each in enumerate(claimed):
            # A span per email, child of the one that recorded it (the order's trace).
            with continued_span(f"send {each.draft.kind} email", traceparent=each.traceparent):
                try:
                    _send_once(mailer, each)
                except smtplib.SMTPRecipientsRefused as error:
                    if not _refused_for_good(error):
                        _release(engine, claimed[sent:], failed=each, error=error)
                        raise
                    # Its address, not the server: the rest of the chunk still goes out.
                    log.error(
                        "notification %s undeliverable: its recipient refused (%s)",
                        each.notification_id, sorted({code for code, _ in error.recipients.values()}),
                        extra={"order_id": each.draft.order_id},
                    )  # fmt: skip
                    with engine.begin() as connection:
                        db.mark_undeliverable(connection, notification_id=each.notification_id)
                    continue
                except Exception as error:
                    _release(engine, claimed[sent:], failed=each, error=error)
                    raise
                # The send's span (child of the notification's) is the event's parent: the
                # order's trace goes on through notification-relay to the order service.
                event = sent_event(each, sent_at=datetime.now(UTC), traceparent=current_traceparent())
                _record_sent(engine, recorder, [event])
                went += 1
                order_id = each.draft.order_id  # not the address: personal data stays out of logs
                log.info(
                    "%s email sent: notification %s, %s %s",
                    each.draft.kind, each.notification_id, event.type, event.id,
                    extra={"order_id": order_id},
                )  # fmt: skip
    return went


def _release(
    engine: sa.Engine, unsent: list[ClaimedNotification], *, failed: ClaimedNotification, error: Exception
) -> None:
    """Frees the claims a failed send leaves unused, the failed one in doubt unless the server
    surely did not take it."""
    in_doubt = () if _surely_not_delivered(error) else (failed.notification_id,)
    with contextlib.suppress(sa.exc.SQLAlchemyError), engine.begin() as connection:
        db.release_claims(
            connection, notification_ids=[each.notification_id for each in unsent], in_doubt_ids=in_doubt
        )


def _refused_for_good(error: smtplib.SMTPRecipientsRefused) -> bool:
    """Every recipient refused with a permanent (5xx) code; a 4xx may pass later."""
    return bool(error.recipients) and all(code >= 500 for code, _ in error.recipients.values())


def sent_event(claimed: ClaimedNotification, *, sent_at: datetime, traceparent: str | None) -> Envelope:
    """The `notification.sent` event of an email recorded SENT: about its order (subject,
    correlationid), in the trace of `traceparent`, else of the notification's own."""
    order_id = claimed.draft.order_id
    return new_event(
        type=SENT_EVENT, source=SOURCE, subject=order_id, correlationid=order_id,
        data=sent_event_data(claimed, sent_at=sent_at), traceparent=traceparent or claimed.traceparent,
    )  # fmt: skip


def _send_once(mailer: Mailer, claimed: ClaimedNotification) -> None:
    draft = claimed.draft
    mail_id = message_id(order_id=draft.order_id, kind=draft.kind)
    if claimed.in_doubt:
        delivered = mailer.has_delivered(mail_id)
        if delivered:
            log.warning(
                "notification %s was delivered by a sender that died; recording it", claimed.notification_id
            )
            return
        if delivered is None:  # a plain SMTP relay cannot be asked: at least once, same Message-ID
            log.warning(
                "notification %s may have been sent already; sending it again", claimed.notification_id
            )
    email = draft.email
    try:
        with EMAIL_SEND_SECONDS.time():
            mailer.send(
                to=draft.recipient, subject=email.subject, body=email.body, message_id=mail_id,
                traceparent=current_traceparent(),
            )  # fmt: skip
    except Exception:
        EMAIL_SEND_FAILURES.inc()
        raise


def _surely_not_delivered(error: Exception) -> bool:
    """The server said no, or was never reached. Anything else (a timeout waiting for its
    answer to the message, a dropped connection) may have come after it took the email."""
    return isinstance(
        error, smtplib.SMTPResponseException | smtplib.SMTPRecipientsRefused | ConnectionRefusedError
    )


def _record_sent(engine: sa.Engine, recorder: sa.Connection, events: list[Envelope]) -> None:
    """SENT and the events (db.mark_sent): on the pinned connection first; if the database went
    away, on fresh ones until it is back (a retry of a record that did commit changes nothing)."""
    notification_ids = [event.data["notification_id"] for event in events]
    try:
        db.mark_sent(recorder, events=events)
        return
    except sa.exc.SQLAlchemyError as error:  # the database restarting, or this connection spoilt by it
        log.warning("notifications %s sent; recording it failed (%r), again", notification_ids, error)
    for attempt in range(RECORD_SENT_ATTEMPTS):
        try:
            with engine.begin() as connection:
                db.mark_sent(connection, events=events)
            return
        except sa.exc.OperationalError as error:
            if attempt == RECORD_SENT_ATTEMPTS - 1:
                raise
            # The mail is out: wait for the database, don't resend.
            delay = backoff_seconds(attempt, first=0.25, cap=8.0)
            log.warning(
                "notifications %s sent; recording it failed (%r), again in %.1fs",
                notification_ids,
                error,
                delay,
            )
            time.sleep(delay)


def pending_notification_ids(*, engine: sa.Engine, older_than_seconds: float, limit: int = 100) -> list[str]:
    """PENDING notifications older than that: their send was lost (crash before enqueue) or failed."""
    with engine.connect() as connection:
        return db.select_pending_ids(
            connection, older_than=timedelta(seconds=older_than_seconds), limit=limit
        )


def list_notifications(*, engine: sa.Engine, order_id: str | None, limit: int) -> list[Notification]:
    with engine.connect() as connection:
        return db.select_notifications(connection, order_id=order_id, limit=limit)
