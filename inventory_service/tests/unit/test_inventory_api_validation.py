"""Bad input is refused before any database is touched (the engine points nowhere)."""

from __future__ import annotations

import pytest

from inventory_service.api import PROBLEMS, create_app
from inventory_service.config import Settings
from inventory_service.domain import (
    IllegalTransition,
    InventoryError,
    OutOfStock,
    ReservationCommitted,
    ReservationNotCommitted,
    ReservationRestocked,
    ReservationStatus,
    UnknownSku,
)
from messaging.credentials import ADMIN, ORDER_SERVICE
from testsupport.callers import TEST_CALLERS, acting_as, bearer

# Nothing listens on port 1: a request that reached the database would answer 503, not 4xx.
UNREACHABLE = "postgresql+psycopg2://nobody:nothing@127.0.0.1:1/nowhere?connect_timeout=1"
PROBLEM = "application/problem+json"
SETTINGS = Settings(database_url=UNREACHABLE, callers=TEST_CALLERS)
ADMIN_HEADERS = bearer(ADMIN)  # PUT /products is the operator's


@pytest.fixture
def client():
    """The order service, the reservations' only caller."""
    app = create_app(SETTINGS)
    app.testing = True
    return acting_as(app.test_client(), ORDER_SERVICE)


def answer(error: InventoryError) -> dict:
    """The problem the app answers when a view raises `error` (the entry of its own class: Flask
    picks the most specific one, see messaging/tests/unit/test_service_kit.py)."""
    return PROBLEMS[type(error)].problem(error).to_dict()


def test_malformed_json_is_a_400_problem(client):
    response = client.post(
        "/reservations",
        data="{not json",
        content_type="application/json",
        headers={"Idempotency-Key": "reserve:o"},
    )

    assert response.status_code == 400
    assert response.content_type == PROBLEM
    assert response.get_json()["code"] == "invalid-json"


def test_a_json_array_is_not_a_body(client):
    response = client.put("/products/SKU-A", json=[1, 2], headers=ADMIN_HEADERS)

    assert (response.status_code, response.get_json()["code"]) == (400, "invalid-json")


def test_invalid_reservation_fields_are_a_422_with_errors(client):
    response = client.post(
        "/reservations",
        json={"order_id": "o-1", "items": [{"sku": "A", "quantity": -1}]},
        headers={"Idempotency-Key": "reserve:o-1"},
    )

    assert response.status_code == 422
    assert response.content_type == PROBLEM
    body = response.get_json()
    assert body["code"] == "validation-error"
    assert body["type"].endswith("/validation-error")
    assert body["errors"] == [{"field": "items[0].quantity", "message": "must be from 1 to 1000000"}]


@pytest.mark.parametrize("header", [None, "reserve:other", "o-1"])
def test_a_missing_or_foreign_idempotency_key_is_a_400(client, header):
    headers = {"Idempotency-Key": header} if header else {}

    response = client.post(
        "/reservations", json={"order_id": "o-1", "items": [{"sku": "A", "quantity": 1}]}, headers=headers
    )

    assert response.status_code == 400
    assert response.content_type == PROBLEM
    assert response.get_json()["code"] == "invalid-idempotency-key"


def test_invalid_product_fields_are_a_422_listing_each_field(client):
    response = client.put(
        "/products/SKU-A", json={"name": "", "price_cents": True, "available": -3}, headers=ADMIN_HEADERS
    )

    assert response.status_code == 422
    assert {error["field"] for error in response.get_json()["errors"]} == {"name", "price_cents", "available"}


@pytest.mark.parametrize("path", ["/products/bad%20sku", "/products/" + "x" * 65])
def test_a_bad_sku_in_the_path_is_a_422(client, path):
    get = client.get(path)
    put = client.put(path, json={"name": "Mug", "price_cents": 1, "available": 1}, headers=ADMIN_HEADERS)

    assert (get.status_code, get.get_json()["errors"][0]["field"]) == (422, "sku")
    assert (put.status_code, put.get_json()["code"]) == (422, "validation-error")


