"""Spans a test can look at: the test process's TracerProvider records every span (ALWAYS_ON)
and keeps the finished ones while a test asks for them (the root conftest's `spans` fixture),
so that the code's own `configure_tracing` (a worker started in-process) finds it in place."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_ON


class SpanRecorder(SpanProcessor):
    """Keeps finished spans only while `recording`: a whole test run keeps none otherwise."""

    def __init__(self) -> None:
        self.recording = False
        self.finished: list[ReadableSpan] = []

    def on_end(self, span: ReadableSpan) -> None:
        if self.recording:
            self.finished.append(span)

    def named(self, name: str) -> list[ReadableSpan]:
        return [span for span in self.finished if span.name == name]


RECORDER = SpanRecorder()


def install_test_provider() -> None:
    """Once, before any test: a provider set later cannot replace it (OpenTelemetry's rule)."""
    provider = TracerProvider(resource=Resource.create({"service.name": "tests"}), sampler=ALWAYS_ON)
    provider.add_span_processor(RECORDER)
    trace.set_tracer_provider(provider)


def trace_id_of(traceparent: str) -> str:
    return traceparent.split("-")[1]


def span_id_of(traceparent: str) -> str:
    return traceparent.split("-")[2]
