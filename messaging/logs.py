"""Logging for every process: one JSON object per line on stderr, so that `docker compose logs
| grep <order id>` finds one order's journey across all the services, and a log shipper reads
the lines without parsing text.

Each line: time (UTC, ms), level, service, process (PROCESS_NAME, e.g. `order-api`; the service
is its part before the first `-`), logger, message; `trace_id` and `span_id` of the current
OpenTelemetry span when there is one; `order_id` and `event_id` from `log_context` or a call's
`extra=`; a `traceback` when there is an exception, in the same record (one line, however many
lines the traceback has). The standard library's `logging` underneath: `log.info(...)`
everywhere stays as it is.
"""

from __future__ import annotations

import json
import logging
import logging.config
import os
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from types import MappingProxyType, TracebackType
from typing import Any

from opentelemetry import trace

from messaging.envelope import Envelope
from messaging.tracing import event_span

# A call's extra= may name the trace too: a line about one event of a batch (event_ids).
CONTEXT_FIELDS = ("order_id", "event_id", "trace_id", "span_id")
_context: ContextVar[Mapping[str, str]] = ContextVar("log_context", default=MappingProxyType({}))


@contextmanager
def log_context(**ids: str | None) -> Iterator[None]:
    """Every line logged inside the block, in this thread or task, carries these ids (the
    empty ones are left out). Nested blocks add to the outer one's."""
    token = _context.set({**_context.get(), **{name: value for name, value in ids.items() if value}})
    try:
        yield
    finally:
        _context.reset(token)


def event_ids(envelope: Envelope) -> dict[str, str]:
    """The ids of an event's lines: its own, and its order's (the subject, which every event
    of an order carries, or else `data.order_id`). For `log_context(**...)` or `extra=`. In
    a batch the consumer handles in one transaction, also the trace and span of the event's
    own span (messaging.tracing.event_span), since the current span is the batch's."""
    ids = {"event_id": envelope.id}
    if envelope.order_id:
        ids["order_id"] = envelope.order_id
    if (span := event_span(envelope)) is not None:
        ids["trace_id"] = trace.format_trace_id(span.trace_id)
        ids["span_id"] = trace.format_span_id(span.span_id)
    return ids


def process_name(environ: Mapping[str, str] | None = None) -> str:
    """PROCESS_NAME (compose sets it on every service), else the program's name."""
    environ = os.environ if environ is None else environ
    return environ.get("PROCESS_NAME", "").strip() or os.path.basename(sys.argv[0]) or "python"


class JsonFormatter(logging.Formatter):
    """A record as one line of JSON. ensure_ascii: a line stays valid JSON whatever the
    stream's encoding (a non-ASCII character is written as a \\u escape, which any JSON
    reader turns back)."""

    def __init__(self, process: str | None = None) -> None:
        super().__init__()
        self.process = process or process_name()
        self.service = self.process.partition("-")[0] or self.process

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": _utc_time(record),
            "level": record.levelname,
            "service": self.service,
            "process": self.process,
            "logger": record.name,
            "message": record.getMessage(),
        }
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            line["trace_id"] = trace.format_trace_id(span.trace_id)
            line["span_id"] = trace.format_span_id(span.span_id)
        line.update(_context.get())
        for name in CONTEXT_FIELDS:  # a call's own extra= wins over the block's
            value = record.__dict__.get(name)
            if value:
                line[name] = value
        line.update(self.fields(record))
        if record.exc_info:
            line["traceback"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["traceback"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, default=str)

    def fields(self, record: logging.LogRecord) -> dict[str, Any]:
        """More fields for a kind of record (see AccessFormatter)."""
        return {}


class AccessFormatter(JsonFormatter):
    """gunicorn's access log (ACCESS_LOG=1): it logs `access_log_format` with its atoms (a
    mapping: `m` method, `U` path, `s` status, `M` ms ...) as the record's args; the line
    takes the ones worth searching as fields. `location`: a created order's address, which
    names it."""

    def fields(self, record: logging.LogRecord) -> dict[str, Any]:
        atoms = record.args
        if not isinstance(atoms, Mapping):
            return {}
        status = str(atoms["s"])
        fields = {
            "method": atoms["m"],
            "path": atoms["U"],
            "query": atoms["q"],
            "status": int(status) if status.isdigit() else status,
            "duration_ms": atoms["M"],
            "remote": atoms["h"],
        }
        if atoms["{location}o"] != "-":
            fields["location"] = atoms["{location}o"]
        return fields


ACCESS_LOG_FORMAT = "%(m)s %(U)s %(s)s %(M)sms"  # the access line's `message`


def _utc_time(record: logging.LogRecord) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"


def logging_config(*, level: str, access_log: bool = False) -> dict[str, Any]:
    """The dictConfig of every process: the root logger on stderr in JSON at `level`.
    `access_log`: gunicorn's too, for gunicorn's `logconfig_dict` (infra/gunicorn.conf.py),
    which also takes its error log off its own plain-text handler."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "json": {"()": JsonFormatter},
            "access": {"()": AccessFormatter},
        },
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"},
            "access": {"class": "logging.StreamHandler", "formatter": "access", "stream": "ext://sys.stderr"},
        },
        "root": {"level": level, "handlers": ["stderr"]},
        "loggers": {
            "gunicorn.error": {"level": level, "handlers": ["stderr"], "propagate": False},
            # A line per plugin whenever a process imports alembic's autogenerate (the APIs do).
            "alembic.runtime.plugins": {"level": "WARNING"},
            "gunicorn.access": {
                "level": "INFO",
                "handlers": ["access"] if access_log else [],
                "propagate": False,
            },
        },
    }


def log_level(environ: Mapping[str, str] | None = None) -> str:
    environ = os.environ if environ is None else environ
    return (environ.get("LOG_LEVEL", "").strip() or "INFO").upper()


def configure_logging(level: str | int | None = None) -> None:
    """The first thing a process's `main` does (gunicorn: its `logconfig_dict`; a Celery
    worker: on its `setup_logging` signal): JSON lines on stderr at `level` (default:
    LOG_LEVEL, else INFO); an uncaught exception and a warning are such lines too."""
    chosen = logging.getLevelName(level) if isinstance(level, int) else level or log_level()
    logging.config.dictConfig(logging_config(level=chosen))
    logging.captureWarnings(True)  # a Python warning too (logger py.warnings), not raw text
    sys.excepthook = _log_uncaught
    threading.excepthook = lambda args: _log_uncaught(args.exc_type, args.exc_value, args.exc_traceback)


def _log_uncaught(
    kind: type[BaseException], error: BaseException | None, traceback: TracebackType | None
) -> None:
    if error is not None:
        uncaught = logging.getLogger("uncaught")
        uncaught.critical("%s: %s", kind.__name__, error, exc_info=(kind, error, traceback))
