"""API input validation and probes: no database server needed."""

from __future__ import annotations

import json

import pytest

from contracts import example_event
from messaging.credentials import ADMIN, ORDER_SERVICE
from messaging.database import make_engine
from messaging.settings import ConfigurationError
from notification_service.api import create_app
from notification_service.config import Settings
from notification_service.mailer import SmtpMailer
from testsupport.callers import TEST_CALLERS, acting_as, bearer

SETTINGS = Settings(
    database_url="postgresql+psycopg2://unused@127.0.0.1:1/notification", callers=TEST_CALLERS
)
TOKENS = {"ADMIN_TOKEN": "env-admin", "ORDER_SERVICE_TOKEN": "env-order"}


class UnusableEngine:
    def connect(self):
        raise AssertionError("invalid input must be refused before any query")

    begin = connect


class UnusableMailer:
    def send(self, **_: str) -> None:
        raise AssertionError("nothing may be sent for this input")


@pytest.fixture
def client():
    """The order service, the only caller of POST /events."""
    app = create_app(SETTINGS, engine=UnusableEngine(), mailer=UnusableMailer())
    return acting_as(app.test_client(), ORDER_SERVICE)


def test_an_overlong_order_id_is_a_validation_error(client):
    response = client.get("/notifications?order_id=" + "x" * 101)
    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
    assert response.json["errors"] == [{"field": "order_id", "message": "must be 1 to 100 characters"}]


def test_a_bad_limit_is_refused(client):
    response = client.get("/notifications?limit=-3", headers=bearer(ADMIN))  # every address: admin
    assert response.status_code == 400
    assert response.json["code"] == "invalid-query"


def test_healthz_answers_without_the_database(client):
    assert client.get("/healthz").json == {"status": "ok"}


def test_readyz_fails_when_the_database_is_unreachable():
    engine = make_engine("postgresql+psycopg2://nobody:secret@127.0.0.1:1/notification", pool_size=1)
    response = create_app(SETTINGS, engine=engine).test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["code"] == "not-ready"


def post_event(client, event):
    body = event if isinstance(event, (bytes, str)) else json.dumps(event)
    return client.post("/events", data=body, content_type="application/json")


def test_an_event_customers_do_not_hear_about_is_answered_without_database_or_mail(client):
    event = {**example_event("order.confirmed"), "type": "inventory.restocked"}

    response = post_event(client, event)

    assert response.status_code == 200
    assert response.json == {"event_id": event["id"], "notification_id": None, "sent": False}


def test_a_body_that_is_no_envelope_is_malformed_before_the_database(client):
    # Every malformed shape is covered once, in messaging/tests/unit/test_web_envelope_body.py.
    response = post_event(client, b"{not json")

    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
    assert response.json["code"] == "malformed-event"


@pytest.mark.parametrize(
    "data",
    [
        {"email": "ada@example.com"},
        {"order_id": "o-1", "email": "nobody"},
        {"order_id": "o-1", "email": "ada@example.com\nBcc: everyone@example.com"},
        {"order_id": "o-1\r\nBcc: everyone@example.com", "email": "ada@example.com"},
    ],
)
def test_an_event_with_invalid_data_is_refused_before_the_database(client, data):
    response = post_event(client, {**example_event("order.failed"), "data": data})

    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
    assert response.json["code"] == "invalid-event"


def test_the_mailer_comes_from_the_environment_like_the_workers(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg2://u:p@127.0.0.1:1/n")
    monkeypatch.setenv("SMTP_HOST", "smtp.example")
    monkeypatch.setenv("SMTP_PORT", "2525")
    monkeypatch.setenv("MAIL_FROM", "shop@example.com")
    for variable, token in TOKENS.items():
        monkeypatch.setenv(variable, token)

    mailer = create_app().extensions["mailer"]

    assert isinstance(mailer, SmtpMailer)
    assert (mailer.host, mailer.port, mailer.sender) == ("smtp.example", 2525, "shop@example.com")
    injected = UnusableMailer()
    app = create_app(SETTINGS, engine=UnusableEngine(), mailer=injected)
    assert app.extensions["mailer"] is injected


def test_the_app_needs_a_database_url_when_given_no_settings(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    with pytest.raises(ConfigurationError, match="DATABASE_URL is required"):
        create_app()
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg2://u:p@127.0.0.1:1/n")
    for variable, token in TOKENS.items():
        monkeypatch.setenv(variable, token)
    monkeypatch.setenv("SMTP_PORT", "smtp")
    with pytest.raises(ConfigurationError, match="SMTP_PORT"):
        create_app()
    monkeypatch.delenv("SMTP_PORT")
    assert create_app().name == "notification_service.api"
