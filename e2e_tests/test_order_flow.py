"""The pipeline end to end, over HTTP, against the running compose stack."""

from __future__ import annotations

import uuid

import requests

from e2e_tests.stack import (
    URLS,
    admin_headers,
    emails_to,
    get_json,
    new_sku,
    notifications,
    order,
    order_body,
    payments,
    post_order,
    product,
    sent_kinds,
    shipments,
)
from testsupport.polling import wait_until

EVENTUAL = 60  # seconds: warehouse dispatches after 2 s, then two hops of events


def test_happy_path_ends_shipped_with_one_shipment_and_two_emails():
    sku = new_sku(available=10, price_cents=1250)
    body = order_body(sku=sku, quantity=2)

    response = post_order(body)

    assert response.status_code == 201, response.text
    placed = response.json()
    assert placed["status"] == "CONFIRMED"
    assert placed["total_cents"] == 2500 and placed["items"][0]["unit_price_cents"] == 1250
    assert response.headers["Location"] == f"/orders/{placed['id']}"
    assert [p["status"] for p in payments(placed["id"])] == ["CAPTURED"]
    assert payments(placed["id"])[0]["amount_cents"] == 2500

    wait_until(lambda: order(placed["id"])["status"] == "SHIPPED", timeout=EVENTUAL, what="order SHIPPED")
    wait_until(
        lambda: sent_kinds(placed["id"]) == ["order_confirmed", "order_shipped"],
        timeout=EVENTUAL,
        what="2 mails",
    )
    assert [s["status"] for s in shipments(placed["id"])] == ["DISPATCHED"]
    stock = product(sku)
    assert (stock["available"], stock["reserved"], stock["sold"]) == (8, 0, 2)
    mails = wait_until(
        lambda: len(emails_to(body["email"])) == 2 and emails_to(body["email"]), timeout=EVENTUAL
    )
    subjects = sorted(mail["subject"] for mail in mails)
    assert len(subjects) == 2 and all(placed["id"] in s or "order" in s.lower() for s in subjects)


def test_out_of_stock_is_rejected_without_payment_and_stock_unchanged():
    sku = new_sku(available=1)

    response = post_order(order_body(sku=sku, quantity=2))

    assert response.status_code == 201, response.text
    rejected = response.json()
    assert (rejected["status"], rejected["failure_reason"]) == ("REJECTED", "out_of_stock")
    stock = product(sku)
    assert (stock["available"], stock["reserved"], stock["sold"]) == (1, 0, 0)
    assert payments(rejected["id"]) == []
    wait_until(
        lambda: sent_kinds(rejected["id"]) == ["order_rejected"], timeout=EVENTUAL, what="rejection mail"
    )
    assert shipments(rejected["id"]) == []


def test_unknown_sku_is_rejected():
    response = post_order(order_body(sku=f"NOPE-{uuid.uuid4().hex[:8]}"))

    assert response.status_code == 201, response.text
    assert (response.json()["status"], response.json()["failure_reason"]) == ("REJECTED", "unknown_sku")


def test_declined_card_fails_the_order_and_releases_the_stock():
    sku = new_sku(available=5)

    response = post_order(order_body(sku=sku, quantity=3, token="tok_chargeDeclined"))

    assert response.status_code == 201, response.text
    failed = response.json()
    assert (failed["status"], failed["failure_reason"]) == ("FAILED", "payment_declined")
    stock = product(sku)
    assert (stock["available"], stock["reserved"], stock["sold"]) == (5, 0, 0)
    assert get_json(f"{URLS.inventory}/reservations/{failed['id']}")["status"] == "RELEASED"
    assert [p["status"] for p in payments(failed["id"])] == ["DECLINED"]
    wait_until(lambda: sent_kinds(failed["id"]) == ["order_failed"], timeout=EVENTUAL, what="failure mail")
    assert shipments(failed["id"]) == []


def test_same_key_replays_the_first_response_and_a_different_body_is_refused():
    sku = new_sku(available=5)
    body = order_body(sku=sku)
    key = str(uuid.uuid4())

    first = post_order(body, key=key)
    replay = post_order(body, key=key)
    mismatch = post_order({**body, "items": [{"sku": sku, "quantity": 2}]}, key=key)

    assert first.status_code == 201
    assert (replay.status_code, replay.json()) == (first.status_code, first.json())
    assert mismatch.status_code == 422
    assert mismatch.headers["Content-Type"].startswith("application/problem+json")
    assert mismatch.json()["code"] == "idempotency-key-reused"
    listed = get_json(f"{URLS.order}/orders?customer_id={body['customer_id']}", headers=admin_headers())[
        "items"
    ]
    assert [o["id"] for o in listed] == [first.json()["id"]]
    assert product(sku)["available"] == 4  # reserved once, not twice
    assert len(payments(first.json()["id"])) == 1


def test_bad_input_gets_problem_json_not_a_500():
    no_key = requests.post(f"{URLS.order}/orders", json={}, timeout=10)
    not_json = requests.post(
        f"{URLS.order}/orders",
        data="{oops",
        headers={"Idempotency-Key": "k", "Content-Type": "application/json"},
    )
    invalid = post_order({"customer_id": "", "email": "nope", "items": [{"sku": "A", "quantity": 0}]})
    missing = requests.get(f"{URLS.order}/orders/{uuid.uuid4()}", timeout=10)

    assert (no_key.status_code, no_key.json()["code"]) == (400, "missing-idempotency-key")
    assert (not_json.status_code, not_json.json()["code"]) == (400, "invalid-json")
    assert (invalid.status_code, invalid.json()["code"]) == (422, "validation-error")
    assert {e["field"] for e in invalid.json()["errors"]} >= {"customer_id", "email", "payment_token"}
    assert (missing.status_code, missing.json()["code"]) == (404, "order-not-found")
    for response in (no_key, not_json, invalid, missing):
        assert response.headers["Content-Type"].startswith("application/problem+json")


def test_notifications_are_one_per_order_and_kind():
    sku = new_sku(available=3)
    placed = post_order(order_body(sku=sku)).json()

    wait_until(lambda: order(placed["id"])["status"] == "SHIPPED", timeout=EVENTUAL, what="order SHIPPED")
    wait_until(lambda: len(notifications(placed["id"])) == 2, timeout=EVENTUAL, what="2 notifications")

    kinds = [n["kind"] for n in notifications(placed["id"])]
    assert sorted(kinds) == ["order_confirmed", "order_shipped"]
