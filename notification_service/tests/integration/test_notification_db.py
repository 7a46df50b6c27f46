"""Notification handlers and API against a real PostgreSQL."""

from __future__ import annotations

import smtplib
import threading
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from contracts import validate_event
from messaging.credentials import ADMIN
from messaging.envelope import Envelope, trace_id_of
from notification_service import db, handlers
from notification_service.api import create_app
from notification_service.config import Settings
from notification_service.domain import draft_notification
from testsupport.callers import TEST_CALLERS, bearer
from testsupport.events import example_envelope


class RecordingMailer:
    """delivered: the Message-IDs the mail server says it has (None: it cannot be asked)."""

    def __init__(self, *, wait_for: threading.Event | None = None, delivered: set[str] | None = None) -> None:
        self.sent: list[dict[str, str]] = []
        self.wait_for = wait_for
        self.entered = threading.Event()  # set once send() runs, i.e. the row lock is held
        self.delivered = delivered
        self.asked: list[str] = []

    def has_delivered(self, message_id: str) -> bool | None:
        self.asked.append(message_id)
        return None if self.delivered is None else message_id in self.delivered

    def send(
        self, *, to: str, subject: str, body: str, message_id: str, traceparent: str | None = None
    ) -> None:
        self.entered.set()
        if self.wait_for is not None:
            self.wait_for.wait(timeout=10)
        self.sent.append({"to": to, "subject": subject, "body": body, "message_id": message_id})


class BrokenMailer:
    def __init__(self, error: Exception | None = None) -> None:
        self.error = error or ConnectionRefusedError("smtp is down")

    def send(self, **_: str) -> None:
        raise self.error

    def has_delivered(self, message_id: str) -> bool | None:
        raise OSError("the mail server's API does not answer either")


class MailerFailingAfter(RecordingMailer):
    def __init__(self, successes: int) -> None:
        super().__init__()
        self.successes = successes

    def send(self, **email: str) -> None:
        if len(self.sent) == self.successes:
            raise ConnectionRefusedError("smtp went down")
        super().send(**email)


def record(engine: sa.Engine, envelope: Envelope) -> str | None:
    """One event through the batch handler: the id of its new notification, or None."""
    [notification_id] = handlers.record_notifications(engine=engine, envelopes=[envelope]) or [None]
    return notification_id


def send(engine: sa.Engine, mailer, notification_id: str | None) -> bool:
    """True when it was sent now (False: already sent, unknown, or another sender has it)."""
    return handlers.send_notifications(engine=engine, mailer=mailer, notification_ids=[notification_id]) == 1


def rows(engine: sa.Engine, *where) -> list[sa.Row]:
    with engine.connect() as connection:
        return connection.execute(sa.select(db.notifications).where(*where)).all()


def sent_events(engine: sa.Engine) -> list[dict]:
    """The outbox's events, oldest first, each checked against its contract."""
    with engine.connect() as connection:
        events = list(connection.execute(sa.select(db.outbox.table.c.envelope).order_by("id")).scalars())
    for event in events:
        validate_event(event)
    return events


def test_the_migration_creates_exactly_the_tables_db_py_declares(engine):
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), db.metadata) == []


def test_recording_the_same_event_twice_makes_one_notification(engine):
    envelope = example_envelope("order.confirmed")
    first = record(engine, envelope)
    assert record(engine, envelope) is None
    [row] = rows(engine)
    assert (row.id, row.kind, row.recipient, row.status, row.attempts) == (
        first,
        "order_confirmed",
        "ada@example.com",
        "PENDING",
        0,
    )
    assert "64.99 EUR" in row.body


def test_another_event_saying_the_same_thing_makes_no_second_notification(engine):
    first = example_envelope("order.rejected")
    again = example_envelope("order.rejected", order_id=first.data["order_id"])
    assert record(engine, first) is not None
    assert record(engine, again) is None
    assert len(rows(engine)) == 1


def test_each_kind_of_news_about_an_order_is_its_own_notification(engine):
    order_id = "o-kinds"
    for event_type in ("order.confirmed", "shipment.dispatched"):
        record(engine, example_envelope(event_type, order_id=order_id))
    assert sorted(row.kind for row in rows(engine)) == ["order_confirmed", "order_shipped"]


