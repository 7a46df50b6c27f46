"""Who may call what (messaging.guard): charges and refunds are the order service's, the list of
every payment the operator's; a payment and an order's payments stay open."""

from __future__ import annotations

from messaging.credentials import ADMIN, ORDER_SERVICE
from payment_service.tests.integration.charges import charge
from testsupport.callers import guard_answers

REFUSED = {"nobody": (401, "unauthenticated"), "unknown": (401, "unauthenticated")}


def test_charges_and_refunds_answer_the_order_service_only(payment_app, payment_client):
    charge(payment_client, order_id="to-refund")
    anyone = payment_app.test_client()  # presents nothing of its own
    body = {"order_id": "new", "amount_cents": 1500, "currency": "EUR", "payment_token": "tok_visa"}

    charges = guard_answers(anyone, "POST", "/charges", json=body, headers={"Idempotency-Key": "charge:new"})
    refunds = guard_answers(
        anyone,
        "POST",
        "/refunds",
        json={"order_id": "to-refund"},
        headers={"Idempotency-Key": "refund:to-refund"},
    )

    assert charges == {**REFUSED, ADMIN: (403, "forbidden"), ORDER_SERVICE: (201, None)}
    assert refunds == {**REFUSED, ADMIN: (403, "forbidden"), ORDER_SERVICE: (200, None)}
    assert [p["status"] for p in anyone.get("/payments?order_id=new").json] == ["CAPTURED"]  # charged once
    assert [p["status"] for p in anyone.get("/payments?order_id=to-refund").json] == ["REFUNDED"]


def test_the_list_of_every_payment_answers_the_admin_only(payment_app, payment_client):
    charge(payment_client, order_id="listed")
    anyone = payment_app.test_client()

    assert guard_answers(anyone, "GET", "/payments") == {
        **REFUSED,
        ORDER_SERVICE: (403, "forbidden"),
        ADMIN: (200, None),
    }


def test_reads_of_one_thing_and_the_probes_stay_open(payment_app, payment_client):
    payment_id = charge(payment_client, order_id="open").json["id"]
    anyone = payment_app.test_client()

    for path in (f"/payments/{payment_id}", "/payments?order_id=open", "/healthz", "/readyz"):
        assert anyone.get(path).status_code == 200, path
