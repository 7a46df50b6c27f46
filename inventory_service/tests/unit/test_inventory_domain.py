"""Inventory rules without a database."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from inventory_service.domain import (
    IdempotencyKeyReused,
    IllegalTransition,
    InvalidInput,
    RequestedLine,
    Reservation,
    ReservationCommitted,
    ReservationNotCommitted,
    ReservationReleased,
    ReservationRequest,
    ReservationRestocked,
    ReservationStatus,
    ReservedLine,
    check_idempotency_key,
    check_replay,
    check_restock_idempotency_key,
    commit_target,
    merge_lines,
    parse_product_spec,
    parse_reservation_request,
    release_target,
    restock_target,
    units_by_sku,
    validate_sku,
)
from messaging.validation import InvalidIdempotencyKey

NOW = datetime(2025, 1, 1, tzinfo=UTC)


def reservation(*, status: ReservationStatus, lines: tuple[ReservedLine, ...]) -> Reservation:
    return Reservation(order_id="o-1", status=status, lines=lines, created_at=NOW, updated_at=NOW)


def fields(invalid: pytest.ExceptionInfo[InvalidInput]) -> set[str]:
    return {error.field for error in invalid.value.errors}


def test_merge_lines_sums_duplicates_and_sorts_by_sku():
    lines = [
        RequestedLine(sku="B", quantity=1),
        RequestedLine(sku="A", quantity=2),
        RequestedLine(sku="B", quantity=3),
    ]

    assert merge_lines(lines=lines) == (
        RequestedLine(sku="A", quantity=2),
        RequestedLine(sku="B", quantity=4),
    )


def test_parse_reservation_request_merges_lines():
    request = parse_reservation_request(
        body={"order_id": "o-1", "items": [{"sku": "X-1", "quantity": 1}, {"sku": "X-1", "quantity": 1}]}
    )

    assert request == ReservationRequest(order_id="o-1", lines=(RequestedLine(sku="X-1", quantity=2),))


@pytest.mark.parametrize(
    ("body", "expected_fields"),
    [
        ({}, {"order_id", "items"}),
        ({"order_id": "", "items": []}, {"order_id", "items"}),
        ({"order_id": "o", "items": ["SKU"]}, {"items[0]"}),
        ({"order_id": "o", "items": [{"sku": "bad sku!", "quantity": 1}]}, {"items[0].sku"}),
        ({"order_id": "o", "items": [{"sku": "A", "quantity": 0}]}, {"items[0].quantity"}),
        ({"order_id": "o", "items": [{"sku": "A", "quantity": True}]}, {"items[0].quantity"}),
        ({"order_id": "o", "items": [{"sku": "A", "quantity": 1.5}]}, {"items[0].quantity"}),
        (
            {"order_id": 7, "items": [{"sku": "A", "quantity": 1}, {"sku": "A" * 65, "quantity": "1"}]},
            {"order_id", "items[1].sku", "items[1].quantity"},
        ),
    ],
)
def test_parse_reservation_request_reports_every_bad_field(body, expected_fields):
    with pytest.raises(InvalidInput) as invalid:
        parse_reservation_request(body=body)

    assert fields(invalid) == expected_fields


@pytest.mark.parametrize("sku", ["", "a b", "x" * 65, "sku/1", "ünïcode", "A\n"])
def test_validate_sku_refuses_bad_skus(sku):
    with pytest.raises(InvalidInput):
        validate_sku(sku=sku)


@pytest.mark.parametrize("sku", ["A", "SKU-RED-MUG", "a.b_c-9", "x" * 64])
def test_validate_sku_accepts_good_skus(sku):
    assert validate_sku(sku=sku) == sku


@pytest.mark.parametrize(
    ("body", "expected_fields"),
    [
        ({"name": "Mug", "price_cents": 100, "available": 1}, set()),
        ({"name": "  ", "price_cents": 100, "available": 1}, {"name"}),
        ({"name": 5, "price_cents": -1, "available": 1}, {"name", "price_cents"}),
        ({"name": "Mug", "price_cents": False, "available": True}, {"price_cents", "available"}),
        ({"name": "Mug", "price_cents": 1, "available": -1}, {"available"}),
        ({"name": "Mug", "price_cents": "1", "available": None}, {"price_cents", "available"}),
    ],
)
def test_parse_product_spec(body, expected_fields):
    if not expected_fields:
        assert parse_product_spec(body=body).available == 1
        return
    with pytest.raises(InvalidInput) as invalid:
        parse_product_spec(body=body)
    assert fields(invalid) == expected_fields


def test_idempotency_key_must_be_derived_from_the_order():
    check_idempotency_key(header="reserve:o-1", order_id="o-1")
    for header in (None, "", "reserve:o-2", "charge:o-1"):
        with pytest.raises(InvalidIdempotencyKey):
            check_idempotency_key(header=header, order_id="o-1")


def test_replay_with_the_same_lines_returns_the_existing_reservation():
    existing = reservation(
        status=ReservationStatus.RESERVED, lines=(ReservedLine(sku="A", quantity=2, unit_price_cents=5),)
    )
    request = ReservationRequest(order_id="o-1", lines=(RequestedLine(sku="A", quantity=2),))

    assert check_replay(existing=existing, request=request) is existing


def test_replay_with_other_lines_is_a_reused_key():
    existing = reservation(
        status=ReservationStatus.RESERVED, lines=(ReservedLine(sku="A", quantity=2, unit_price_cents=5),)
    )
    request = ReservationRequest(order_id="o-1", lines=(RequestedLine(sku="A", quantity=3),))

    with pytest.raises(IdempotencyKeyReused):
        check_replay(existing=existing, request=request)


def test_replay_on_a_released_reservation_is_refused_even_with_the_same_lines():
    tombstone = reservation(status=ReservationStatus.RELEASED, lines=())

    with pytest.raises(ReservationReleased):
        check_replay(existing=tombstone, request=ReservationRequest(order_id="o-1", lines=()))


def test_commit_and_release_transitions():
    assert commit_target(order_id="o", current=ReservationStatus.RESERVED) is ReservationStatus.COMMITTED
    assert commit_target(order_id="o", current=ReservationStatus.COMMITTED) is None
    assert release_target(order_id="o", current=ReservationStatus.RESERVED) is ReservationStatus.RELEASED
    assert release_target(order_id="o", current=ReservationStatus.RELEASED) is None
    with pytest.raises(ReservationReleased):
        commit_target(order_id="o", current=ReservationStatus.RELEASED)
    with pytest.raises(ReservationCommitted) as committed:
        release_target(order_id="o", current=ReservationStatus.COMMITTED)
    assert isinstance(committed.value, IllegalTransition)


def test_total_is_the_sum_of_lines():
    lines = (
        ReservedLine(sku="A", quantity=2, unit_price_cents=150),
        ReservedLine(sku="B", quantity=1, unit_price_cents=99),
    )

    assert reservation(status=ReservationStatus.RESERVED, lines=lines).total_cents == 399


def test_restock_transitions():
    assert restock_target(order_id="o", current=ReservationStatus.COMMITTED) is ReservationStatus.RESTOCKED
    assert restock_target(order_id="o", current=ReservationStatus.RESTOCKED) is None
    with pytest.raises(ReservationNotCommitted):
        restock_target(order_id="o", current=ReservationStatus.RESERVED)
    with pytest.raises(ReservationReleased):
        restock_target(order_id="o", current=ReservationStatus.RELEASED)


def test_a_restocked_reservation_can_be_neither_committed_released_nor_reserved_again():
    restocked = reservation(
        status=ReservationStatus.RESTOCKED, lines=(ReservedLine(sku="A", quantity=1, unit_price_cents=5),)
    )
    with pytest.raises(ReservationRestocked):
        commit_target(order_id="o", current=ReservationStatus.RESTOCKED)
    with pytest.raises(ReservationRestocked):
        release_target(order_id="o", current=ReservationStatus.RESTOCKED)
    same_items = ReservationRequest(order_id="o-1", lines=restocked.requested_lines())
    with pytest.raises(ReservationRestocked):
        check_replay(existing=restocked, request=same_items)


def test_the_restock_key_is_derived_from_the_order():
    check_restock_idempotency_key(header="restock:o-1", order_id="o-1")
    for header in (None, "", "restock:o-2", "reserve:o-1", "commit:o-1"):
        with pytest.raises(InvalidIdempotencyKey):
            check_restock_idempotency_key(header=header, order_id="o-1")


def test_units_by_sku_sums_lines_of_several_reservations():
    lines = [
        ReservedLine(sku="B", quantity=1, unit_price_cents=5),
        ReservedLine(sku="A", quantity=2, unit_price_cents=5),
        ReservedLine(sku="B", quantity=3, unit_price_cents=7),
    ]

    assert units_by_sku(lines=lines) == {"A": 2, "B": 4}