def test_a_cancellation_is_its_own_notification_after_the_confirmation(engine):
    order_id = "o-cancelled"
    for event_type in ("order.confirmed", "order.cancelled"):
        assert record(engine, example_envelope(event_type, order_id=order_id))

    kinds = {row.kind: row for row in rows(engine)}
    assert sorted(kinds) == ["order_cancelled", "order_confirmed"]
    assert kinds["order_cancelled"].subject == f"Your order {order_id} has been cancelled"
    assert "because you asked us to cancel it" in kinds["order_cancelled"].body


def test_a_confirmation_arriving_after_the_cancellation_is_not_told(engine):
    order_id = "o-reordered"
    cancellation = example_envelope("order.cancelled", order_id=order_id)
    cancelled = record(engine, cancellation)
    late = example_envelope("order.confirmed", order_id=order_id)

    assert record(engine, late) is None

    assert [(row.id, row.kind) for row in rows(engine)] == [(cancelled, "order_cancelled")]
    with engine.connect() as connection:
        handled = connection.execute(
            sa.select(db.inbox.table.c.message_id).where(db.inbox.table.c.message_id == late.id)
        ).all()
    assert len(handled) == 1  # remembered as handled: a redelivery is not reconsidered


def test_send_sends_once_and_marks_sent(engine):
    envelope = example_envelope("shipment.dispatched")
    notification_id = record(engine, envelope)
    mailer = RecordingMailer()

    assert send(engine, mailer, notification_id) is True
    assert send(engine, mailer, notification_id) is False

    [email] = mailer.sent
    order_id = envelope.data["order_id"]
    assert email["to"] == "ada@example.com"
    assert email["subject"] == f"Your order {order_id} has shipped"
    assert email["message_id"] == f"<{order_id}.order_shipped@order-pipeline.local>"
    [row] = rows(engine)
    assert (row.status, row.attempts) == ("SENT", 1)
    assert row.sent_at is not None


def test_an_email_recorded_sent_puts_its_notification_sent_event_in_the_outbox(engine):
    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    envelope = example_envelope("order.confirmed")
    draft = draft_notification(event_type=envelope.type, data=envelope.data)
    with engine.begin() as connection:  # recorded by the handling of an event of that trace
        db.insert_notification(connection, notification_id="n-1", draft=draft, traceparent=traceparent)
    assert send(engine, RecordingMailer(), "n-1") is True

    [event] = sent_events(engine)
    [row] = rows(engine)
    order_id = envelope.data["order_id"]
    assert (event["type"], event["source"], event["subject"], event["correlationid"]) == (
        "notification.sent", "notification_service", order_id, order_id
    )  # fmt: skip
    assert event["data"] == {
        "notification_id": "n-1", "order_id": order_id, "kind": "order_confirmed",
        "sent_at": row.sent_at.isoformat(),
    }  # fmt: skip
    assert trace_id_of(event.get("traceparent")) == trace_id_of(traceparent)  # the order's trace goes on
    assert send(engine, RecordingMailer(), "n-1") is False
    assert len(sent_events(engine)) == 1  # one event per email


def test_an_email_not_sent_puts_no_event_in_the_outbox(engine):
    notification_id = record(engine, example_envelope("order.failed"))
    with pytest.raises(ConnectionRefusedError):
        send(engine, BrokenMailer(), notification_id)
    record(engine, example_envelope("order.rejected"))  # recorded, not yet sent
    assert sent_events(engine) == []


def test_a_failing_mailer_leaves_the_notification_pending(engine):
    notification_id = record(engine, example_envelope("order.failed"))
    with pytest.raises(ConnectionRefusedError):
        send(engine, BrokenMailer(), notification_id)
    [row] = rows(engine)
    assert (row.status, row.attempts, row.sent_at) == ("PENDING", 0, None)
    # ... and a later attempt, once SMTP is back, sends it.
    mailer = RecordingMailer()
    assert send(engine, mailer, notification_id)
    assert len(mailer.sent) == 1


def test_a_batch_sends_each_pending_one_once_in_the_order_given(engine):
    ids = [record(engine, example_envelope("order.confirmed")) for _ in range(3)]
    send(engine, RecordingMailer(), notification_id=ids[1])
    mailer = RecordingMailer()

    sent = handlers.send_notifications(
        engine=engine, mailer=mailer, notification_ids=[ids[2], ids[1], ids[0]]
    )

    assert sent == 2  # ids[1] was sent already
    subjects = {row.id: row.subject for row in rows(engine)}
    assert [email["subject"] for email in mailer.sent] == [subjects[ids[2]], subjects[ids[0]]]
    assert {(row.status, row.attempts) for row in rows(engine)} == {("SENT", 1)}


