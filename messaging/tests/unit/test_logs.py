"""Every log line is one JSON object: the fields, the ids of the current span and of the log
context, a traceback kept in its record."""

import datetime
import io
import json
import logging
import re
import sys
import threading
import warnings

import pytest
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from messaging.logs import AccessFormatter, JsonFormatter, configure_logging, event_ids, log_context
from testsupport.events import example_envelope

TRACE_ID = 0x4BF92F3577B34DA6A3CE929D0E0E4736
SPAN_ID = 0x00F067AA0BA902B7


@pytest.fixture
def lines():
    """A logger writing through JsonFormatter (process `order-api`); returns the parsed lines."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("order-api"))
    logger = logging.getLogger("test.logs")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False

    def parsed() -> list[dict]:
        return [json.loads(line) for line in stream.getvalue().splitlines()]

    yield logger, parsed
    logger.removeHandler(handler)


def test_a_line_has_time_level_service_process_logger_and_message(lines):
    logger, parsed = lines

    logger.info("order %s placed", "o1")

    [line] = parsed()
    assert {key: value for key, value in line.items() if key != "time"} == {
        "level": "INFO",
        "service": "order",
        "process": "order-api",
        "logger": "test.logs",
        "message": "order o1 placed",
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["time"])
    logged = datetime.datetime.fromisoformat(line["time"])
    assert abs(logged - datetime.datetime.now(datetime.UTC)) < datetime.timedelta(seconds=5)


def test_the_current_spans_trace_and_span_ids_are_in_the_line(lines):
    logger, parsed = lines
    span = NonRecordingSpan(SpanContext(TRACE_ID, SPAN_ID, is_remote=False, trace_flags=TraceFlags(1)))

    with trace.use_span(span):
        logger.info("inside")
    logger.info("outside")

    inside, outside = parsed()
    assert (inside["trace_id"], inside["span_id"]) == ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7")
    assert "trace_id" not in outside and "span_id" not in outside


def test_log_context_ids_nest_and_end_with_their_block_and_extra_wins(lines):
    logger, parsed = lines

    with log_context(order_id="o1"):
        with log_context(event_id="e1", order_id=None):  # an unknown id leaves the outer one
            logger.info("both")
        logger.info("order only")
        logger.info("own event", extra={"event_id": "e2"})
    logger.info("none")

    assert [{k: line.get(k) for k in ("order_id", "event_id")} for line in parsed()] == [
        {"order_id": "o1", "event_id": "e1"},
        {"order_id": "o1", "event_id": None},
        {"order_id": "o1", "event_id": "e2"},
        {"order_id": None, "event_id": None},
    ]


def test_an_events_ids_are_its_own_and_its_orders():
    envelope = example_envelope("order.confirmed", order_id="o1", event_id="e1")

    assert event_ids(envelope) == {"event_id": "e1", "order_id": "o1"}


def test_an_exception_is_one_record_with_its_traceback_in_a_field(lines):
    logger, parsed = lines

    try:
        raise ValueError("bad\nvalue")
    except ValueError:
        logger.exception("failed")

    [line] = parsed()
    assert line["message"] == "failed"
    assert line["traceback"].startswith("Traceback (most recent call last):\n")
    assert line["traceback"].endswith("ValueError: bad\nvalue")


def test_newlines_and_non_ascii_stay_in_one_ascii_line(lines):
    logger, parsed = lines
    stream = logger.handlers[0].stream

    logger.info("first\nsecond\r\nthird \u00e9\u6f22 \U0001f4e6 \x00")

    written = stream.getvalue()
    assert written.count("\n") == 1 and written.isascii()
    assert parsed()[0]["message"] == "first\nsecond\r\nthird \u00e9\u6f22 \U0001f4e6 \x00"


def test_a_value_json_cannot_encode_is_written_as_text(lines):
    logger, parsed = lines

    logger.info("as text", extra={"order_id": object()})

    assert parsed()[0]["order_id"].startswith("<object object")


def test_an_access_line_carries_the_request_as_fields():
    atoms = {
        "m": "POST", "U": "/orders", "q": "", "s": "201", "M": 12, "h": "10.0.0.5",
        "{location}o": "/orders/o1",
    }  # fmt: skip
    record = logging.LogRecord("gunicorn.access", logging.INFO, __file__, 1, "%(m)s %(U)s %(s)s", (), None)
    record.args = atoms  # as gunicorn logs it: its atoms, a mapping, are the args

    line = json.loads(AccessFormatter("order-api").format(record))

    assert line["message"] == "POST /orders 201"
    assert {k: line[k] for k in ("method", "path", "status", "duration_ms", "location")} == {
        "method": "POST", "path": "/orders", "status": 201, "duration_ms": 12, "location": "/orders/o1",
    }  # fmt: skip


def test_configure_logging_puts_json_on_stderr_at_log_level(monkeypatch, capsys):
    monkeypatch.setenv("LOG_LEVEL", "warning")
    monkeypatch.setenv("PROCESS_NAME", "warehouse-relay")
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    monkeypatch.setattr(warnings, "showwarning", warnings.showwarning)
    level = root.level

    try:
        configure_logging()
        logging.getLogger("relay").info("hidden")
        logging.getLogger("relay").warning("shown")
        sys.excepthook(RuntimeError, RuntimeError("boom"), None)
    finally:
        root.setLevel(level)

    shown, uncaught = (json.loads(line) for line in capsys.readouterr().err.splitlines())
    assert (shown["message"], shown["service"], shown["process"]) == ("shown", "warehouse", "warehouse-relay")
    assert (uncaught["level"], uncaught["message"]) == ("CRITICAL", "RuntimeError: boom")
