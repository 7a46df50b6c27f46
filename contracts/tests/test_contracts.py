"""The contracts themselves: schemas are valid, examples validate, broken events do not."""

from __future__ import annotations

import json

import pytest
from jsonschema import ValidationError

from contracts.schemas import (
    CONTRACTS_DIR,
    EVENT_TYPES,
    EVENTS_DIR,
    data_schema_path,
    envelope_schema_path,
    example_event,
    load_json,
    validate_event,
)
from messaging.envelope import envelope_from_dict, new_event
from messaging.topology import CATALOG_EVENTS, EVENT_QUEUES, LIVE_EVENTS

SCHEMA_BASE = "https://order-pipeline.example/contracts/"


def test_the_catalog_covers_the_events_of_the_pipeline():
    assert set(EVENT_TYPES) == {
        "order.confirmed",
        "order.rejected",
        "order.failed",
        "order.cancelled",
        "order.step",
        "shipment.dispatched",
        "notification.sent",
        "product.created",
        "product.changed",
        "product.removed",
        "product.snapshot",
    }


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_every_example_validates_and_is_readable_by_the_envelope_reader(event_type):
    example = example_event(event_type)
    validate_event(example)
    envelope = envelope_from_dict(example)
    assert envelope.type == event_type
    # The example is a full envelope exactly as messaging.envelope writes it.
    assert envelope.to_dict() == example


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_every_schema_names_itself_after_its_place(event_type):
    schema = load_json(data_schema_path(event_type=event_type, version=1))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == f"{SCHEMA_BASE}events/{event_type}/v1.schema.json"
    assert schema["title"] == f"{event_type} v1 data"
    assert schema.get("additionalProperties", True) is True  # tolerant readers: producers may add fields


def test_the_envelope_schema_names_itself_after_its_place():
    schema = load_json(envelope_schema_path())
    assert schema["$id"] == f"{SCHEMA_BASE}envelope.schema.json"
    assert schema["title"] == "Event envelope"


def test_every_event_folder_has_a_schema_and_an_example_per_version():
    for folder in EVENTS_DIR.iterdir():
        schemas = sorted(path.name for path in folder.glob("v*.schema.json"))
        examples = sorted(path.name for path in folder.glob("v*.example.json"))
        assert schemas, folder
        assert [name.replace(".schema", ".example") for name in schemas] == examples, folder


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_an_event_without_a_required_field_fails(event_type):
    required = load_json(data_schema_path(event_type=event_type, version=1))["required"]
    assert required
    for name in required:
        example = example_event(event_type)
        del example["data"][name]
        with pytest.raises(ValidationError) as caught:
            validate_event(example)
        assert name in caught.value.message
        assert list(caught.value.absolute_path) == ["data"]


DELETE = object()


def set_path(event: dict, path: tuple, value: object) -> None:
    *parents, last = path
    for part in parents:
        event = event[part]
    if value is DELETE:
        del event[last]
    else:
        event[last] = value


@pytest.mark.parametrize(
    ("path", "value", "reported_at"),
    [
        (("data", "order_id"), 42, ["data", "order_id"]),
        (("data", "total_cents"), "64.99", ["data", "total_cents"]),
        (("data", "items", 0, "quantity"), 0, ["data", "items", 0, "quantity"]),
        (("data", "email"), "not-an-address", ["data", "email"]),
        (("time",), "2025-01-15 10:30", ["time"]),
        (("time",), "2025-13-15T10:30:00Z", ["time"]),
        # `$` also matches before a final line break: the formats are matched whole.
        (("data", "email"), "ada@example.test\n", ["data", "email"]),
        (("time",), "2025-01-15T10:30:00Z\n", ["time"]),
        (("dataversion",), "1", ["dataversion"]),
        (("specversion",), "0.3", ["specversion"]),
        (("id",), DELETE, []),
        (("data",), [], ["data"]),
    ],
)
def test_a_mistyped_or_missing_field_fails(path, value, reported_at):
    example = example_event("order.confirmed")
    set_path(example, path, value)
    with pytest.raises(ValidationError) as caught:
        validate_event(example)
    assert list(caught.value.absolute_path) == reported_at


