"""Reading payments back: by order, newest first, limited; unknown ids are 404 problems."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from messaging.credentials import ADMIN
from payment_service import db
from payment_service.tests.integration.charges import charge
from testsupport.callers import bearer

ADMIN_HEADERS = bearer(ADMIN)  # every order's payments: the operator's list


def test_list_filters_by_order(payment_client):
    charge(payment_client, order_id="order-a")
    charge(payment_client, order_id="order-b", token="tok_chargeDeclined")

    only_b = payment_client.get("/payments?order_id=order-b").get_json()
    nobody = payment_client.get("/payments?order_id=order-z").get_json()

    assert [(p["order_id"], p["status"]) for p in only_b] == [("order-b", "DECLINED")]
    assert nobody == []


def test_list_is_newest_first_and_limited(payment_client):
    for n in range(3):
        charge(payment_client, order_id=f"order-{n}")

    everything = payment_client.get("/payments", headers=ADMIN_HEADERS).get_json()
    two = payment_client.get("/payments?limit=2", headers=ADMIN_HEADERS).get_json()

    assert [p["order_id"] for p in everything] == ["order-2", "order-1", "order-0"]
    assert two == everything[:2]


def test_a_bad_limit_is_a_400_problem(payment_client):
    response = payment_client.get("/payments?limit=501", headers=ADMIN_HEADERS)

    assert (response.status_code, response.get_json()["code"]) == (400, "invalid-query")


def test_an_unknown_payment_is_a_404_problem(payment_client):
    response = payment_client.get("/payments/00000000-0000-0000-0000-000000000000")

    assert response.status_code == 404
    assert response.content_type == "application/problem+json"
    assert response.get_json()["code"] == "payment-not-found"


def test_readyz_checks_the_database(payment_client):
    assert payment_client.get("/readyz").get_json() == {"status": "ready", "checks": ["database"]}


def test_the_migrations_create_exactly_the_tables_db_py_declares(payment_app):
    with payment_app.extensions["engine"].connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), db.metadata) == []
