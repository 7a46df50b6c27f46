"""Who may call what (messaging.guard): POST /events is the order service's, the list of every
notification (every customer's address) the operator's; an order's notifications stay open."""

from __future__ import annotations

from messaging.credentials import ADMIN, ORDER_SERVICE
from notification_service.api import create_app
from notification_service.config import Settings
from testsupport.callers import TEST_CALLERS, guard_answers
from testsupport.events import example_envelope

REFUSED = {"nobody": (401, "unauthenticated"), "unknown": (401, "unauthenticated")}


class RecordingMailer:
    def __init__(self) -> None:
        self.sent: list[str] = []

    def send(
        self, *, to: str, subject: str, body: str, message_id: str, traceparent: str | None = None
    ) -> None:
        self.sent.append(to)


def anyone(engine, mailer=None):
    """A client that presents nothing of its own."""
    settings = Settings(database_url="unused", callers=TEST_CALLERS)
    return create_app(settings, engine=engine, mailer=mailer or RecordingMailer()).test_client()


def test_events_answer_the_order_service_only(engine):
    mailer = RecordingMailer()
    confirmed = example_envelope("order.confirmed")

    answers = guard_answers(anyone(engine, mailer), "POST", "/events", json=confirmed.to_dict())

    assert answers == {**REFUSED, ADMIN: (403, "forbidden"), ORDER_SERVICE: (200, None)}
    assert mailer.sent == [confirmed.data["email"]]  # one email, for the one event let in


def test_the_list_of_every_notification_answers_the_admin_only(engine):
    assert guard_answers(anyone(engine), "GET", "/notifications") == {
        **REFUSED,
        ORDER_SERVICE: (403, "forbidden"),
        ADMIN: (200, None),
    }


def test_an_orders_notifications_and_the_probes_stay_open(engine):
    client = anyone(engine)

    for path in ("/notifications?order_id=o-open", "/healthz", "/readyz"):
        assert client.get(path).status_code == 200, path
