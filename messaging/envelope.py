"""The one envelope every event travels in (CloudEvents attribute names, JSON on the wire)."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/json"
REQUIRED_ATTRIBUTES = ("specversion", "id", "type", "source", "time", "dataversion", "data")
# CloudEvents' distributed tracing extension: the W3C traceparent of the work that made the
# event (contracts/README.md). Kept with the event, so its outbox row has it with no column.
TRACEPARENT_FORMAT = re.compile(r"[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}")  # group 1: trace id


class MalformedEvent(ValueError):
    """The bytes are not an event we can read: poison, never worth a retry."""


class PoisonEvent(Exception):
    """Raised by a handler for an event that no retry can fix: the consumer dead-letters it
    now, and an HTTP receiver answers 422. Here, not in the consumer, so that an API can
    catch it without importing Celery."""


@dataclass(frozen=True)
class Envelope:
    id: str
    type: str
    source: str
    time: str
    data: dict[str, Any]
    dataversion: int = 1
    correlationid: str | None = None
    subject: str | None = None
    specversion: str = field(default=SPEC_VERSION)
    traceparent: str | None = None

    @property
    def order_id(self) -> str | None:
        """The order the event is about: its subject, which every event of an order carries,
        or else `data.order_id`; None when neither is a non-empty string."""
        order_id = self.subject or self.data.get("order_id")
        return order_id if isinstance(order_id, str) and order_id else None

    def to_dict(self) -> dict[str, Any]:
        attributes = {
            "specversion": self.specversion,
            "id": self.id,
            "type": self.type,
            "source": self.source,
            "time": self.time,
            "datacontenttype": CONTENT_TYPE,
            "dataversion": self.dataversion,
            "data": self.data,
        }
        if self.correlationid:
            attributes["correlationid"] = self.correlationid
        if self.subject:
            attributes["subject"] = self.subject
        if self.traceparent:
            attributes["traceparent"] = self.traceparent
        return attributes

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), separators=(",", ":")).encode()


def new_event(
    *,
    type: str,
    source: str,
    data: dict[str, Any],
    subject: str | None = None,
    correlationid: str | None = None,
    dataversion: int = 1,
    traceparent: str | None = None,
) -> Envelope:
    return Envelope(
        id=str(uuid.uuid4()),
        type=type,
        source=source,
        time=datetime.now(UTC).isoformat(),
        data=data,
        dataversion=dataversion,
        correlationid=correlationid,
        subject=subject,
        traceparent=traceparent,
    )


def envelope_from_dict(attributes: Any) -> Envelope:
    """Tolerant reader: checks the attributes we rely on, ignores any others."""
    if not isinstance(attributes, dict):
        raise MalformedEvent("an event must be a JSON object")
    missing = [name for name in REQUIRED_ATTRIBUTES if name not in attributes]
    if missing:
        raise MalformedEvent(f"missing attributes: {', '.join(missing)}")
    if not isinstance(attributes["data"], dict):
        raise MalformedEvent("data must be a JSON object")
    for name in ("id", "type", "source", "time"):
        if not isinstance(attributes[name], str) or not attributes[name]:
            raise MalformedEvent(f"{name} must be a non-empty string")
    return Envelope(
        id=attributes["id"],
        type=attributes["type"],
        source=attributes["source"],
        time=attributes["time"],
        data=attributes["data"],
        dataversion=_dataversion(attributes["dataversion"]),
        correlationid=attributes.get("correlationid"),
        subject=attributes.get("subject"),
        specversion=attributes["specversion"],
        traceparent=_traceparent(attributes.get("traceparent")),
    )


def trace_id_of(traceparent: Any) -> str | None:
    """The trace id a W3C traceparent names (None: not one)."""
    found = TRACEPARENT_FORMAT.fullmatch(traceparent) if isinstance(traceparent, str) else None
    return found[1] if found else None


def _traceparent(value: Any) -> str | None:
    """Tolerant: a traceparent we cannot read only loses the event its trace (a new one starts)."""
    return value if isinstance(value, str) and TRACEPARENT_FORMAT.fullmatch(value) else None


def _dataversion(value: Any) -> int:
    """Tolerant, as before ("2" and 2.0 are 2), but a value int() cannot take is malformed:
    the consumer dead-letters MalformedEvent; Infinity's OverflowError escaped it."""
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError) as error:
        raise MalformedEvent(f"dataversion must be an integer, not {value!r}"[:200]) from error


def envelope_from_json(body: bytes | str) -> Envelope:
    try:
        return envelope_from_dict(json.loads(body))
    # RecursionError: absurdly nested JSON, which Python's parser gives up on.
    except (json.JSONDecodeError, UnicodeDecodeError, TypeError, ValueError, RecursionError) as error:
        if isinstance(error, MalformedEvent):
            raise
        raise MalformedEvent(str(error)) from error
