"""APP_ENV=production refuses the development credentials, naming the variable; real ones pass."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from celery import Celery

from messaging.settings import (
    DEVELOPMENT_CREDENTIALS,
    ConfigurationError,
    Env,
    ProcessSettings,
    secret_of,
)
from messaging.worker import create_worker_app

ROOT = Path(__file__).resolve().parents[3]
REAL = {
    "DATABASE_URL": "postgresql+psycopg2://order_service:Xk4%40v9q@db.internal:5432/order_service",
    "BROKER_URL": "amqp://pipeline:r7Tq2mZp@mq.internal:5672/%2F",
}


def holding(name: str, secret: str) -> str:
    """`name`'s real value with `secret` as its password (a URL) or as the whole value (a token)."""
    real = REAL.get(name)
    if real is None:
        return secret
    return re.sub(r"(://[^:/]+:)[^@]+@", lambda m: f"{m[1]}{secret}@", real)


@pytest.mark.parametrize(("name", "development"), DEVELOPMENT_CREDENTIALS)
def test_production_refuses_each_development_credential_by_name(name, development):
    environ = REAL | {"APP_ENV": "production", name: holding(name, development)}

    with pytest.raises(ConfigurationError) as refused:
        Env(environ).process()

    assert str(refused.value) == f"APP_ENV=production but {name} still holds its development value"


def test_production_takes_real_credentials():
    settings = ProcessSettings(**Env(REAL | {"APP_ENV": "production"}).process())
    assert (settings.database_url, settings.broker_url) == (REAL["DATABASE_URL"], REAL["BROKER_URL"])


def test_development_takes_the_development_credentials():
    development = {name: holding(name, secret) for name, secret in DEVELOPMENT_CREDENTIALS}
    for app_env in ({}, {"APP_ENV": "development"}):
        assert Env(development | app_env).process()["database_url"] == development["DATABASE_URL"]


def test_app_env_is_one_of_two_words():
    with pytest.raises(
        ConfigurationError, match="^APP_ENV must be one of development, production, not 'prod'$"
    ):
        Env(REAL | {"APP_ENV": "prod"}).process()


def test_a_url_is_judged_by_its_password_decoded_and_a_token_whole():
    assert secret_of("amqp://pipeline:pipe%6Cine@mq/%2F") == "pipeline"  # encoding does not hide it
    assert secret_of("amqp://pipeline@mq/%2F") is None
    assert secret_of("postgresql:///order_service") is None  # no password: peer or passfile auth
    assert secret_of("dev-admin-token") == "dev-admin-token"
    environ = REAL | {"APP_ENV": "production", "BROKER_URL": "amqp://pipeline:pipe%6Cine@mq/%2F"}
    with pytest.raises(ConfigurationError, match="BROKER_URL"):
        Env(environ).process()


def test_every_password_and_token_compose_defaults_to_is_a_development_credential():
    """compose.yaml is where the development values are written; the list must know each."""
    compose = (ROOT / "compose.yaml").read_text()
    defaults = set(re.findall(r"\$\{\w*(?:PASSWORD|TOKEN|SECRET):-([^}]*)\}", compose))
    assert {"dev-admin-token", "dev-order-service-token", "dev-order-web-secret"} <= defaults
    assert defaults and defaults <= {secret for _, secret in DEVELOPMENT_CREDENTIALS}


def test_no_process_gets_a_broker_url_by_default_and_a_worker_requires_one():
    settings = ProcessSettings(**Env({"DATABASE_URL": REAL["DATABASE_URL"]}).process())
    assert settings.broker_url == ""
    with pytest.raises(ConfigurationError, match="^BROKER_URL is required$"):
        create_worker_app("w", settings=settings, task_queue="order.tasks", include=[], beat_schedule={})
    given = ProcessSettings(database_url=REAL["DATABASE_URL"], broker_url=REAL["BROKER_URL"])
    app = create_worker_app("w", settings=given, task_queue="order.tasks", include=[], beat_schedule={})
    assert isinstance(app, Celery) and app.conf.broker_url == REAL["BROKER_URL"]
