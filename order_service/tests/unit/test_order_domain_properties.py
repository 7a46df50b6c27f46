"""Properties of the order's parser, fingerprint, state machine and backoff (hypothesis): any
JSON body is either a PlaceOrder or the domain's own InvalidOrder, never another exception (any
text in a SKU's place is a SKU or InvalidInput);
what is accepted is what the other services accept too; bounds hold for any attempt."""

from __future__ import annotations

import random
import re

from hypothesis import example, given
from hypothesis import strategies as st

from messaging.validation import InvalidInput
from order_service.domain import (
    EMAIL_STEP_PREFIX,
    MAX_CHARGE_CENTS,
    MAX_LINES,
    MAX_QUANTITY,
    STEP_KIND_LENGTH,
    TRANSITIONS,
    IllegalTransition,
    InvalidOrder,
    OrderStatus,
    PlaceOrder,
    check_transition,
    email_sent_from_event,
    parse_place_order,
    request_fingerprint,
    retry_delay_seconds,
    sources_of,
    validate_sku,
)
from testsupport.json_values import bodies, json_objects

# What inventory accepts as a SKU (inventory_service.domain.SKU_PATTERN, matched whole): the
# order service must not accept a SKU that its reservation call would then fail on.
SKU = r"[A-Za-z0-9._-]{1,64}"
skus = st.from_regex(SKU, fullmatch=True)
short_texts = st.text(min_size=1, max_size=100).filter(str.strip)
emails = st.from_regex(r"[a-z0-9.]{1,20}@[a-z0-9-]{1,20}\.[a-z]{2,6}", fullmatch=True)
valid_orders = st.fixed_dictionaries(
    {
        "customer_id": short_texts,
        "email": emails,
        "items": st.lists(
            st.fixed_dictionaries(
                {"sku": skus, "quantity": st.integers(1, MAX_QUANTITY)},
                optional={"unit_price_cents": st.none() | st.integers(0, MAX_CHARGE_CENTS)},
            ),
            min_size=1,
            max_size=5,
        ),
        "payment_token": short_texts,
    }
)
# Near misses a regex anchored with ^...$ lets through: $ also matches before a final "\n".
near_misses = valid_orders.flatmap(
    lambda body: st.sampled_from(
        [
            {**body, "email": body["email"] + "\n"},
            {**body, "items": [{**body["items"][0], "sku": body["items"][0]["sku"] + "\n"}]},
        ]
    )
)


FOUND = {"customer_id": "0", "email": "0@0.aa", "items": [{"sku": "0", "quantity": 1}], "payment_token": "0"}


@given(bodies(valid_orders) | near_misses)
@example({**FOUND, "email": "0@0.aa\n"})  # found by hypothesis: accepted before fullmatch
@example({**FOUND, "items": [{"sku": "0\n", "quantity": 1}]})
def test_an_order_body_is_a_place_order_the_others_accept_or_invalid_order(body):
    try:
        order = parse_place_order(body)
    except InvalidOrder as invalid:
        assert invalid.errors and all(error["field"] for error in invalid.errors)
        return
    assert isinstance(order, PlaceOrder)
    assert 1 <= len(order.items) <= MAX_LINES
    for line in order.items:
        assert re.fullmatch(SKU, line.sku), line
        assert type(line.quantity) is int and 1 <= line.quantity <= MAX_QUANTITY
        price = line.unit_price_cents
        assert price is None or (type(price) is int and 0 <= price <= MAX_CHARGE_CENTS), line
    # An address notification can write to: no whitespace, no line break (a header line).
    assert not any(character.isspace() for character in order.email)


@given(valid_orders)
def test_a_valid_order_round_trips(body):
    order = parse_place_order(body)

    assert (order.customer_id, order.email, order.payment_token) == (
        body["customer_id"],
        body["email"],
        body["payment_token"],
    )
    assert [(line.sku, line.quantity, line.unit_price_cents) for line in order.items] == [
        (item["sku"], item["quantity"], item.get("unit_price_cents")) for item in body["items"]
    ]


@given(skus | st.text(max_size=70))
@example("SKU-1\n")
def test_any_text_in_a_sku_s_place_is_a_sku_the_inventory_accepts_or_invalid_input(text):
    try:
        assert re.fullmatch(SKU, validate_sku(sku=text))
    except InvalidInput as invalid:
        assert [error.field for error in invalid.errors] == ["sku"]


@given(json_objects, st.randoms(use_true_random=False))
def test_the_fingerprint_ignores_key_order_and_tells_other_bodies_apart(body, rng: random.Random):
    shuffled = dict(rng.sample(list(body.items()), len(body)))

    assert request_fingerprint(shuffled) == request_fingerprint(body)
    assert request_fingerprint({**body, "extra-key-for-the-test": 1}) != request_fingerprint(body)


@given(st.sampled_from(OrderStatus), st.sampled_from(OrderStatus))
def test_a_transition_is_allowed_exactly_when_the_machine_says_so(current, target):
    try:
        check_transition(current=current, target=target)
    except IllegalTransition:
        assert target not in TRANSITIONS[current]
        return
    assert target in TRANSITIONS[current] and current in sources_of(target)


@given(st.integers(min_value=0, max_value=100_000), st.floats(min_value=0, max_value=1, exclude_max=True))
@example(1024, 0.0)  # found by hypothesis: OverflowError (2^1024 as a float), an order's 1024th retry
def test_the_retry_delay_is_within_its_bounds_for_any_attempt(attempt, jitter):
    delay = retry_delay_seconds(attempt, jitter=jitter)

    assert 0 < delay <= 60.0


emails_sent = st.fixed_dictionaries(
    {
        "notification_id": short_texts,
        "order_id": short_texts,
        "kind": st.sampled_from(["order_confirmed", "order_shipped"]) | short_texts,
        "sent_at": st.datetimes(timezones=st.timezones() | st.none()).map(lambda at: at.isoformat()),
    }
)


@given(bodies(emails_sent))
@example({"order_id": "o-1", "kind": "k" * 35, "sent_at": "2025-01-15T10:30:00+00:00"})
def test_a_notification_sent_is_a_step_that_fits_or_a_value_error(data):
    try:
        email = email_sent_from_event(data)
    except ValueError:
        return
    assert email.kind.startswith(EMAIL_STEP_PREFIX) and len(email.kind) <= STEP_KIND_LENGTH
    assert email.order_id.strip() and email.at.utcoffset() is not None
