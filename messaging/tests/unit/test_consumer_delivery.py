"""How one delivery is settled: ack after the effect, dead-letter poison, back off on failure."""

import pytest

from messaging.consumer import PoisonEvent, deliver, retry_delay
from messaging.envelope import new_event


class FakeMessage:
    def __init__(self, headers=None):
        self.headers = headers or {}
        self.properties = {"message_id": "m1"}
        self.settled: list[str] = []

    def ack(self):
        self.settled.append("ack")

    def reject(self, requeue):
        self.settled.append(f"reject(requeue={requeue})")

    def requeue(self):
        self.settled.append("requeue")


def good_body():
    return new_event(type="order.confirmed", source="test", data={"order_id": "o1"}).to_dict()


def test_acked_only_after_the_handler_returns():
    message, seen = FakeMessage(), []

    outcome = deliver(
        body=good_body(), message=message, handle=lambda e: seen.append(e.data), retry_later=None
    )

    assert (outcome, message.settled, seen) == ("acked", ["ack"], [{"order_id": "o1"}])


@pytest.mark.parametrize("body", [b"garbage", {"no": "envelope"}])
def test_undecodable_messages_are_dead_lettered(body):
    message = FakeMessage()

    outcome = deliver(body=body, message=message, handle=lambda e: None, retry_later=None)

    assert (outcome, message.settled) == ("dead-lettered", ["reject(requeue=False)"])


def test_a_poison_event_is_dead_lettered_at_once():
    def handle(envelope):
        raise PoisonEvent("never")

    message = FakeMessage()

    assert deliver(body=good_body(), message=message, handle=handle, retry_later=None) == "dead-lettered"


def test_a_failing_handler_gets_the_message_back_after_a_backoff():
    def handle(envelope):
        raise ConnectionError("database restarting")

    message, scheduled = FakeMessage(headers={"x-delivery-count": 3}), []

    outcome = deliver(
        body=good_body(), message=message, handle=handle, retry_later=lambda d, f: scheduled.append((d, f))
    )

    assert outcome == "retrying" and message.settled == []
    [(delay, requeue)] = scheduled
    assert delay == retry_delay(3) == 4.0
    requeue()
    assert message.settled == ["requeue"]


def test_backoff_grows_and_is_capped():
    assert [retry_delay(n) for n in range(7)] == [0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 15.0]