def test_a_send_failing_mid_batch_records_what_went_out_and_releases_the_rest(engine):
    ids = [record(engine, example_envelope("order.confirmed")) for _ in range(3)]
    with pytest.raises(ConnectionRefusedError):
        handlers.send_notifications(engine=engine, mailer=MailerFailingAfter(1), notification_ids=ids)
    state = {row.id: (row.status, row.claimed_at is None) for row in rows(engine)}
    assert state == {ids[0]: ("SENT", False), ids[1]: ("PENDING", True), ids[2]: ("PENDING", True)}

    # The task's retry sends only the two left, at once: their claims were released.
    mailer = RecordingMailer()
    assert handlers.send_notifications(engine=engine, mailer=mailer, notification_ids=ids) == 2
    assert len(mailer.sent) == 2
    assert {row.status for row in rows(engine)} == {"SENT"}


def test_a_database_outage_after_the_mail_left_never_sends_it_twice(engine, monkeypatch):
    notification_id = record(engine, example_envelope("order.failed"))
    mailer, real_mark_sent, failures = RecordingMailer(), db.mark_sent, []

    def mark_sent_while_postgres_restarts(connection, **kwargs):
        if len(failures) < 2:
            failures.append(1)
            raise sa.exc.OperationalError(
                "UPDATE", {}, Exception("server closed the connection unexpectedly")
            )
        real_mark_sent(connection, **kwargs)

    monkeypatch.setattr(db, "mark_sent", mark_sent_while_postgres_restarts)
    monkeypatch.setattr(handlers.time, "sleep", lambda seconds: None)  # no real backoff in a test

    assert send(engine, mailer, notification_id) is True
    assert send(engine, mailer, notification_id) is False

    assert len(mailer.sent) == 1 and len(failures) == 2
    [row] = rows(engine)
    assert row.status == "SENT"
    assert [event["data"]["notification_id"] for event in sent_events(engine)] == [notification_id]


def test_recording_again_a_record_that_did_commit_changes_nothing(engine):
    """The database took the record but its answer was lost: the retry finds it SENT already."""
    notification_id = record(engine, example_envelope("order.failed"))
    with engine.begin() as connection:
        [claimed] = db.claim_pending(connection, notification_ids=[notification_id], lease_seconds=60)
    event = handlers.sent_event(claimed, sent_at=datetime.now(UTC), traceparent=None)
    with engine.begin() as connection:
        assert db.mark_sent(connection, events=[event]) == [event.id]
    with engine.begin() as connection:
        assert db.mark_sent(connection, events=[event]) == []
    assert [(row.status, row.attempts) for row in rows(engine)] == [("SENT", 1)]
    assert len(sent_events(engine)) == 1


def test_a_claimed_notification_is_not_sent_by_a_second_sender(engine):
    notification_id = record(engine, example_envelope("order.failed"))
    with engine.begin() as connection:  # a sender that died with the mail in hand, just now
        db.claim_pending(connection, notification_ids=[notification_id], lease_seconds=60)
    mailer = RecordingMailer()

    assert send(engine, mailer, notification_id) is False
    assert mailer.sent == []


def die_after_claiming(engine: sa.Engine, notification_id: str) -> None:
    """A sender claimed it and was SIGKILLed, maybe after the SMTP server took the email;
    then its lease ran out."""
    with engine.begin() as connection:
        db.claim_pending(connection, notification_ids=[notification_id], lease_seconds=60)
        connection.execute(
            db.notifications.update()
            .where(db.notifications.c.id == notification_id)
            .values(claimed_at=sa.func.now() - sa.text("interval '2 minutes'"))
        )


def test_an_email_a_dead_sender_got_to_the_mail_server_is_recorded_not_sent_again(engine):
    envelope = example_envelope("shipment.dispatched")
    notification_id = record(engine, envelope)
    die_after_claiming(engine, notification_id)
    expected_id = f"<{envelope.data['order_id']}.order_shipped@order-pipeline.local>"
    mailer = RecordingMailer(delivered={expected_id})

    assert send(engine, mailer, notification_id) is True

    assert (mailer.asked, mailer.sent) == ([expected_id], [])
    [row] = rows(engine)
    assert (row.status, row.attempts, row.in_doubt) == ("SENT", 1, True)
    [event] = sent_events(engine)  # found delivered: announced like any email sent
    assert (event["data"]["notification_id"], event["data"]["kind"]) == (notification_id, "order_shipped")


