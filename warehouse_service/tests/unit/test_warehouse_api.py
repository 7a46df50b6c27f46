"""API input validation and probes: no database server needed."""

from __future__ import annotations

import json

import pytest

from contracts import example_event
from messaging.credentials import ADMIN, ORDER_SERVICE
from messaging.database import make_engine
from messaging.envelope import new_event
from messaging.settings import ConfigurationError
from testsupport.callers import TEST_CALLERS, acting_as, bearer
from warehouse_service.api import create_app
from warehouse_service.config import Settings

SETTINGS = Settings(database_url="postgresql+psycopg2://unused@127.0.0.1:1/warehouse", callers=TEST_CALLERS)
TOKENS = {"ADMIN_TOKEN": "env-admin", "ORDER_SERVICE_TOKEN": "env-order"}


class UnusableEngine:
    def connect(self):
        raise AssertionError("invalid input must be refused before any query")

    begin = connect


@pytest.fixture
def client():
    """The order service, the only caller of POST /events and of the cancel call."""
    return acting_as(create_app(SETTINGS, engine=UnusableEngine()).test_client(), ORDER_SERVICE)


def test_an_empty_order_id_is_a_validation_error(client):
    response = client.get("/shipments?order_id=")
    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
    assert response.json["code"] == "validation-error"
    assert response.json["errors"][0]["field"] == "order_id"


@pytest.mark.parametrize("limit", ["0", "501", "ten"])
def test_a_bad_limit_is_refused(client, limit):
    response = client.get(f"/shipments?limit={limit}", headers=bearer(ADMIN))  # every shipment: admin
    assert response.status_code == 400
    assert response.json["code"] == "invalid-query"


def test_an_unknown_path_is_a_problem_not_html(client):
    response = client.get("/parcels")
    assert response.status_code == 404
    assert response.content_type == "application/problem+json"


def test_healthz_answers_without_the_database(client):
    assert client.get("/healthz").json == {"status": "ok"}


def test_readyz_fails_when_the_database_is_unreachable():
    engine = make_engine("postgresql+psycopg2://nobody:secret@127.0.0.1:1/warehouse", pool_size=1)
    response = create_app(SETTINGS, engine=engine).test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["failures"] == {"database": "OperationalError"}


def test_the_app_needs_a_database_url_when_given_no_settings(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    with pytest.raises(ConfigurationError, match="DATABASE_URL is required"):
        create_app()
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg2://u:p@127.0.0.1:1/w")
    for variable in TOKENS:
        monkeypatch.delenv(variable, raising=False)
    for variable in TOKENS:  # the API's callers' tokens are required too, one by one
        with pytest.raises(ConfigurationError, match=f"{variable} is required"):
            create_app()
        monkeypatch.setenv(variable, TOKENS[variable])
    assert create_app().name == "warehouse_service.api"


@pytest.mark.parametrize("header", [None, "cancel:other", "o-1", "restock:o-1"])
def test_a_cancel_without_its_own_key_is_refused_before_the_database(client, header):
    headers = {"Idempotency-Key": header} if header else {}

    response = client.post("/shipments/o-1/cancel", headers=headers)

    assert response.status_code == 400
    assert response.json["code"] == "invalid-idempotency-key"


def test_a_cancel_of_an_overlong_order_id_is_a_validation_error(client):
    order_id = "x" * 101

    response = client.post(f"/shipments/{order_id}/cancel", headers={"Idempotency-Key": f"cancel:{order_id}"})

    assert (response.status_code, response.json["code"]) == (422, "validation-error")


def post_event(client, event):
    body = event if isinstance(event, (bytes, str)) else json.dumps(event)
    return client.post("/events", data=body, content_type="application/json")


def test_an_event_the_warehouse_does_not_read_is_handled_without_the_database(client):
    event = example_event("shipment.dispatched")

    response = post_event(client, event)

    assert response.status_code == 200
    assert response.json == {"event_id": event["id"], "type": "shipment.dispatched"}


def test_the_envelope_of_new_event_is_accepted_as_is(client):
    envelope = new_event(type="inventory.restocked", source="inventory_service", data={"sku": "SKU-1"})

    response = client.post("/events", data=envelope.to_json(), content_type="application/cloudevents+json")

    assert (response.status_code, response.json["event_id"]) == (200, envelope.id)


def test_a_body_that_is_no_envelope_is_malformed_before_the_database(client):
    # Every malformed shape is covered once, in messaging/tests/unit/test_web_envelope_body.py.
    response = post_event(client, b"{not json")

    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
    assert response.json["code"] == "malformed-event"


@pytest.mark.parametrize(
    ("event_type", "data"),
    [
        ("order.confirmed", {"email": "ada@example.com", "items": []}),
        ("order.confirmed", {"order_id": "o-1", "items": []}),
        ("order.confirmed", {"order_id": "o-1", "email": "ada@example.com", "items": [{"sku": "A"}]}),
        ("order.confirmed", {"order_id": "o-1", "email": "ada@example.com", "items": "SKU-1"}),
        ("order.cancelled", {"order_id": ""}),
    ],
)
def test_an_event_with_invalid_data_is_refused_before_the_database(client, event_type, data):
    event = {**example_event(event_type), "data": data}

    response = post_event(client, event)

    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
    assert response.json["code"] == "invalid-event"


def test_the_dispatch_delay_comes_from_the_environment_like_the_workers(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg2://u:p@127.0.0.1:1/w")
    monkeypatch.setenv("DISPATCH_DELAY_SECONDS", "7.5")
    for variable, token in TOKENS.items():
        monkeypatch.setenv(variable, token)

    assert create_app().extensions["settings"].dispatch_delay_seconds == 7.5
    assert create_app(SETTINGS, engine=UnusableEngine()).extensions["settings"].dispatch_delay_seconds == 2.0
