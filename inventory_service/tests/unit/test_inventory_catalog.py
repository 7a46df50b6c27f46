"""The catalog's rules and events without a database: the availability classes, which PUT is a
change the events carry, and events that hold to their contracts."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from contracts import validate_event
from inventory_service.catalog import (
    PRODUCT_CHANGED,
    PRODUCT_CREATED,
    PRODUCT_REMOVED,
    PRODUCT_SNAPSHOT,
    availability_moved,
    product_event,
    put_changes_listing,
)
from inventory_service.domain import LOW_STOCK_UNITS, Availability, Product, ProductSpec, availability

PARIS = timezone(timedelta(hours=1))
MUG = Product(
    sku="SKU-MUG",
    name="Mug",
    price_cents=1200,
    available=40,
    reserved=3,
    sold=7,
    version=4,
    updated_at=datetime(2025, 1, 15, 11, 30, tzinfo=PARIS),
)


@pytest.mark.parametrize(
    ("available", "expected"),
    [
        (0, Availability.OUT_OF_STOCK),
        (1, Availability.LOW),
        (LOW_STOCK_UNITS, Availability.LOW),
        (LOW_STOCK_UNITS + 1, Availability.IN_STOCK),
        (1_000_000_000, Availability.IN_STOCK),
    ],
)
def test_availability_is_a_class_of_the_units_available(available, expected):
    assert availability(available) is expected


def test_low_stock_is_ten_units_or_fewer():
    assert LOW_STOCK_UNITS == 10
    assert MUG.availability is Availability.IN_STOCK
    assert replace(MUG, available=10).availability is Availability.LOW


@pytest.mark.parametrize(
    ("before", "after", "moved"),
    [
        (11, 10, True),  # in stock -> low
        (10, 1, False),  # low, still low: most sales
        (1, 0, True),  # low -> out of stock
        (0, 12, True),  # out of stock -> in stock (a release, a restock)
        (500, 200, False),
        (7, 7, False),
    ],
)
def test_a_stock_movement_is_announced_only_across_classes(before, after, moved):
    assert availability_moved(before=before, after=after) is moved


@pytest.mark.parametrize(
    ("spec", "changes"),
    [
        (ProductSpec(name="Mug", price_cents=1200, available=40), False),
        (ProductSpec(name="Mug", price_cents=1200, available=11), False),  # units, same class
        (ProductSpec(name="Mug", price_cents=1200, available=10), True),  # now low
        (ProductSpec(name="Big mug", price_cents=1200, available=40), True),
        (ProductSpec(name="Mug", price_cents=1250, available=40), True),
    ],
)
def test_a_put_changes_the_listing_when_it_changes_what_the_events_carry(spec, changes):
    assert put_changes_listing(current=MUG, spec=spec) is changes


def test_a_put_of_a_removed_product_puts_it_back_so_it_changes_the_listing():
    removed = replace(MUG, removed_at=MUG.updated_at)
    same = ProductSpec(name=MUG.name, price_cents=MUG.price_cents, available=MUG.available)

    assert put_changes_listing(current=removed, spec=same) is True


@pytest.mark.parametrize("event_type", [PRODUCT_CREATED, PRODUCT_CHANGED, PRODUCT_SNAPSHOT])
def test_a_product_event_is_the_whole_state_of_its_product(event_type):
    product = replace(MUG, version=1) if event_type == PRODUCT_CREATED else MUG
    event = product_event(event_type, product)

    validate_event(event.to_dict())
    assert (event.type, event.source, event.subject, event.correlationid) == (
        event_type,
        "inventory_service",
        "SKU-MUG",
        None,
    )
    assert event.data == {
        "sku": "SKU-MUG",
        "name": "Mug",
        "price_cents": 1200,
        "availability": "in_stock",
        "removed": False,
        "version": product.version,
        "changed_at": "2025-01-15T10:30:00+00:00",  # the same instant, in UTC
    }


def test_a_removed_event_says_removed():
    removed = replace(MUG, available=0, removed_at=datetime(2025, 1, 16, tzinfo=UTC), version=5)
    event = product_event(PRODUCT_REMOVED, removed)

    validate_event(event.to_dict())
    assert (event.data["removed"], event.data["availability"], event.data["version"]) == (
        True,
        "out_of_stock",
        5,
    )
