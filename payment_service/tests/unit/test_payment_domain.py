"""Payment rules and the simulated gateway, without a database."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from messaging.validation import InvalidIdempotencyKey
from payment_service.domain import (
    ChargeRequest,
    GatewayDecision,
    IdempotencyKeyReused,
    InvalidInput,
    Payment,
    PaymentNotRefundable,
    PaymentStatus,
    RefundRequest,
    SimulatedGateway,
    check_idempotency_key,
    check_refund_idempotency_key,
    check_replay,
    outcome_status,
    parse_charge_request,
    parse_refund_request,
    refund_target,
    slow_answer_seconds,
)

REQUEST = ChargeRequest(order_id="o-1", amount_cents=1500, currency="EUR", payment_token="tok_visa")
VALID_BODY = {"order_id": "o-1", "amount_cents": 1500, "currency": "EUR", "payment_token": "tok_visa"}
NOW = datetime(2025, 1, 1, tzinfo=UTC)


def stored(request: ChargeRequest) -> Payment:
    return Payment(
        id="p-1",
        order_id=request.order_id,
        idempotency_key=request.idempotency_key,
        amount_cents=request.amount_cents,
        currency=request.currency,
        payment_token=request.payment_token,
        status=PaymentStatus.CAPTURED,
        decline_code=None,
        created_at=NOW,
        updated_at=NOW,
    )


@pytest.mark.parametrize(
    ("token", "decision"),
    [
        ("tok_visa", GatewayDecision(approved=True)),
        ("tok_mastercard", GatewayDecision(approved=True)),
        ("tok_chargeDeclined", GatewayDecision(approved=False, decline_code="generic_decline")),
        (
            "tok_chargeDeclinedInsufficientFunds",
            GatewayDecision(approved=False, decline_code="insufficient_funds"),
        ),
        ("tok_VISA", GatewayDecision(approved=False, decline_code="invalid_token")),
        ("4242424242424242", GatewayDecision(approved=False, decline_code="invalid_token")),
    ],
)
def test_simulated_gateway_decides_by_token(token, decision):
    assert SimulatedGateway().charge(request=replace(REQUEST, payment_token=token)) == decision


def test_outcome_status_follows_the_decision():
    assert outcome_status(decision=GatewayDecision(approved=True)) is PaymentStatus.CAPTURED
    assert (
        outcome_status(decision=GatewayDecision(approved=False, decline_code="x")) is PaymentStatus.DECLINED
    )


def test_the_idempotency_key_is_derived_from_the_order():
    assert REQUEST.idempotency_key == "charge:o-1"
    check_idempotency_key(header="charge:o-1", order_id="o-1")
    for header in (None, "", "charge:o-2", "reserve:o-1"):
        with pytest.raises(InvalidIdempotencyKey):
            check_idempotency_key(header=header, order_id="o-1")


def test_a_replay_with_identical_parameters_returns_the_stored_payment():
    payment = stored(REQUEST)

    assert check_replay(existing=payment, request=REQUEST) is payment


@pytest.mark.parametrize(
    "changed", [{"amount_cents": 1501}, {"currency": "USD"}, {"payment_token": "tok_mastercard"}]
)
def test_a_replay_with_other_parameters_is_a_reused_key(changed):
    with pytest.raises(IdempotencyKeyReused):
        check_replay(existing=stored(REQUEST), request=replace(REQUEST, **changed))


def test_parse_charge_request_accepts_a_valid_body():
    assert parse_charge_request(body=VALID_BODY) == REQUEST


@pytest.mark.parametrize(
    ("changes", "expected_fields"),
    [
        ({"order_id": ""}, {"order_id"}),
        ({"order_id": 12}, {"order_id"}),
        ({"amount_cents": 0}, {"amount_cents"}),
        ({"amount_cents": -5}, {"amount_cents"}),
        ({"amount_cents": True}, {"amount_cents"}),
        ({"amount_cents": 10.0}, {"amount_cents"}),
        ({"amount_cents": 2**31}, {"amount_cents"}),
        ({"currency": "eur"}, {"currency"}),
        ({"currency": "EURO"}, {"currency"}),
        ({"currency": "EU1"}, {"currency"}),
        ({"currency": "EUR\n"}, {"currency"}),
        ({"payment_token": ""}, {"payment_token"}),
        ({"payment_token": "   "}, {"payment_token"}),
        ({"payment_token": None, "currency": None}, {"payment_token", "currency"}),
    ],
)
def test_parse_charge_request_reports_every_bad_field(changes, expected_fields):
    with pytest.raises(InvalidInput) as invalid:
        parse_charge_request(body={**VALID_BODY, **changes})

    assert {error.field for error in invalid.value.errors} == expected_fields


def test_an_empty_body_names_every_field():
    with pytest.raises(InvalidInput) as invalid:
        parse_charge_request(body={})

    assert {error.field for error in invalid.value.errors} == set(VALID_BODY)


def test_tok_timeout_is_approved_like_a_good_card():
    decision = SimulatedGateway().charge(request=replace(REQUEST, payment_token="tok_timeout"))

    assert decision == GatewayDecision(approved=True)


def test_only_the_first_answer_to_a_slow_token_is_late():
    slow = replace(stored(REQUEST), payment_token="tok_timeout")

    assert slow_answer_seconds(payment=slow, replayed=False, delay_seconds=5.0) == 5.0
    assert slow_answer_seconds(payment=slow, replayed=True, delay_seconds=5.0) == 0.0
    assert slow_answer_seconds(payment=stored(REQUEST), replayed=False, delay_seconds=5.0) == 0.0


def test_a_refund_moves_captured_to_refunded_once():
    captured = stored(REQUEST)
    refunded = replace(captured, status=PaymentStatus.REFUNDED, refunded_at=NOW)

    assert refund_target(payment=captured) is PaymentStatus.REFUNDED
    assert refund_target(payment=refunded) is None


def test_a_declined_payment_cannot_be_refunded():
    declined = replace(stored(REQUEST), status=PaymentStatus.DECLINED, decline_code="generic_decline")

    with pytest.raises(PaymentNotRefundable):
        refund_target(payment=declined)


def test_the_refund_key_is_derived_from_the_order_of_the_body():
    assert RefundRequest(order_id="o-1").idempotency_key == "refund:o-1"
    check_refund_idempotency_key(header="refund:o-1", order_id="o-1")
    for header in (None, "", "refund:o-2", "charge:o-1"):
        with pytest.raises(InvalidIdempotencyKey):
            check_refund_idempotency_key(header=header, order_id="o-1")


@pytest.mark.parametrize("body", [{}, {"order_id": ""}, {"order_id": 7}, {"order_id": "x" * 101}])
def test_a_refund_needs_an_order_id(body):
    with pytest.raises(InvalidInput) as invalid:
        parse_refund_request(body=body)

    assert [error.field for error in invalid.value.errors] == ["order_id"]


def test_a_refund_request_ignores_fields_it_does_not_read():
    assert parse_refund_request(body={"order_id": "o-1", "reason": "cancelled"}) == RefundRequest("o-1")