def test_an_email_a_dead_sender_never_got_out_is_sent_once_after_asking(engine):
    notification_id = record(engine, example_envelope("order.confirmed"))
    die_after_claiming(engine, notification_id)
    mailer = RecordingMailer(delivered=set())

    assert send(engine, mailer, notification_id) is True

    assert len(mailer.asked) == 1 and len(mailer.sent) == 1
    assert rows(engine)[0].status == "SENT"


def test_without_a_mail_server_to_ask_an_email_in_doubt_is_sent_again_with_its_message_id(engine, caplog):
    notification_id = record(engine, example_envelope("order.confirmed"))
    die_after_claiming(engine, notification_id)
    mailer = RecordingMailer(delivered=None)

    assert send(engine, mailer, notification_id) is True

    assert len(mailer.sent) == 1
    assert "may have been sent already" in caplog.text


def test_a_fresh_notification_is_sent_without_asking_the_mail_server(engine):
    notification_id = record(engine, example_envelope("order.confirmed"))
    mailer = RecordingMailer(delivered=set())
    assert send(engine, mailer, notification_id) is True
    assert (mailer.asked, len(mailer.sent)) == ([], 1)
    assert rows(engine)[0].in_doubt is False


def test_when_the_mail_server_cannot_be_asked_nothing_is_sent_and_it_stays_in_doubt(engine):
    notification_id = record(engine, example_envelope("order.confirmed"))
    die_after_claiming(engine, notification_id)

    with pytest.raises(OSError, match="does not answer"):
        send(engine, BrokenMailer(), notification_id)

    [row] = rows(engine)
    assert (row.status, row.claimed_at, row.in_doubt) == ("PENDING", None, True)
    # Released, yet still in doubt: the retry asks again before it sends.
    mailer = RecordingMailer(delivered=set())
    assert send(engine, mailer, notification_id) is True
    assert (len(mailer.asked), len(mailer.sent)) == (1, 1)


@pytest.mark.parametrize(
    ("error", "in_doubt"),
    [
        (TimeoutError("no answer to the message"), True),
        (smtplib.SMTPServerDisconnected("dropped"), True),
        (smtplib.SMTPDataError(554, b"rejected"), False),
        (ConnectionRefusedError("smtp is down"), False),
    ],
)
def test_a_send_that_failed_after_the_server_may_have_taken_it_is_in_doubt(engine, error, in_doubt):
    notification_id = record(engine, example_envelope("order.confirmed"))
    with pytest.raises(type(error)):
        send(engine, BrokenMailer(error), notification_id)
    [row] = rows(engine)
    assert (row.status, row.claimed_at, row.in_doubt) == ("PENDING", None, in_doubt)


def test_two_concurrent_senders_send_one_email(engine):
    notification_id = record(engine, example_envelope("order.confirmed"))
    release = threading.Event()
    slow = RecordingMailer(wait_for=release)  # holds the row lock while "sending"
    fast = RecordingMailer()
    results: dict[str, bool] = {}
    first = threading.Thread(target=lambda: results.update(slow=send(engine, slow, notification_id)))
    first.start()
    try:
        assert slow.entered.wait(timeout=10)
        # The second sender runs while the first holds the lock: SKIP LOCKED makes it back off.
        results["fast"] = send(engine, fast, notification_id)
    finally:
        release.set()
        first.join(timeout=30)
    assert results == {"slow": True, "fast": False}
    assert len(slow.sent) + len(fast.sent) == 1
    assert len(sent_events(engine)) == 1


def test_the_sweeper_sees_only_old_pending_notifications(engine):
    old, young, sent = (record(engine, example_envelope("order.confirmed")) for _ in range(3))
    send(engine, RecordingMailer(), sent)
    with engine.begin() as connection:
        connection.execute(
            db.notifications.update()
            .where(db.notifications.c.id.in_([old, sent]))
            .values(created_at=sa.func.now() - sa.text("interval '1 minute'"))
        )
    assert handlers.pending_notification_ids(engine=engine, older_than_seconds=15) == [old]
    assert set(handlers.pending_notification_ids(engine=engine, older_than_seconds=0)) == {old, young}


def test_handle_events_enqueues_the_new_notification_once(engine):
    envelope = example_envelope("order.confirmed")
    enqueued: list[str] = []
    handlers.handle_events(engine=engine, envelopes=[envelope], enqueue_sends=enqueued.extend)
    handlers.handle_events(engine=engine, envelopes=[envelope], enqueue_sends=enqueued.extend)
    assert enqueued == [rows(engine)[0].id]


