"""Properties of the inventory's parsers and transitions (hypothesis): any JSON body is either
a valid value or the domain's own InvalidInput, never another exception; what is accepted
stays within the bounds and keeps what was asked for."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from inventory_service.domain import (
    MAX_LINE_QUANTITY,
    MAX_LINES,
    MAX_NAME_LENGTH,
    MAX_ORDER_ID_LENGTH,
    MAX_PRICE_CENTS,
    MAX_STOCK,
    SKU_PATTERN,
    InventoryError,
    ProductSpec,
    ReservationRequest,
    ReservationStatus,
    check_idempotency_key,
    commit_target,
    parse_product_spec,
    parse_reservation_request,
    release_target,
    reserve_idempotency_key,
    restock_target,
    validate_order_id,
    validate_sku,
)
from messaging.validation import InvalidInput
from testsupport.json_values import bodies, json_values

skus = st.from_regex(SKU_PATTERN, fullmatch=True)
order_ids = st.text(min_size=1, max_size=MAX_ORDER_ID_LENGTH)
lines = st.fixed_dictionaries({"sku": skus, "quantity": st.integers(1, MAX_LINE_QUANTITY)})
valid_reservations = st.fixed_dictionaries(
    {"order_id": order_ids, "items": st.lists(lines, min_size=1, max_size=8)}
)
valid_products = st.fixed_dictionaries(
    {
        "name": st.text(min_size=1, max_size=MAX_NAME_LENGTH).filter(str.strip),
        "price_cents": st.integers(0, MAX_PRICE_CENTS),
        "available": st.integers(0, MAX_STOCK),
    }
)


@given(bodies(valid_reservations))
def test_a_reservation_body_is_a_request_or_invalid_input(body):
    try:
        request = parse_reservation_request(body=body)
    except InvalidInput as invalid:
        assert invalid.errors and all(error.field for error in invalid.errors)
        return
    assert isinstance(request, ReservationRequest)
    assert 1 <= len(request.order_id) <= MAX_ORDER_ID_LENGTH
    assert all(SKU_PATTERN.fullmatch(line.sku) and line.quantity >= 1 for line in request.lines)


@given(valid_reservations)
def test_a_valid_reservation_keeps_its_order_and_units_one_line_per_sku_in_lock_order(body):
    request = parse_reservation_request(body=body)

    asked = Counter()
    for line in body["items"]:
        asked[line["sku"]] += line["quantity"]
    assert request.order_id == body["order_id"]
    assert {line.sku: line.quantity for line in request.lines} == asked
    assert [line.sku for line in request.lines] == sorted(asked)  # sorted: no deadlock
    check_idempotency_key(
        header=reserve_idempotency_key(order_id=request.order_id), order_id=request.order_id
    )


@given(st.integers(MAX_LINES + 1, MAX_LINES + 5), order_ids)
def test_more_lines_than_allowed_are_refused(count, order_id):
    items = [{"sku": f"SKU-{n}", "quantity": 1} for n in range(count)]
    with pytest.raises(InvalidInput):
        parse_reservation_request(body={"order_id": order_id, "items": items})


@given(bodies(valid_products))
def test_a_product_body_is_a_spec_within_bounds_or_invalid_input(body):
    try:
        spec = parse_product_spec(body=body)
    except InvalidInput:
        return
    assert isinstance(spec, ProductSpec)
    assert 0 < len(spec.name) <= MAX_NAME_LENGTH and spec.name.strip()
    assert 0 <= spec.price_cents <= MAX_PRICE_CENTS and 0 <= spec.available <= MAX_STOCK
    assert (spec.name, spec.price_cents, spec.available) == (
        body["name"],
        body["price_cents"],
        body["available"],
    )


@given(st.text(max_size=80) | skus)
def test_a_sku_is_accepted_exactly_when_it_matches_the_pattern(sku):
    try:
        assert validate_sku(sku=sku) == sku and SKU_PATTERN.fullmatch(sku)
    except InvalidInput:
        assert not SKU_PATTERN.fullmatch(sku)


@given(json_values | order_ids)
def test_an_order_id_is_a_bounded_string_or_invalid_input(order_id):
    try:
        assert validate_order_id(order_id=order_id) == order_id
    except InvalidInput:
        assert not (isinstance(order_id, str) and 1 <= len(order_id) <= MAX_ORDER_ID_LENGTH)


@pytest.mark.parametrize("transition", [commit_target, release_target, restock_target])
@given(current=st.sampled_from(ReservationStatus))
def test_a_transition_is_a_target_none_or_a_domain_error_and_repeating_it_is_a_no_op(transition, current):
    try:
        target = transition(order_id="o-1", current=current)
    except InventoryError:
        return
    if target is not None:
        assert transition(order_id="o-1", current=target) is None  # idempotent: the retry is safe
