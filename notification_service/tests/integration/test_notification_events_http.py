"""POST /events (the HTTP binding used by ORDER_FLOW=sync) against a real PostgreSQL and an
in-process SMTP server: the event is recorded once and its email sent within the request."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from contracts import validate_event
from messaging.credentials import ORDER_SERVICE
from notification_service import db, handlers
from notification_service.api import create_app
from notification_service.config import Settings
from notification_service.mailer import SmtpMailer
from notification_service.tests.fake_smtp import FakeSmtpServer
from testsupport.callers import TEST_CALLERS, acting_as
from testsupport.containers import free_port
from testsupport.events import example_envelope


def mailer_on(port: int) -> SmtpMailer:
    return SmtpMailer(host="127.0.0.1", port=port, sender="orders@order-pipeline.local", timeout_seconds=5)


def client_for(engine: sa.Engine, mailer: SmtpMailer):
    """The order service, the only caller of POST /events (ORDER_FLOW=sync)."""
    app = create_app(Settings(database_url="unused", callers=TEST_CALLERS), engine=engine, mailer=mailer)
    return acting_as(app.test_client(), ORDER_SERVICE)


def rows(engine: sa.Engine) -> list[sa.Row]:
    with engine.connect() as connection:
        return connection.execute(sa.select(db.notifications)).all()


def outbox_events(engine: sa.Engine) -> list[dict]:
    with engine.connect() as connection:
        return list(connection.execute(sa.select(db.outbox.table.c.envelope)).scalars())


def test_an_event_posted_twice_is_recorded_and_mailed_once(engine):
    envelope = example_envelope("order.confirmed")
    with FakeSmtpServer() as smtp:
        client = client_for(engine, mailer_on(smtp.port))
        first = client.post("/events", json=envelope.to_dict())
        again = client.post("/events", json=envelope.to_dict())

    [row] = rows(engine)
    assert first.status_code == 200
    assert first.json == {"event_id": envelope.id, "notification_id": row.id, "sent": True}
    assert again.status_code == 200
    assert again.json == {"event_id": envelope.id, "notification_id": None, "sent": False}
    assert (row.kind, row.status, row.attempts) == ("order_confirmed", "SENT", 1)
    # Sent inline, recorded as the worker's sends are: with its notification.sent in the outbox.
    [event] = outbox_events(engine)
    validate_event(event)
    assert (event["type"], event["data"]["notification_id"]) == ("notification.sent", row.id)
    [email] = smtp.received
    assert email["To"] == "ada@example.com"
    assert email["Subject"] == f"Your order {envelope.data['order_id']} is confirmed"


@pytest.mark.parametrize("smtp_down", ["refusing", "unreachable"])
def test_with_smtp_down_it_is_503_and_the_notification_waits_for_the_sweep(engine, smtp_down):
    envelope = example_envelope("order.failed")
    with FakeSmtpServer(refuse=True) as refusing:
        port = refusing.port if smtp_down == "refusing" else free_port()
        response = client_for(engine, mailer_on(port)).post("/events", json=envelope.to_dict())

    [row] = rows(engine)
    assert response.status_code == 503
    assert response.content_type == "application/problem+json"
    assert response.headers["Retry-After"] == "10"
    assert response.json["code"] == "mail-unavailable"
    assert (response.json["event_id"], response.json["notification_id"]) == (envelope.id, row.id)
    assert (row.status, row.attempts) == ("PENDING", 0)
    assert outbox_events(engine) == []  # nothing sent, nothing announced
    # The worker's resend sweep takes it from here, once SMTP is back.
    assert handlers.pending_notification_ids(engine=engine, older_than_seconds=0) == [row.id]
    with FakeSmtpServer() as smtp:
        handlers.send_notifications(engine=engine, mailer=mailer_on(smtp.port), notification_ids=[row.id])
    assert len(smtp.received) == 1
    assert rows(engine)[0].status == "SENT"
    assert [event["data"]["notification_id"] for event in outbox_events(engine)] == [row.id]


def test_a_value_postgres_cannot_store_is_invalid_and_records_nothing(engine):
    event = example_envelope("order.rejected").to_dict()
    event["data"]["email"] = "ada\u0000@example.com"
    with FakeSmtpServer() as smtp:
        response = client_for(engine, mailer_on(smtp.port)).post("/events", json=event)

    assert (response.status_code, response.json["code"]) == (422, "invalid-event")
    assert rows(engine) == [] and smtp.received == []