def test_an_unknown_route_is_a_problem_too(client):
    response = client.get("/nothing-here")

    assert response.status_code == 404
    assert response.content_type == PROBLEM


def test_healthz_needs_no_database(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}


def test_readyz_reports_an_unreachable_database(client):
    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.get_json()["failures"] == {"database": "OperationalError"}


def test_domain_errors_map_to_stable_codes():
    out = answer(OutOfStock(sku="A"))
    unknown = answer(UnknownSku(sku="B"))
    committed = answer(
        ReservationCommitted(
            order_id="o", current=ReservationStatus.COMMITTED, wanted=ReservationStatus.RELEASED
        )
    )
    generic = answer(
        IllegalTransition(order_id="o", current=ReservationStatus.RELEASED, wanted=ReservationStatus.RESERVED)
    )

    assert (out["status"], out["code"], out["sku"]) == (409, "out-of-stock", "A")
    assert (unknown["status"], unknown["code"], unknown["sku"]) == (422, "unknown-sku", "B")
    assert (out["detail"], unknown["detail"]) == ("not enough stock of A", "no product B")
    assert (committed["status"], committed["code"]) == (409, "reservation-committed")
    assert (generic["status"], generic["code"]) == (409, "illegal-transition")


def test_every_domain_error_has_its_problem():
    def subclasses(kind: type) -> set[type]:
        return {each for sub in kind.__subclasses__() for each in {sub} | subclasses(sub)}

    assert subclasses(InventoryError) <= set(PROBLEMS)


def test_restock_conflicts_map_to_stable_codes():
    not_committed = answer(
        ReservationNotCommitted(
            order_id="o", current=ReservationStatus.RESERVED, wanted=ReservationStatus.RESTOCKED
        )
    )
    restocked = answer(
        ReservationRestocked(
            order_id="o", current=ReservationStatus.RESTOCKED, wanted=ReservationStatus.COMMITTED
        )
    )

    assert (not_committed["status"], not_committed["code"]) == (409, "reservation-not-committed")
    assert (restocked["status"], restocked["code"]) == (409, "reservation-restocked")


@pytest.mark.parametrize("header", [None, "restock:other", "reserve:o-1", "o-1"])
def test_a_restock_without_its_own_key_is_refused_before_the_database(client, header):
    headers = {"Idempotency-Key": header} if header else {}

    response = client.post("/reservations/o-1/restock", headers=headers)

    assert response.status_code == 400
    assert response.content_type == PROBLEM
    assert response.get_json()["code"] == "invalid-idempotency-key"


def test_the_hold_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", UNREACHABLE)
    monkeypatch.setenv("RESERVATION_HOLD_SECONDS", "42")
    monkeypatch.setenv("ADMIN_TOKEN", "env-admin")
    monkeypatch.setenv("ORDER_SERVICE_TOKEN", "env-order")

    assert create_app().extensions["settings"].reservation_hold_seconds == 42.0
    assert create_app(SETTINGS).extensions["settings"].reservation_hold_seconds == 600.0


# Each of these was a 500 (issue 12): now a 4xx problem before the database.
def test_a_deeply_nested_body_is_400_not_500(client):
    response = client.put(
        "/products/SKU-1",
        data="{" * 3000 + "}" * 3000,
        headers={"Content-Type": "application/json", **ADMIN_HEADERS},
    )
    assert (response.status_code, response.json["code"]) == (400, "invalid-json")


def test_a_nul_character_is_422_naming_the_field_not_500(client):
    response = client.put(
        "/products/SKU-1", json={"name": "Mug\x00", "price_cents": 100, "available": 1}, headers=ADMIN_HEADERS
    )
    assert (response.status_code, response.json["code"]) == (422, "validation-error")
    assert response.json["errors"] == [
        {"field": "name", "message": "holds a character that cannot be stored (NUL or a lone surrogate)"}
    ]
