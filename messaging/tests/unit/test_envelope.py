import json

import pytest

from messaging.broker import amqp_properties
from messaging.envelope import MalformedEvent, envelope_from_json, new_event


def test_an_event_survives_the_wire():
    event = new_event(
        type="order.confirmed", source="order_service", data={"order_id": "o1"}, correlationid="o1"
    )

    again = envelope_from_json(event.to_json())

    assert again == event


def test_the_envelope_uses_cloudevents_names():
    wire = json.loads(new_event(type="order.failed", source="s", data={}).to_json())

    assert wire["specversion"] == "1.0"
    assert wire["datacontenttype"] == "application/json"
    assert {"id", "type", "source", "time", "dataversion", "data"} <= wire.keys()


def test_amqp_properties_mirror_the_envelope():
    event = new_event(type="order.confirmed", source="order_service", data={}, correlationid="o9")

    properties = amqp_properties(event)

    assert (properties.message_id, properties.type, properties.correlation_id) == (event.id, event.type, "o9")
    assert properties.content_type == "application/json"
    assert properties.delivery_mode == 2


def test_unknown_attributes_are_tolerated():
    wire = json.loads(new_event(type="t.x", source="s", data={"a": 1}).to_json()) | {"traceparent": "00-abc"}

    assert envelope_from_json(json.dumps(wire)).data == {"a": 1}


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"id": "1"}',
        json.dumps({**json.loads(new_event(type="a", source="s", data={}).to_json()), "data": []}),
    ],
)
def test_malformed_events_are_refused(body):
    with pytest.raises(MalformedEvent):
        envelope_from_json(body)
