"""The order service's calls to inventory and payment carry its trace: a CLIENT span per
call, whose traceparent each attempt sends."""

from __future__ import annotations

from opentelemetry.trace import SpanKind

from messaging.tracing import continued_span
from order_service.clients import ClientSettings, ServiceClient

SETTINGS = ClientSettings(
    connect_timeout=1, read_timeout=1, attempts=1, breaker_failures=5, breaker_reset_seconds=5
)


class Answer:
    status_code = 200


class RecordingSession:
    def __init__(self):
        self.headers = []

    def request(self, method, url, *, json, headers, timeout):
        self.headers.append(headers)
        return Answer()


def test_a_call_sends_the_traceparent_of_its_client_span(spans):
    client = ServiceClient(name="inventory", base_url="http://inventory", settings=SETTINGS, token="t")
    session = client._local.session = RecordingSession()

    with continued_span("POST /orders", traceparent=None) as request_span:
        client.call("POST", "/reservations", json={}, key="reserve:o1")

    (span,) = spans.named("POST inventory")
    ((headers),) = session.headers
    assert span.kind is SpanKind.CLIENT
    assert span.parent.span_id == request_span.get_span_context().span_id
    # flags 03 on a new trace: sampled, and the trace id is random (W3C trace context level 2)
    assert headers["traceparent"][:-3] == f"00-{span.context.trace_id:032x}-{span.context.span_id:016x}"
    assert headers["Idempotency-Key"] == "reserve:o1"