def test_an_unknown_type_or_version_fails():
    unknown_type = example_event("order.confirmed") | {"type": "order.teleported"}
    unknown_version = example_event("order.confirmed") | {"dataversion": 2}
    for event in (unknown_type, unknown_version):
        with pytest.raises(ValidationError, match="no contract"):
            validate_event(event)


def test_extra_attributes_and_fields_are_allowed():
    example = example_event("order.rejected")
    example["traceparent"] = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    example["data"]["sku"] = "SKU-RED-MUG"
    validate_event(example)


def test_an_envelope_built_by_messaging_validates_without_optional_attributes():
    event = new_event(type="order.failed", source="order_service", data=example_event("order.failed")["data"])
    assert "correlationid" not in event.to_dict()
    validate_event(event.to_dict())


def test_every_contracted_event_is_routed_and_every_routed_event_has_a_contract():
    # A published event that no queue binds is unroutable (mandatory): the outbox would retry it forever.
    # A live event (LIVE_EVENTS) has no durable queue: only its followers' own and the journal.
    # A catalog event (CATALOG_EVENTS) has the catalog stream, read by offset.
    routed = {key for spec in EVENT_QUEUES.values() for key in spec.routing_keys}
    assert routed | LIVE_EVENTS | CATALOG_EVENTS == set(EVENT_TYPES)
    assert not routed & LIVE_EVENTS and not routed & CATALOG_EVENTS


def test_each_event_reaches_the_queues_of_its_consumers():
    consumers = {
        event_type: sorted(name for name, spec in EVENT_QUEUES.items() if event_type in spec.routing_keys)
        for event_type in EVENT_TYPES
    }

    assert consumers == {
        "order.confirmed": ["notification.events", "warehouse.orders"],
        "order.rejected": ["notification.events"],
        "order.failed": ["notification.events"],
        "order.cancelled": ["notification.events", "warehouse.orders"],
        "order.step": [],  # live: the storefront's order-web processes, each with a queue of its own
        "shipment.dispatched": ["notification.events", "order.shipments"],
        "notification.sent": ["order.notifications"],
        # The catalog: the `catalog` stream, whose readers keep the highest version per product.
        "product.created": [],
        "product.changed": [],
        "product.removed": [],
        "product.snapshot": [],
    }


@pytest.mark.parametrize("reason", [None, "", 7])
def test_an_order_cancelled_needs_a_reason_code(reason):
    example = example_event("order.cancelled")
    example["data"]["reason"] = reason
    with pytest.raises(ValidationError) as caught:
        validate_event(example)
    assert list(caught.value.absolute_path) == ["data", "reason"]


@pytest.mark.parametrize(
    ("event_type", "path", "value"),
    [
        ("product.created", ("data", "version"), 2),  # a product is created at version 1
        ("product.created", ("data", "removed"), True),
        ("product.removed", ("data", "removed"), False),
        ("product.changed", ("data", "version"), 0),
        ("product.changed", ("data", "availability"), "plenty"),
        ("product.changed", ("data", "price_cents"), -1),
        ("product.snapshot", ("data", "changed_at"), "2025-01-15 10:30"),
        ("product.snapshot", ("data", "removed"), "no"),
    ],
)
def test_a_product_event_holds_a_whole_state(event_type, path, value):
    example = example_event(event_type)
    set_path(example, path, value)
    with pytest.raises(ValidationError) as caught:
        validate_event(example)
    assert list(caught.value.absolute_path) == list(path)


def test_the_readme_catalogs_every_event_and_shows_a_valid_example():
    readme = (CONTRACTS_DIR / "README.md").read_text(encoding="utf-8")
    for event_type in EVENT_TYPES:
        assert f"| `{event_type}` | 1 |" in readme
    shown = json.loads(readme.split("```json\n", 1)[1].split("```", 1)[0])
    assert shown == example_event(shown["type"])
