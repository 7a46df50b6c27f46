"""Events for tests: a contract's example, re-keyed so that every test has its own order and event."""

from __future__ import annotations

import uuid

from contracts import example_event
from messaging.envelope import Envelope, envelope_from_dict


def example_envelope(
    event_type: str, *, order_id: str | None = None, event_id: str | None = None
) -> Envelope:
    event = example_event(event_type)
    order_id = order_id or str(uuid.uuid4())
    event["id"] = event_id or str(uuid.uuid4())
    event["data"]["order_id"] = event["subject"] = event["correlationid"] = order_id
    return envelope_from_dict(event)
