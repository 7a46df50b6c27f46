"""Every API request's SERVER span (installed by `messaging.web.create_api`): it continues the
caller's `traceparent` header, or starts a trace, and the answer's `traceparent` header names
it, so a client learns the trace id (the same as its own when it sent one)."""

from __future__ import annotations

from flask import Flask, Response, g, request
from opentelemetry import context, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from messaging.http_metrics import UNMATCHED
from messaging.tracing import TRACEPARENT, start_span, traceparent_of


def install_request_tracing(app: Flask) -> None:
    """Before any other hook, so a request that one refuses has its span too. By hand rather
    than opentelemetry-instrumentation-flask (see messaging.tracing): one span, named by the
    route template (`POST /orders/<order_id>/cancel`), never by the raw path."""

    @app.before_request
    def start_request_span() -> None:
        rule = request.url_rule
        name = f"{request.method} {rule.rule if rule is not None else UNMATCHED}"
        span = start_span(name, traceparent=request.headers.get(TRACEPARENT), kind=SpanKind.SERVER)
        g.request_span = span
        g.request_span_token = context.attach(trace.set_span_in_context(span))

    @app.after_request
    def answer_traceparent(response: Response) -> Response:
        span = g.get("request_span")
        if span is not None:
            if traceparent := traceparent_of(span.get_span_context()):
                response.headers[TRACEPARENT] = traceparent
            if response.status_code >= 500:
                span.set_status(Status(StatusCode.ERROR))
        return response

    @app.teardown_request
    def end_request_span(_: BaseException | None) -> None:
        span, token = g.pop("request_span", None), g.pop("request_span_token", None)
        if token is not None:
            context.detach(token)
        if span is not None:
            span.end()
