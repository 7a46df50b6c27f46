"""Properties of the payment's parsers and gateway (hypothesis): any JSON body is either a
valid request or the domain's own InvalidInput, never another exception; an accepted charge
stays within the column's bounds and keys itself to its order."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from messaging.validation import InvalidInput
from payment_service.domain import (
    CURRENCY_PATTERN,
    MAX_AMOUNT_CENTS,
    MAX_ORDER_ID_LENGTH,
    MAX_TOKEN_LENGTH,
    ChargeRequest,
    PaymentStatus,
    SimulatedGateway,
    check_idempotency_key,
    check_refund_idempotency_key,
    outcome_status,
    parse_charge_request,
    parse_refund_request,
)
from testsupport.json_values import bodies

order_ids = st.text(min_size=1, max_size=MAX_ORDER_ID_LENGTH).filter(lambda text: not text.isspace())
tokens = st.sampled_from(["tok_visa", "tok_mastercard", "tok_timeout", "tok_chargeDeclined"]) | st.text(
    min_size=1, max_size=MAX_TOKEN_LENGTH
).filter(lambda text: not text.isspace())
valid_charges = st.fixed_dictionaries(
    {
        "order_id": order_ids,
        "amount_cents": st.integers(1, MAX_AMOUNT_CENTS),
        "currency": st.from_regex(CURRENCY_PATTERN, fullmatch=True),
        "payment_token": tokens,
    }
)


@given(bodies(valid_charges))
def test_a_charge_body_is_a_request_within_bounds_or_invalid_input(body):
    try:
        request = parse_charge_request(body=body)
    except InvalidInput as invalid:
        assert invalid.errors
        return
    assert isinstance(request, ChargeRequest)
    assert 1 <= request.amount_cents <= MAX_AMOUNT_CENTS  # PostgreSQL's integer column
    assert type(request.amount_cents) is int  # not True, not 1.0
    assert CURRENCY_PATTERN.fullmatch(request.currency)
    assert (
        1 <= len(request.order_id) <= MAX_ORDER_ID_LENGTH
        and 1 <= len(request.payment_token) <= MAX_TOKEN_LENGTH
    )


@given(valid_charges)
def test_a_valid_charge_round_trips_and_is_keyed_to_its_order(body):
    request = parse_charge_request(body=body)

    assert request == ChargeRequest(**body)
    check_idempotency_key(header=f"charge:{body['order_id']}", order_id=request.order_id)


@given(bodies(st.fixed_dictionaries({"order_id": order_ids})))
def test_a_refund_body_is_a_request_keyed_to_its_order_or_invalid_input(body):
    try:
        request = parse_refund_request(body=body)
    except InvalidInput:
        return
    assert request.order_id == body["order_id"]
    check_refund_idempotency_key(header=request.idempotency_key, order_id=request.order_id)


@given(valid_charges)
def test_the_simulated_gateway_decides_every_token_and_only_approves_the_approving_ones(body):
    decision = SimulatedGateway().charge(request=parse_charge_request(body=body))

    assert decision.approved == (body["payment_token"] in SimulatedGateway.APPROVING)
    assert (decision.decline_code is None) == decision.approved
    assert outcome_status(decision=decision) in (PaymentStatus.CAPTURED, PaymentStatus.DECLINED)
