"""Bad input is refused before any database is touched (the engine points nowhere)."""

from __future__ import annotations

import pytest

from messaging.credentials import ADMIN, ORDER_SERVICE
from messaging.settings import ConfigurationError
from payment_service.api import PROBLEMS, create_app
from payment_service.config import Settings, settings_from_env
from payment_service.domain import (
    IdempotencyKeyReused,
    OrderNotCharged,
    PaymentError,
    PaymentNotFound,
    PaymentNotRefundable,
    PaymentStatus,
    SimulatedGateway,
)
from testsupport.callers import TEST_CALLERS, acting_as, bearer

# Nothing listens on port 1: a request that reached the database would answer 503, not 4xx.
UNREACHABLE = "postgresql+psycopg2://nobody:nothing@127.0.0.1:1/nowhere?connect_timeout=1"
PROBLEM = "application/problem+json"
SETTINGS = Settings(database_url=UNREACHABLE, callers=TEST_CALLERS)
BODY = {"order_id": "o-1", "amount_cents": 1500, "currency": "EUR", "payment_token": "tok_visa"}


@pytest.fixture
def client():
    """The order service, the charges' and refunds' only caller."""
    app = create_app(SETTINGS)
    app.testing = True
    return acting_as(app.test_client(), ORDER_SERVICE)


def answer(error: PaymentError) -> dict:
    """The problem the app answers when a view raises `error` (the entry of its own class: Flask
    picks the most specific one, see messaging/tests/unit/test_service_kit.py)."""
    return PROBLEMS[type(error)].problem(error).to_dict()


def test_malformed_json_is_a_400_problem(client):
    response = client.post(
        "/charges",
        data='{"order_id": ',
        content_type="application/json",
        headers={"Idempotency-Key": "charge:o-1"},
    )

    assert response.status_code == 400
    assert response.content_type == PROBLEM
    assert response.get_json()["code"] == "invalid-json"


def test_a_body_without_json_content_type_is_a_400(client):
    response = client.post("/charges", data="order_id=o-1", headers={"Idempotency-Key": "charge:o-1"})

    assert (response.status_code, response.get_json()["code"]) == (400, "invalid-json")


def test_invalid_fields_are_a_422_with_errors(client):
    response = client.post(
        "/charges",
        json={**BODY, "amount_cents": 0, "currency": "eur"},
        headers={"Idempotency-Key": "charge:o-1"},
    )

    assert response.status_code == 422
    assert response.content_type == PROBLEM
    body = response.get_json()
    assert body["code"] == "validation-error"
    assert {error["field"] for error in body["errors"]} == {"amount_cents", "currency"}
    assert all(error["message"] for error in body["errors"])


@pytest.mark.parametrize("header", [None, "charge:o-2", "reserve:o-1", "o-1"])
def test_a_missing_or_foreign_idempotency_key_is_a_400(client, header):
    headers = {"Idempotency-Key": header} if header else {}

    response = client.post("/charges", json=BODY, headers=headers)

    assert response.status_code == 400
    assert response.content_type == PROBLEM
    assert response.get_json()["code"] == "invalid-idempotency-key"


@pytest.mark.parametrize("limit", ["0", "501", "ten"])
def test_an_out_of_range_limit_is_a_400(client, limit):
    response = client.get(f"/payments?limit={limit}", headers=bearer(ADMIN))  # every payment: admin

    assert (response.status_code, response.get_json()["code"]) == (400, "invalid-query")


def test_a_request_that_needs_the_database_gets_a_503_when_it_is_down(client):
    response = client.get("/payments/some-id")

    assert response.status_code == 503
    assert response.get_json()["code"] == "database-unavailable"
    assert response.headers["Retry-After"] == "2"


def test_domain_errors_map_to_stable_codes():
    reused = answer(IdempotencyKeyReused(order_id="o-1"))
    missing = answer(PaymentNotFound(payment_id="p-1"))
    not_charged = answer(OrderNotCharged(order_id="o-1"))
    declined = answer(PaymentNotRefundable(order_id="o-1", status=PaymentStatus.DECLINED))

    assert (reused["status"], reused["code"]) == (422, "idempotency-key-reused")
    assert (missing["status"], missing["code"], missing["detail"]) == (
        404,
        "payment-not-found",
        "no payment p-1",
    )
    assert (not_charged["status"], not_charged["code"]) == (404, "payment-not-found")
    assert (declined["status"], declined["code"]) == (409, "payment-not-refundable")


