"""Traces: one W3C trace per order, across every process (docs/observability.md#traces).

`configure_tracing(process)` once per process, where it starts (gunicorn's post_worker_init,
the Celery worker's worker_init, a relay's `main`): an SDK TracerProvider named for the
process. With OTEL_EXPORTER_OTLP_ENDPOINT set, every span is recorded and exported over
OTLP/HTTP by a BatchSpanProcessor (its thread is restarted by the SDK in a forked child);
without it, spans are never recorded (ALWAYS_OFF): they still get real ids, which the JSON
logs show and the traceparent carries on, for the cost of a non-recording span.

The context travels as a `traceparent` string (W3C tracecontext only, no baggage): an HTTP
header, an attribute of the event's envelope (so each outbox row keeps it), an AMQP header
set by the relay, a column of the rows whose work is done later (a shipment, a notification)
and an email header. What it costs, measured on the dev machine (python 3.11, timeit): without
an exporter a span started and ended as the current one 6 us (9 us continuing a traceparent),
`parent_context` 3 us, `current_traceparent` 1.4 us; exporting, a span 19-23 us in the calling
thread (the exporter's thread encodes and posts them in batches). An order makes about 16
spans across the stack: ~0.15 ms of CPU without an exporter, ~0.35 ms plus the export with
one, against tens of ms of CPU per order for the stack (bench/README.md).

No auto-instrumentation: opentelemetry-instrumentation-flask/-requests 0.66b1 (the newest)
require semantic conventions 0.66b1, which the SDK 1.45.2 pinned here does not accept
(0.66b2). The few spans an order needs are made by hand (`messaging.http_tracing`, the order
service's clients, the relay, the consumer, the warehouse's dispatch, the notification send).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from types import MappingProxyType

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON
from opentelemetry.trace import Span, SpanContext, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from messaging.envelope import Envelope

TRACEPARENT = "traceparent"
ENDPOINT_VARIABLE = "OTEL_EXPORTER_OTLP_ENDPOINT"
_propagator = TraceContextTextMapPropagator()
tracer = trace.get_tracer("pipeline")  # a proxy: the process's provider once it is configured
# The span each event of a batch is handled in (consumer.py fills it): see event_span.
_event_spans: ContextVar[Mapping[str, SpanContext]] = ContextVar("event_spans", default=MappingProxyType({}))


def configure_tracing(process: str, environ: Mapping[str, str] | None = None) -> None:
    """Once per process; a second call (a test's provider, or a pool child that inherited
    its parent's) keeps the provider in place. `process`: the resource's service.name."""
    if isinstance(trace.get_tracer_provider(), TracerProvider):
        return
    environ = os.environ if environ is None else environ
    exporting = bool(environ.get(ENDPOINT_VARIABLE, "").strip())
    # ALWAYS_ON, not parent-based, when exporting: a process that exports records its spans
    # even when the caller's flags say "not sampled" (a process without an exporter sends 00).
    provider = TracerProvider(
        resource=Resource.create({"service.name": process}), sampler=ALWAYS_ON if exporting else ALWAYS_OFF
    )
    if exporting:
        # Imported only here: a process without an exporter does not load protobuf.
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))  # reads the endpoint
    trace.set_tracer_provider(provider)


def flush_tracing() -> None:
    """Export what is queued (a pool child on its way out: it leaves by os._exit, no atexit)."""
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        provider.force_flush(timeout_millis=2000)


def traceparent_of(context: SpanContext) -> str | None:
    return None if not context.is_valid else _format(context)


def _format(context: SpanContext) -> str:
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"


def current_traceparent() -> str | None:
    """The current span's, for a header or an envelope; None outside any span."""
    return traceparent_of(trace.get_current_span().get_span_context())


def parent_context(traceparent: str | None) -> Context:
    """The remote parent a traceparent names; an empty Context (a span started in it is a new
    trace's root) when there is none or it is not valid."""
    if not traceparent:
        return Context()
    return _propagator.extract({TRACEPARENT: traceparent})


def start_span(name: str, *, traceparent: str | None, kind: SpanKind = SpanKind.INTERNAL) -> Span:
    """A span continuing `traceparent` (a new trace without one), not made current."""
    return tracer.start_span(name, context=parent_context(traceparent), kind=kind)


@contextmanager
def continued_span(
    name: str, *, traceparent: str | None, kind: SpanKind = SpanKind.INTERNAL
) -> Iterator[Span]:
    """The current span inside the block: child of `traceparent` (a new trace without one)."""
    with trace.use_span(start_span(name, traceparent=traceparent, kind=kind), end_on_exit=True) as span:
        yield span


@contextmanager
def event_spans(spans: Mapping[str, SpanContext]) -> Iterator[None]:
    """Inside the block, each event id's work belongs to that span (a batch handled in one
    transaction has one span per event, and only one can be current)."""
    token = _event_spans.set(spans)
    try:
        yield
    finally:
        _event_spans.reset(token)


def event_span(envelope: Envelope) -> SpanContext | None:
    """The span the event is being handled in, when a batch's consumer said so."""
    return _event_spans.get().get(envelope.id)


def event_traceparent(envelope: Envelope) -> str | None:
    """What work that follows from the event (a shipment, an email) continues: the span
    handling it, else the current span (POST /events), else the one that produced it."""
    context = event_span(envelope)
    return (traceparent_of(context) if context else None) or current_traceparent() or envelope.traceparent
