"""messaging.web.envelope_body: what POST /events (warehouse, notification) accepts as an event."""

from __future__ import annotations

import json

import pytest
from flask import Flask

from contracts import example_event
from messaging.http_input import envelope_body
from messaging.web import install_error_handlers


@pytest.fixture
def client():
    app = Flask(__name__)
    install_error_handlers(app)

    @app.post("/events")
    def receive():
        envelope = envelope_body()
        return {"event_id": envelope.id, "type": envelope.type}

    return app.test_client()


def post_event(client, event):
    body = event if isinstance(event, (bytes, str)) else json.dumps(event)
    return client.post("/events", data=body, content_type="application/json")


def without(name: str) -> dict:
    event = example_event("order.confirmed")
    del event[name]
    return event


def changed(**attributes) -> dict:
    return {**example_event("order.confirmed"), **attributes}


def test_an_envelope_is_read_whatever_the_content_type(client):
    event = example_event("order.confirmed")

    response = client.post("/events", data=json.dumps(event), content_type="application/cloudevents+json")

    assert (response.status_code, response.json) == (200, {"event_id": event["id"], "type": event["type"]})


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{not json",
        b"\xff\xfe",
        "[]",
        "null",
        without("id"),
        without("data"),
        changed(data=[]),
        changed(id=""),
        changed(id="x" * 101),
        changed(type=7),
        changed(dataversion="one"),
        changed(dataversion=1e400),
        changed(correlationid={"order": "o-1"}),
        changed(subject=["o-1"]),
        "[" * 100_000 + "]" * 100_000,
    ],
    ids=lambda body: repr(body)[:40],
)
def test_a_body_that_is_no_envelope_is_422_malformed_event(client, body):
    response = post_event(client, body)

    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
    assert response.json["code"] == "malformed-event"