def test_every_domain_error_has_its_problem():
    assert set(PaymentError.__subclasses__()) <= set(PROBLEMS)


@pytest.mark.parametrize("header", [None, "refund:o-2", "charge:o-1", "o-1"])
def test_a_refund_without_its_own_key_is_a_400(client, header):
    headers = {"Idempotency-Key": header} if header else {}

    response = client.post("/refunds", json={"order_id": "o-1"}, headers=headers)

    assert response.status_code == 400
    assert response.content_type == PROBLEM
    assert response.get_json()["code"] == "invalid-idempotency-key"


@pytest.mark.parametrize("body", [{}, {"order_id": ""}, {"order_id": 12}])
def test_a_refund_without_an_order_id_is_a_422(client, body):
    response = client.post("/refunds", json=body, headers={"Idempotency-Key": "refund:o-1"})

    assert (response.status_code, response.get_json()["code"]) == (422, "validation-error")
    assert response.get_json()["errors"][0]["field"] == "order_id"


def test_a_refund_with_a_malformed_body_is_a_400(client):
    response = client.post(
        "/refunds", data="{", content_type="application/json", headers={"Idempotency-Key": "refund:o-1"}
    )

    assert (response.status_code, response.get_json()["code"]) == (400, "invalid-json")


@pytest.mark.parametrize("query", ["order_id=", "order_id=" + "x" * 101])
def test_an_empty_or_overlong_order_filter_is_a_422_not_every_payment(client, query):
    response = client.get(f"/payments?{query}")

    assert (response.status_code, response.get_json()["code"]) == (422, "validation-error")


def test_the_timeout_token_delay_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", UNREACHABLE)
    monkeypatch.setenv("PAYMENT_TIMEOUT_TOKEN_DELAY_SECONDS", "1.5")
    monkeypatch.setenv("ADMIN_TOKEN", "env-admin")
    monkeypatch.setenv("ORDER_SERVICE_TOKEN", "env-order")

    assert create_app().extensions["settings"].timeout_token_delay_seconds == 1.5
    assert create_app(SETTINGS).extensions["settings"].timeout_token_delay_seconds == 5.0


def test_the_gateway_is_the_simulated_one_unless_given():
    class Refusing:
        def charge(self, *, request):
            raise AssertionError("not called here")

    refusing = Refusing()
    assert isinstance(create_app(SETTINGS).extensions["gateway"], SimulatedGateway)
    assert create_app(SETTINGS, gateway=refusing).extensions["gateway"] is refusing


def test_settings_default_and_refuse_a_bad_delay():
    assert settings_from_env({"DATABASE_URL": "x"}).timeout_token_delay_seconds == 5.0
    assert (
        settings_from_env(
            {"DATABASE_URL": "x", "PAYMENT_TIMEOUT_TOKEN_DELAY_SECONDS": "0"}
        ).timeout_token_delay_seconds
        == 0.0
    )
    for bad in ("-1", "soon", "61"):
        with pytest.raises(ConfigurationError, match="PAYMENT_TIMEOUT_TOKEN_DELAY_SECONDS"):
            settings_from_env({"DATABASE_URL": "x", "PAYMENT_TIMEOUT_TOKEN_DELAY_SECONDS": bad})


# Each of these was a 500 (issue 12): now a 4xx problem before the database.
def test_a_deeply_nested_body_is_400_not_500(client):
    response = client.post(
        "/charges",
        data="[" * 3000 + "]" * 3000,
        headers={"Content-Type": "application/json", "Idempotency-Key": "charge:o-1"},
    )
    assert (response.status_code, response.json["code"]) == (400, "invalid-json")


def test_a_nul_or_lone_surrogate_is_422_naming_the_field_not_500(client):
    raw = '{"order_id": "o-1", "amount_cents": 1500, "currency": "EUR", "payment_token": "tok\\ud800"}'
    response = client.post(
        "/charges", data=raw, headers={"Content-Type": "application/json", "Idempotency-Key": "charge:o-1"}
    )
    assert (response.status_code, response.json["code"]) == (422, "validation-error")
    assert [error["field"] for error in response.json["errors"]] == ["payment_token"]
