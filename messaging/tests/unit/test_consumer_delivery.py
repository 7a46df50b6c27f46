"""How one delivery is settled: ack after the effect, dead-letter poison, back off on failure."""

import pytest
from sqlalchemy.exc import OperationalError

from messaging.consumer import deliver_batch, retry_delay
from messaging.envelope import PoisonEvent, new_event


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


def deliver_one(body, message, handle_batch, retry_later=None):
    return deliver_batch(deliveries=[(body, message)], handle_batch=handle_batch, retry_later=retry_later)


def test_acked_only_after_the_handler_returns():
    message, seen = FakeMessage(), []

    outcomes = deliver_one(good_body(), message, lambda envelopes: seen.extend(e.data for e in envelopes))

    assert (outcomes, message.settled, seen) == (["acked"], ["ack"], [{"order_id": "o1"}])


@pytest.mark.parametrize("body", [b"garbage", {"no": "envelope"}])
def test_undecodable_messages_are_dead_lettered(body):
    message = FakeMessage()

    outcomes = deliver_one(body, message, refuse_one_at_a_time)

    assert (outcomes, message.settled) == (["dead-lettered"], ["reject(requeue=False)"])


def test_a_poison_event_is_dead_lettered_at_once():
    def handle_batch(envelopes):
        raise PoisonEvent("never")

    message = FakeMessage()

    assert deliver_one(good_body(), message, handle_batch) == ["dead-lettered"]
    assert message.settled == ["reject(requeue=False)"]


def test_a_failing_handler_gets_the_message_back_after_a_backoff():
    def handle_batch(envelopes):
        raise ConnectionError("database restarting")

    message, scheduled = FakeMessage(headers={"x-delivery-count": 3}), []

    outcomes = deliver_one(good_body(), message, handle_batch, lambda d, f: scheduled.append((d, f)))

    assert outcomes == ["retrying"] and message.settled == []
    [(delay, requeue)] = scheduled
    assert delay == retry_delay(3) == 4.0
    requeue()
    assert message.settled == ["requeue"]


def test_backoff_grows_and_is_capped():
    assert [retry_delay(n) for n in range(7)] == [0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 15.0]


class NamedMessage(FakeMessage):
    def __init__(self, message_id, headers=None):
        super().__init__(headers)
        self.properties = {"message_id": message_id}


def batch_of(*bodies):
    return [(body, NamedMessage(f"m{i}")) for i, body in enumerate(bodies)]


def event_for(order_id):
    return new_event(type="order.confirmed", source="test", data={"order_id": order_id}).to_dict()


def refuse_one_at_a_time(envelopes):
    raise AssertionError("nothing should have been handled")


def test_a_batch_is_handled_in_one_call_and_acked_after_it_returns():
    deliveries, batches = batch_of(event_for("o1"), b"garbage", event_for("o2")), []

    outcomes = deliver_batch(
        deliveries=deliveries,
        handle_batch=lambda envelopes: batches.append([e.data["order_id"] for e in envelopes]),
        retry_later=None,
    )

    assert batches == [["o1", "o2"]]
    assert outcomes == ["acked", "dead-lettered", "acked"]
    assert [m.settled for _, m in deliveries] == [["ack"], ["reject(requeue=False)"], ["ack"]]


def test_a_poison_event_fails_the_batch_then_only_itself_is_dead_lettered():
    def handle_batch(envelopes):
        if any(envelope.data["order_id"] == "bad" for envelope in envelopes):
            raise PoisonEvent("one of them")
        handled.append([envelope.data["order_id"] for envelope in envelopes])

    deliveries, handled = batch_of(event_for("o1"), event_for("bad"), event_for("o3")), []

    outcomes = deliver_batch(deliveries=deliveries, handle_batch=handle_batch, retry_later=None)

    assert outcomes == ["acked", "dead-lettered", "acked"]
    assert handled == [["o1"], ["o3"]]


def test_a_transient_failure_of_one_event_backs_off_only_that_one():
    def handle_batch(envelopes):
        if any(envelope.data["order_id"] == "o2" for envelope in envelopes):
            raise ConnectionError("its row is locked for too long")

    scheduled = []
    outcomes = deliver_batch(
        deliveries=batch_of(event_for("o1"), event_for("o2")),
        handle_batch=handle_batch,
        retry_later=lambda delay, requeue: scheduled.append(delay),
    )

    assert (outcomes, scheduled) == (["acked", "retrying"], [retry_delay(0)])


def test_an_unreachable_database_puts_the_whole_batch_back_without_trying_each():
    def handle_batch(envelopes):
        calls.append(len(envelopes))
        raise OperationalError("SELECT 1", {}, ConnectionRefusedError("postgres is restarting"))

    deliveries, scheduled, calls = batch_of(event_for("o1"), event_for("o2")), [], []

    outcomes = deliver_batch(
        deliveries=deliveries,
        handle_batch=handle_batch,
        retry_later=lambda delay, requeue: scheduled.append(requeue),
    )

    assert outcomes == ["retrying", "retrying"] and calls == [2]
    for requeue in scheduled:
        requeue()
    assert [m.settled for _, m in deliveries] == [["requeue"], ["requeue"]]
