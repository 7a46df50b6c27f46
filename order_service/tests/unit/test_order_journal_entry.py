"""What the journal's index keeps of one delivery of the stream (order_service/journal.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pika
import pytest

from messaging.envelope import new_event
from order_service.journal import journal_entry

pytestmark = pytest.mark.unit
TRACE_ID = "0af7651916cd43dd8448eb211c80319c"


def delivery(envelope, headers=None):
    return pika.BasicProperties(headers=headers), envelope.to_json()


def test_an_event_is_indexed_under_its_subject_with_its_producer_time_and_trace_id():
    event = new_event(type="order.confirmed", source="order-service", subject="o-1", data={})
    properties, body = delivery(event, {"traceparent": f"00-{TRACE_ID}-b7ad6b7169203331-01"})

    entry = journal_entry(7, properties, body)

    assert entry is not None
    assert (entry.event_id, entry.stream_offset, entry.order_id) == (event.id, 7, "o-1")
    assert (entry.event_type, entry.producer, entry.trace_id) == (
        "order.confirmed",
        "order-service",
        TRACE_ID,
    )
    assert entry.occurred_at == datetime.fromisoformat(event.time) and entry.occurred_at.tzinfo == UTC


def test_without_a_subject_the_order_is_the_datas_order_id_and_a_bad_traceparent_is_no_trace():
    event = new_event(type="shipment.dispatched", source="warehouse-service", data={"order_id": "o-2"})
    properties, body = delivery(event, {"traceparent": "00-not-a-trace"})

    entry = journal_entry(0, properties, body)

    assert entry is not None and (entry.order_id, entry.trace_id) == ("o-2", None)


def test_a_product_event_is_indexed_about_no_order_though_its_subject_is_its_sku():
    event = new_event(type="product.changed", source="inventory_service", subject="SKU-MUG", data={})

    entry = journal_entry(0, *delivery(event))

    assert entry is not None and (entry.event_type, entry.order_id) == ("product.changed", None)


def test_an_event_about_no_order_is_indexed_without_one():
    event = new_event(type="order.nobody-listens", source="order-service", data={"order_id": 5})

    entry = journal_entry(0, *delivery(event))

    assert entry is not None and entry.order_id is None


def event_with(**attributes) -> bytes:
    return json.dumps({**new_event(type="t", source="s", data={}).to_dict(), **attributes}).encode()


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        json.dumps({**new_event(type="t", source="s", data={}).to_dict(), "time": "yesterday"}).encode(),
        json.dumps(
            {**new_event(type="t", source="s", data={}).to_dict(), "time": "2026-12-02T10:00:00"}
        ).encode(),
        json.dumps({**new_event(type="t", source="s", data={}).to_dict(), "id": "x" * 101}).encode(),
        json.dumps({**new_event(type="t", source="s", data={}).to_dict(), "subject": "o\x00"}).encode(),
    ],
    ids=["not-json", "not-an-object", "bad-time", "naive-time", "id-too-long", "nul-in-subject"],
)
def test_what_the_index_cannot_hold_is_skipped_not_raised(body):
    assert journal_entry(0, pika.BasicProperties(), body) is None
