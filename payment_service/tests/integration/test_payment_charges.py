"""Charges against a real PostgreSQL: approve, decline, replay, one payment per order."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from payment_service.tests.integration.charges import charge, stored_rows


def test_an_approved_charge_is_captured(payment_app, payment_client):
    response = charge(payment_client, order_id="order-1", token="tok_mastercard")

    assert response.status_code == 201
    body = response.get_json()
    assert {key: body[key] for key in ("order_id", "amount_cents", "currency", "status", "decline_code")} == {
        "order_id": "order-1",
        "amount_cents": 2500,
        "currency": "EUR",
        "status": "CAPTURED",
        "decline_code": None,
    }
    assert "payment_token" not in body
    assert response.headers["Location"] == f"/payments/{body['id']}"
    assert "Idempotent-Replayed" not in response.headers
    assert payment_client.get(f"/payments/{body['id']}").get_json() == body
    assert stored_rows(payment_app, order_id="order-1") == [("CAPTURED", None)]


def test_a_declined_charge_is_a_402_problem_and_a_declined_row(payment_app, payment_client):
    response = charge(payment_client, order_id="order-2", token="tok_chargeDeclinedInsufficientFunds")

    assert response.status_code == 402
    assert response.content_type == "application/problem+json"
    body = response.get_json()
    assert body["code"] == "payment-declined"
    assert body["decline_code"] == "insufficient_funds"
    assert body["payment"]["status"] == "DECLINED"
    assert body["payment"]["decline_code"] == "insufficient_funds"
    assert stored_rows(payment_app, order_id="order-2") == [("DECLINED", "insufficient_funds")]


def test_an_unknown_token_is_declined_as_invalid(payment_client):
    response = charge(payment_client, order_id="order-3", token="tok_whatever")

    assert (response.status_code, response.get_json()["decline_code"]) == (402, "invalid_token")


def test_a_replay_answers_the_same_status_and_body(payment_app, payment_client):
    for order_id, token, status in (("order-ok", "tok_visa", 201), ("order-no", "tok_chargeDeclined", 402)):
        first = charge(payment_client, order_id=order_id, token=token)
        replay = charge(payment_client, order_id=order_id, token=token)

        assert (first.status_code, replay.status_code) == (status, status)
        assert replay.get_json() == first.get_json()
        assert replay.content_type == first.content_type
        assert replay.headers["Idempotent-Replayed"] == "true"
        assert len(stored_rows(payment_app, order_id=order_id)) == 1


def test_the_same_key_with_other_parameters_is_refused(payment_app, payment_client):
    charge(payment_client, order_id="order-4", amount_cents=2500)

    other_amount = charge(payment_client, order_id="order-4", amount_cents=9999)
    other_token = charge(payment_client, order_id="order-4", token="tok_mastercard")
    other_currency = charge(payment_client, order_id="order-4", currency="USD")

    for response in (other_amount, other_token, other_currency):
        assert (response.status_code, response.get_json()["code"]) == (422, "idempotency-key-reused")
    assert len(stored_rows(payment_app, order_id="order-4")) == 1


def test_a_declined_order_cannot_be_charged_again_with_another_card(payment_app, payment_client):
    charge(payment_client, order_id="order-5", token="tok_chargeDeclined")

    retry = charge(payment_client, order_id="order-5", token="tok_visa")

    assert (retry.status_code, retry.get_json()["code"]) == (422, "idempotency-key-reused")
    assert stored_rows(payment_app, order_id="order-5") == [("DECLINED", "generic_decline")]


def test_concurrent_identical_charges_make_one_payment(payment_app, payment_client):
    barrier = threading.Barrier(12)

    def attempt(_: int) -> tuple[int, str]:
        client = payment_app.test_client()
        barrier.wait(timeout=30)
        response = charge(client, order_id="order-race")
        return response.status_code, response.get_json()["id"]

    with ThreadPoolExecutor(max_workers=12) as pool:
        results = list(pool.map(attempt, range(12)))

    assert {status for status, _ in results} == {201}
    assert len({payment_id for _, payment_id in results}) == 1
    assert len(stored_rows(payment_app, order_id="order-race")) == 1
