from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from contracts import example_event
from messaging.database import make_engine
from messaging.envelope import Envelope, envelope_from_dict


@pytest.fixture
def notification_db(database_url) -> str:
    return database_url(migrate="notification_service")


@pytest.fixture
def engine(notification_db) -> Iterator[sa.Engine]:
    engine = make_engine(notification_db, pool_size=4)
    yield engine
    engine.dispose()


def event_of(event_type: str, *, order_id: str | None = None, event_id: str | None = None) -> Envelope:
    """The contract's example, re-keyed so every test has its own order and event."""
    event = example_event(event_type)
    order_id = order_id or str(uuid.uuid4())
    event["id"] = event_id or str(uuid.uuid4())
    event["data"]["order_id"] = event["subject"] = event["correlationid"] = order_id
    return envelope_from_dict(event)
