"""One trace per order: the traceparent is continued by every hop of the kit (HTTP in, the
envelope, the relay's AMQP header, the consumer), and logs name the trace of their event."""

from __future__ import annotations

import json
import logging

from flask import Blueprint
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from messaging.consumer import deliver_batch
from messaging.envelope import envelope_from_dict, envelope_from_json, new_event
from messaging.logs import JsonFormatter, event_ids
from messaging.relay import OutboxRelay
from messaging.settings import ProcessSettings
from messaging.tracing import (
    configure_tracing,
    continued_span,
    current_traceparent,
    event_traceparent,
    parent_context,
)
from messaging.web import create_api
from testsupport.tracing import span_id_of, trace_id_of

CLIENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
TRACE_ID, PARENT_SPAN_ID = int(CLIENT.split("-")[1], 16), int(CLIENT.split("-")[2], 16)


def event(traceparent: str | None = None, order_id: str = "o1"):
    return new_event(
        type="order.confirmed", source="test", data={"order_id": order_id}, traceparent=traceparent
    )


def test_a_span_continues_the_traceparent_it_is_given_and_names_its_own(spans):
    with continued_span("work", traceparent=CLIENT):
        mine = current_traceparent()

    (span,) = spans.finished
    assert (span.context.trace_id, span.parent.span_id) == (TRACE_ID, PARENT_SPAN_ID)
    assert mine == f"00-{TRACE_ID:032x}-{span.context.span_id:016x}-01"


def test_no_traceparent_or_a_broken_one_starts_a_new_trace(spans):
    for broken in (None, "", "00-nothex-b7ad6b7169203331-01", "00-" + "0" * 32 + "-b7ad6b7169203331-01"):
        assert not trace.get_current_span(parent_context(broken)).get_span_context().is_valid
        with continued_span("work", traceparent=broken):
            pass
    assert all(span.parent is None and span.context.trace_id != TRACE_ID for span in spans.finished)
    assert current_traceparent() is None  # outside any span


def test_configuring_again_keeps_the_provider_in_place():
    provider = trace.get_tracer_provider()
    configure_tracing("again", {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1"})
    assert trace.get_tracer_provider() is provider


def test_the_envelope_keeps_its_traceparent_and_a_reader_drops_a_broken_one():
    envelope = event(CLIENT)

    assert envelope_from_json(envelope.to_json()) == envelope
    assert envelope.to_dict()["traceparent"] == CLIENT
    assert "traceparent" not in event().to_dict()
    for broken in ("nope", 42, CLIENT.upper()):
        assert envelope_from_dict({**envelope.to_dict(), "traceparent": broken}).traceparent is None


class FakePublisher:
    def __init__(self):
        self.published = []

    def publish(self, envelope, traceparent=None):
        self.published.append((envelope, traceparent))


def test_the_relay_publishes_in_a_producer_span_child_of_the_row_and_sends_its_traceparent(spans):
    relay = OutboxRelay(engine=None, outbox=None, broker_url="amqp://unused")
    relay._publisher = FakePublisher()

    assert relay._publish(event(CLIENT)) is None

    (span,) = spans.named("publish order.confirmed")
    ((_, header),) = relay._publisher.published
    assert span.kind is SpanKind.PRODUCER
    assert (span.context.trace_id, span.parent.span_id) == (TRACE_ID, PARENT_SPAN_ID)
    assert header == f"00-{TRACE_ID:032x}-{span.context.span_id:016x}-01"


class FakeMessage:
    def __init__(self, headers=None):
        self.headers = headers or {}
        self.properties = {"message_id": "m1"}

    def ack(self):
        pass


def test_the_consumer_handles_an_event_in_a_span_child_of_the_message_header(spans):
    header = "00-11111111111111111111111111111111-2222222222222222-01"
    seen = []

    def handle(envelopes):
        seen.append((current_traceparent(), event_traceparent(envelopes[0])))

    # The header (the relay's span) wins over the envelope's own (the outbox row's).
    deliver_batch(deliveries=[(event(CLIENT).to_dict(), FakeMessage({"traceparent": header}))],
                  handle_batch=handle, retry_later=None)  # fmt: skip

    (span,) = spans.named("consume order.confirmed")
    assert span.kind is SpanKind.CONSUMER
    assert (f"{span.context.trace_id:032x}", f"{span.parent.span_id:016x}") == (
        trace_id_of(header),
        span_id_of(header),
    )
    ((current, for_event),) = seen
    assert current == for_event == f"00-{span.context.trace_id:032x}-{span.context.span_id:016x}-01"


def test_a_batch_has_a_span_linked_to_each_event_and_each_events_lines_name_its_own_trace(spans):
    first, second = (
        event(CLIENT, "o1"),
        event("00-33333333333333333333333333333333-4444444444444444-01", "o2"),
    )
    lines = []

    def handle(envelopes):
        for envelope in envelopes:
            record = logging.LogRecord("t", logging.INFO, "", 0, "handled", (), None)
            record.__dict__.update(event_ids(envelope))
            lines.append(json.loads(JsonFormatter("test-worker").format(record)))

    deliver_batch(
        deliveries=[(first.to_dict(), FakeMessage()), (second.to_dict(), FakeMessage())],
        handle_batch=handle,
        retry_later=None,
    )

    consumed = {span.parent.span_id: span for span in spans.named("consume order.confirmed")}
    (batch,) = spans.named("consume batch of 2")
    assert {link.context.span_id for link in batch.links} == {
        span.context.span_id for span in consumed.values()
    }
    assert [(line["order_id"], line["trace_id"]) for line in lines] == [
        ("o1", trace_id_of(first.traceparent)),
        ("o2", trace_id_of(second.traceparent)),
    ]
    assert lines[0]["span_id"] == f"{consumed[PARENT_SPAN_ID].context.span_id:016x}"


def test_an_api_continues_the_callers_trace_and_answers_its_span(spans):
    views = Blueprint("views", __name__)

    @views.post("/things")
    def things():
        return {"inside": current_traceparent()}

    app = create_api(
        __name__,
        settings=ProcessSettings(database_url="postgresql+psycopg2://unused@127.0.0.1:1/db"),
        problems={},
        blueprints=[views],
    )
    client = app.test_client()

    continued = client.post("/things", headers={"traceparent": CLIENT})
    fresh = client.post("/things")

    assert continued.headers["traceparent"] == continued.json["inside"]
    assert trace_id_of(continued.headers["traceparent"]) == trace_id_of(CLIENT)
    assert trace_id_of(fresh.headers["traceparent"]) != trace_id_of(CLIENT)
    server = spans.named("POST /things")
    assert [span.kind for span in server] == [SpanKind.SERVER, SpanKind.SERVER]
    assert server[0].parent.span_id == PARENT_SPAN_ID and server[1].parent is None
    assert client.get("/nowhere").headers["traceparent"]  # even a 404 has its span
