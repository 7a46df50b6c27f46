"""What the catalog copy reads from a product event (order_service/catalog.py's tolerant
reader): the whole state it carries, or nothing for an event it cannot hold."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from messaging.envelope import new_event
from order_service.catalog import product_row
from testsupport.events import product_event
from testsupport.json_values import bodies

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("event_type", ["product.created", "product.changed", "product.snapshot"])
def test_a_product_event_is_the_products_whole_state(event_type):
    event = product_event("SKU-1", 3, type=event_type, price_cents=990, availability="low")

    assert product_row(event) == {
        "sku": "SKU-1",
        "name": "SKU-1 v3",
        "price_cents": 990,
        "availability": "low",
        "removed": False,
        "version": 3,
        "changed_at": datetime(2026, 12, 2, 10, tzinfo=UTC),
    }


def test_a_removal_is_a_state_too_and_fields_it_does_not_use_are_ignored():
    event = product_event("SKU-1", 4, type="product.removed", removed=True)
    event = dataclasses.replace(event, data={**event.data, "available": 3, "colour": "red"})

    row = product_row(event)

    assert row is not None and row["removed"] is True and "colour" not in row


def test_an_availability_word_it_does_not_know_is_kept_and_any_offset_is_an_instant():
    event = product_event("SKU-1", 1, availability="preorder", changed_at="2026-12-02T11:00:00+01:00")

    row = product_row(event)

    assert row is not None and row["availability"] == "preorder"
    assert row["changed_at"] == datetime(2026, 12, 2, 11, tzinfo=timezone(timedelta(hours=1)))
    assert row["changed_at"] == datetime(2026, 12, 2, 10, tzinfo=UTC)


def spoiled(**data):
    event = product_event("SKU-1", 1)
    return dataclasses.replace(event, data={**event.data, **data})


@pytest.mark.parametrize(
    "event",
    [
        new_event(type="order.confirmed", source="order-service", data={"sku": "SKU-1"}),
        spoiled(sku=""),
        spoiled(sku="x" * 65),
        spoiled(sku=7),
        spoiled(name=None),
        spoiled(name="mug\x00"),
        spoiled(price_cents="1200"),
        spoiled(price_cents=12.5),
        spoiled(price_cents=-1),
        spoiled(price_cents=2**31),
        spoiled(price_cents=True),
        spoiled(version=0),
        spoiled(version=2**63),
        spoiled(removed="false"),
        spoiled(availability="x" * 21),
        spoiled(changed_at="yesterday"),
        spoiled(changed_at="2026-12-02T10:00:00"),
        spoiled(changed_at=1764669600),
        dataclasses.replace(product_event("SKU-1", 1), id="x" * 101),
    ],
    ids=[
        "not-a-product-event",
        "empty-sku",
        "sku-too-long",
        "sku-not-text",
        "no-name",
        "nul-in-name",
        "price-as-text",
        "price-fractional",
        "price-negative",
        "price-past-integer",
        "price-boolean",
        "version-zero",
        "version-past-bigint",
        "removed-as-text",
        "availability-too-long",
        "bad-time",
        "naive-time",
        "time-as-number",
        "id-too-long-for-the-inbox",
    ],
)
def test_what_the_copy_cannot_hold_is_no_row_not_an_error(event):
    assert product_row(event) is None


valid_data = st.fixed_dictionaries(
    {
        "sku": st.text(min_size=1, max_size=64),
        "name": st.text(min_size=1, max_size=30),
        "price_cents": st.integers(0, 2**31 - 1),
        "availability": st.sampled_from(["in_stock", "low", "out_of_stock"]),
        "removed": st.booleans(),
        "version": st.integers(1, 2**63 - 1),
        "changed_at": st.datetimes(timezones=st.just(UTC)).map(datetime.isoformat),
    }
)


@given(bodies(valid_data), st.sampled_from(["product.changed", "product.snapshot", "order.confirmed"]))
def test_any_data_is_a_row_the_columns_hold_or_none(data, event_type):
    row = product_row(new_event(type=event_type, source="inventory_service", data=data))

    if row is None:
        return
    assert event_type.startswith("product.")
    assert isinstance(row["sku"], str) and 1 <= len(row["sku"]) <= 64
    assert type(row["price_cents"]) is int and 0 <= row["price_cents"] < 2**31
    assert type(row["version"]) is int and 1 <= row["version"] < 2**63
    assert type(row["removed"]) is bool and row["changed_at"].tzinfo is not None