def test_a_batch_records_as_the_same_events_one_by_one_would(engine):
    confirmed = example_envelope("order.confirmed")
    cancelled = example_envelope("order.cancelled")
    late_confirmation = example_envelope("order.confirmed", order_id=cancelled.data["order_id"])
    same_news_again = example_envelope("order.confirmed", order_id=confirmed.data["order_id"])
    batch = [confirmed, confirmed, cancelled, late_confirmation, same_news_again]
    enqueued: list[str] = []

    handlers.handle_events(engine=engine, envelopes=batch, enqueue_sends=enqueued.extend)
    handlers.handle_events(engine=engine, envelopes=batch, enqueue_sends=enqueued.extend)  # redelivered

    recorded = {(row.order_id, row.kind): row.id for row in rows(engine)}
    assert recorded.keys() == {
        (confirmed.data["order_id"], "order_confirmed"),
        (cancelled.data["order_id"], "order_cancelled"),  # the confirmation after it is not sent
    }
    assert sorted(enqueued) == sorted(recorded.values())  # each once, none on the redelivery


def test_a_failed_enqueue_still_acks_because_the_row_is_committed(engine):
    def broker_down(_: list[str]) -> None:
        raise ConnectionError("broker unreachable")

    handlers.handle_events(
        engine=engine, envelopes=[example_envelope("order.failed")], enqueue_sends=broker_down
    )
    [row] = rows(engine)
    assert row.status == "PENDING"  # left for the sweeper
    assert handlers.pending_notification_ids(engine=engine, older_than_seconds=0) == [row.id]


def test_the_api_lists_notifications_by_order(engine):
    envelope = example_envelope("order.confirmed")
    notification_id = record(engine, envelope)
    record(engine, example_envelope("order.rejected"))
    send(engine, RecordingMailer(), notification_id)
    client = create_app(Settings(database_url="unused", callers=TEST_CALLERS), engine=engine).test_client()

    response = client.get(f"/notifications?order_id={envelope.data['order_id']}")
    assert response.status_code == 200
    [shown] = response.json
    assert set(shown) == {"id", "order_id", "kind", "to", "status", "created_at", "sent_at"}
    assert (shown["id"], shown["kind"], shown["to"], shown["status"]) == (
        notification_id,
        "order_confirmed",
        "ada@example.com",
        "SENT",
    )
    assert len(client.get("/notifications", headers=bearer(ADMIN)).json) == 2  # every address: admin
    assert client.get("/notifications?order_id=nobody").json == []
    assert client.get("/readyz").status_code == 200


class MailerRefusing(RecordingMailer):
    """A mail server that refuses one recipient, with `code` (5xx for good, 4xx for now)."""

    def __init__(self, refused: str, code: int = 501) -> None:
        super().__init__()
        self.refused, self.code = refused, code

    def send(self, **email: str) -> None:
        if email["to"] == self.refused:
            raise smtplib.SMTPRecipientsRefused({self.refused: (self.code, b"Bad recipient address syntax")})
        super().send(**email)


def _with_recipient(engine: sa.Engine, notification_id: str, recipient: str) -> None:
    with engine.begin() as connection:
        connection.execute(
            db.notifications.update()
            .where(db.notifications.c.id == notification_id)
            .values(recipient=recipient)
        )


def test_a_recipient_refused_for_good_is_undeliverable_and_the_rest_of_the_chunk_goes_out(engine):
    ids = [record(engine, example_envelope("order.confirmed")) for _ in range(3)]
    _with_recipient(engine, ids[0], "not,an@address.example")
    mailer = MailerRefusing("not,an@address.example")

    assert handlers.send_notifications(engine=engine, mailer=mailer, notification_ids=ids) == 2

    state = {row.id: row.status for row in rows(engine)}
    assert state == {ids[0]: "UNDELIVERABLE", ids[1]: "SENT", ids[2]: "SENT"}
    assert handlers.pending_notification_ids(engine=engine, older_than_seconds=0) == []  # no sweep retries it
    assert sorted(event["data"]["notification_id"] for event in sent_events(engine)) == sorted(ids[1:])


def test_a_recipient_refused_for_now_stays_pending_for_a_later_try(engine):
    notification_id = record(engine, example_envelope("order.confirmed"))
    _with_recipient(engine, notification_id, "busy@example.test")

    with pytest.raises(smtplib.SMTPRecipientsRefused):
        send(engine, MailerRefusing("busy@example.test", code=450), notification_id)

    [row] = rows(engine)
    assert (row.status, row.claimed_at, row.in_doubt) == ("PENDING", None, False)
