"""Refunds against a real PostgreSQL: once per order, replayable, only of a captured payment."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from payment_service.tests.integration.charges import charge, refund, stored_rows


def test_a_captured_payment_is_refunded(payment_app, payment_client):
    captured = charge(payment_client, order_id="order-1").get_json()

    response = refund(payment_client, order_id="order-1")

    assert response.status_code == 200
    body = response.get_json()
    assert (body["id"], body["order_id"], body["status"]) == (captured["id"], "order-1", "REFUNDED")
    assert captured["refunded_at"] is None and body["refunded_at"] is not None
    assert body["amount_cents"] == captured["amount_cents"]
    assert "Idempotent-Replayed" not in response.headers
    assert stored_rows(payment_app, order_id="order-1") == [("REFUNDED", None)]
    assert payment_client.get(f"/payments/{body['id']}").get_json() == body


def test_a_second_refund_answers_the_same_body_and_refunds_nothing_more(payment_app, payment_client):
    charge(payment_client, order_id="order-2")
    first = refund(payment_client, order_id="order-2")

    again = refund(payment_client, order_id="order-2")

    assert (first.status_code, again.status_code) == (200, 200)
    assert again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len(stored_rows(payment_app, order_id="order-2")) == 1


def test_refunding_an_order_without_payment_is_a_404_problem(payment_app, payment_client):
    response = refund(payment_client, order_id="never-charged")

    assert response.status_code == 404
    assert response.content_type == "application/problem+json"
    assert response.get_json()["code"] == "payment-not-found"
    assert stored_rows(payment_app, order_id="never-charged") == []  # no tombstone, no row


def test_a_declined_payment_is_not_refundable(payment_app, payment_client):
    charge(payment_client, order_id="order-3", token="tok_chargeDeclined")

    response = refund(payment_client, order_id="order-3")

    assert (response.status_code, response.get_json()["code"]) == (409, "payment-not-refundable")
    assert stored_rows(payment_app, order_id="order-3") == [("DECLINED", "generic_decline")]


def test_a_key_for_another_order_is_refused_and_refunds_nothing(payment_app, payment_client):
    charge(payment_client, order_id="order-4")

    response = refund(payment_client, order_id="order-4", key="refund:order-5")

    assert (response.status_code, response.get_json()["code"]) == (400, "invalid-idempotency-key")
    assert stored_rows(payment_app, order_id="order-4") == [("CAPTURED", None)]


def test_the_lookup_by_order_shows_the_payment_whatever_its_status(payment_client):
    charge(payment_client, order_id="order-ok")
    charge(payment_client, order_id="order-no", token="tok_chargeDeclined")
    charge(payment_client, order_id="order-back")
    refund(payment_client, order_id="order-back")

    statuses = {
        order_id: [p["status"] for p in payment_client.get(f"/payments?order_id={order_id}").get_json()]
        for order_id in ("order-ok", "order-no", "order-back", "order-none")
    }

    assert statuses == {
        "order-ok": ["CAPTURED"],
        "order-no": ["DECLINED"],
        "order-back": ["REFUNDED"],
        "order-none": [],
    }


def test_a_charge_replayed_after_its_refund_tells_the_refund(payment_client):
    charge(payment_client, order_id="order-late")
    refund(payment_client, order_id="order-late")

    replay = charge(payment_client, order_id="order-late")

    # The stored result, as it is now: a caller must read `status`, not only the HTTP code.
    assert replay.status_code == 201
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.get_json()["status"] == "REFUNDED"


def test_concurrent_refunds_of_one_order_refund_once(payment_app, payment_client):
    charge(payment_client, order_id="order-race")
    barrier = threading.Barrier(10)

    def attempt(_: int) -> tuple[int, dict, bool]:
        client = payment_app.test_client()
        barrier.wait(timeout=30)
        response = refund(client, order_id="order-race")
        return response.status_code, response.get_json(), "Idempotent-Replayed" in response.headers

    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(attempt, range(10)))

    assert {status for status, _, _ in results} == {200}
    assert len({body["refunded_at"] for _, body, _ in results}) == 1
    assert sorted(replayed for _, _, replayed in results) == [False] + [True] * 9
    assert stored_rows(payment_app, order_id="order-race") == [("REFUNDED", None)]
