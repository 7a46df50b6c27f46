"""Statuses of the notification's document reached on purpose against a real database and
checked against the document: an event recorded and sent, repeated, refused, and SMTP down."""

from __future__ import annotations

from messaging.credentials import ADMIN, ORDER_SERVICE
from notification_service.api import create_app
from notification_service.config import Settings
from testsupport.callers import TEST_CALLERS, bearer
from testsupport.events import example_envelope
from testsupport.openapi_fuzz import conforms


class Mailer:
    def __init__(self, *, down: bool = False) -> None:
        self.down = down

    def send(self, **_: str) -> None:
        if self.down:
            raise ConnectionRefusedError("smtp is down")


def test_events_and_lists_answer_as_documented(engine):
    app = create_app(Settings(database_url="unused", callers=TEST_CALLERS), engine=engine, mailer=Mailer())
    event = example_envelope("order.confirmed").to_dict()
    order = bearer(ORDER_SERVICE)  # the events' caller

    assert conforms(app, "POST", "/events", headers=order, body=event).json()["sent"] is True
    assert conforms(app, "POST", "/events", headers=order, body=event).json()["notification_id"] is None
    assert conforms(app, "POST", "/events", headers=order, body={"not": "an event"}).status_code == 422
    assert (
        conforms(app, "GET", "/notifications", query={"order_id": event["subject"]}).json()[0]["status"]
        == "SENT"
    )
    assert (
        conforms(app, "GET", "/notifications", query={"limit": 0}, headers=bearer(ADMIN)).status_code == 400
    )


def test_a_mail_server_that_is_down_is_a_documented_503(engine):
    app = create_app(
        Settings(database_url="unused", callers=TEST_CALLERS), engine=engine, mailer=Mailer(down=True)
    )
    event = example_envelope("order.confirmed").to_dict()

    order = bearer(ORDER_SERVICE)
    assert conforms(app, "POST", "/events", unavailable=True, headers=order, body=event).status_code == 503
