"""Dead letters without a broker: what x-death says (reason, count, first death), what may be
replayed, what a replayed copy keeps, and the replay request's validation; the HTTP side with
no broker configured (503) and the guard."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pika
import pytest
from flask import Flask
from hypothesis import example, given
from hypothesis import strategies as st

from messaging.credentials import ADMIN, ORDER_SERVICE
from messaging.dead_letter_api import DEAD_LETTER_PROBLEMS, dead_letters_blueprint, replay_request
from messaging.dead_letters import DEATH_HEADERS, Death, _send_back, death_of, why_not_replayable
from messaging.problems import GUARD_PROBLEMS, install_problems
from messaging.settings import ProcessSettings
from messaging.validation import InvalidInput
from messaging.web import install_error_handlers
from testsupport.callers import TEST_CALLERS, bearer, guard_answers
from testsupport.events import example_envelope
from testsupport.json_values import bodies, json_values

QUEUES = ("warehouse.orders.dead-letter", "warehouse.tasks.dead-letter")
FIRST = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
LATER = datetime(2026, 1, 2, 4, 0, 0, tzinfo=UTC)
ENVELOPE = example_envelope("order.confirmed").to_json()


def entry(reason: str, count: int, time: object, queue: str = "warehouse.orders") -> dict:
    return {"reason": reason, "count": count, "time": time, "queue": queue, "exchange": "events"}


def test_no_death_record_is_no_death():
    assert death_of(None) == Death(reason=None, count=0, first_death_at=None)
    assert death_of({"other": 1}) == Death(reason=None, count=0, first_death_at=None)


def test_x_death_gives_the_last_reason_every_death_and_the_first_time():
    headers = {"x-death": [entry("delivery_limit", 2, LATER), entry("rejected", 1, FIRST, "other")]}

    assert death_of(headers) == Death(reason="delivery_limit", count=3, first_death_at=FIRST)


def test_a_time_in_epoch_seconds_or_naive_is_utc():
    assert death_of({"x-death": [entry("rejected", 1, int(FIRST.timestamp()))]}).first_death_at == FIRST
    naive = FIRST.replace(tzinfo=None)
    assert death_of({"x-death": [entry("rejected", 1, naive)]}).first_death_at == FIRST


@given(json_values)
@example(True)  # found: a header that is not a list was iterated
def test_any_header_value_reads_as_a_death_never_an_error(value):
    death = death_of({"x-death": value})
    assert death.count >= 0
    death_of({"x-death": [value]})


def test_only_a_death_a_retry_can_cure_with_an_envelope_body_is_replayable():
    limit = Death(reason="delivery_limit", count=1, first_death_at=FIRST)
    assert why_not_replayable(limit, ENVELOPE) is None
    assert "rejected" in why_not_replayable(Death("rejected", 1, FIRST), ENVELOPE)
    assert "no death record" in why_not_replayable(Death(None, 0, None), ENVELOPE)
    assert "not an event" in why_not_replayable(limit, b"{not json")
    assert "not an event" in why_not_replayable(limit, b'{"hello": "world"}')
    assert "not an event" in why_not_replayable(limit, b"\xff\xfe")


class RecordingChannel:
    def __init__(self):
        self.calls = []

    def basic_publish(self, **published):
        self.calls.append(("publish", published))

    def basic_ack(self, tag):
        self.calls.append(("ack", tag))


def test_a_replayed_copy_keeps_its_properties_but_not_its_deaths_and_is_acked_after_the_publish():
    headers = {"custom": "kept", **dict.fromkeys(DEATH_HEADERS, "broker's")}
    properties = pika.BasicProperties(
        message_id="e-1", type="order.confirmed", headers=headers, delivery_mode=2
    )
    channel = RecordingChannel()

    _send_back(channel, "warehouse.orders.dead-letter", SimpleNamespace(delivery_tag=7), properties, b"{}")

    (first, published), second = channel.calls
    assert (first, second) == ("publish", ("ack", 7))
    assert published["exchange"] == "replay" and published["routing_key"] == "warehouse.orders"
    assert published["mandatory"] is True
    copy = published["properties"]
    assert (copy.message_id, copy.type, copy.delivery_mode, copy.headers) == (
        "e-1",
        "order.confirmed",
        2,
        {"custom": "kept"},
    )
    assert properties.headers == headers  # the original is not changed


def test_a_replay_request_names_a_queue_of_the_service_and_maybe_one_event():
    assert replay_request({"queue": QUEUES[0]}, QUEUES) == (QUEUES[0], None)
    assert replay_request({"queue": QUEUES[1], "event_id": "e-1"}, QUEUES) == (QUEUES[1], "e-1")


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, ["queue"]),
        ({"queue": "order.shipments.dead-letter"}, ["queue"]),  # another service's
        ({"queue": "warehouse.orders"}, ["queue"]),  # the source, not its dead-letter queue
        ({"queue": QUEUES[0], "event_id": ""}, ["event_id"]),
        ({"queue": QUEUES[0], "event_id": 7}, ["event_id"]),
        ({"queue": QUEUES[0], "event_id": "x" * 101}, ["event_id"]),
        ({"queue": QUEUES[0], "all": True}, ["all"]),
    ],
)
def test_a_wrong_replay_request_names_each_wrong_field(body, fields):
    with pytest.raises(InvalidInput) as refused:
        replay_request(body, QUEUES)
    assert [error.field for error in refused.value.errors] == fields


@given(bodies(st.just({"queue": QUEUES[0], "event_id": "e-1"})))
def test_any_body_is_a_replay_request_or_invalid_input(body):
    try:
        queue, event_id = replay_request(body, QUEUES)
    except InvalidInput:
        return
    assert queue in QUEUES and (event_id is None or isinstance(event_id, str))


def app_without_broker() -> Flask:
    """Just the blueprint, as a service registers it, with no BROKER_URL."""
    app = Flask(__name__)
    app.extensions.update(settings=ProcessSettings(database_url="unused"), callers=TEST_CALLERS)
    install_error_handlers(app)
    install_problems(app, {**GUARD_PROBLEMS, **DEAD_LETTER_PROBLEMS})
    app.register_blueprint(dead_letters_blueprint(QUEUES))
    return app


def test_only_the_admin_gets_past_the_guard():
    client = app_without_broker().test_client()
    for method, path in (("GET", "/dead-letters"), ("POST", "/dead-letters/replay")):
        answers = guard_answers(client, method, path, json={"queue": QUEUES[0]})
        assert answers["nobody"] == (401, "unauthenticated")
        assert answers["unknown"] == (401, "unauthenticated")
        assert answers[ORDER_SERVICE] == (403, "forbidden")
        assert answers[ADMIN] == (503, "broker-unavailable")


def test_without_a_broker_both_answer_503_with_retry_after():
    client = app_without_broker().test_client()
    for response in (
        client.get("/dead-letters", headers=bearer(ADMIN)),
        client.post("/dead-letters/replay", json={"queue": QUEUES[0]}, headers=bearer(ADMIN)),
    ):
        assert response.status_code == 503
        assert response.content_type == "application/problem+json"
        assert response.headers["Retry-After"] == "5"


def test_bad_input_is_refused_before_the_broker_is_asked():
    client = app_without_broker().test_client()
    admin = bearer(ADMIN)

    assert client.get("/dead-letters?queue=order.tasks.dead-letter", headers=admin).json["errors"] == [
        {"field": "queue", "message": f"must be one of {', '.join(QUEUES)}"}
    ]
    assert client.get("/dead-letters?limit=0", headers=admin).json["code"] == "invalid-query"
    assert client.post("/dead-letters/replay", data="[1]", headers=admin).json["code"] == "invalid-json"
    refused = client.post("/dead-letters/replay", json={"queue": "nope", "event_id": 1}, headers=admin)
    assert (refused.status_code, [e["field"] for e in refused.json["errors"]]) == (422, ["queue", "event_id"])
