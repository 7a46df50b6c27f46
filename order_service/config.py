"""The order service's settings: read from the environment at the composition roots only."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    database_url: str
    inventory_url: str = "http://inventory-api:8000"
    payment_url: str = "http://payment-api:8000"
    broker_url: str = "amqp://guest:guest@rabbitmq:5672/%2F"
    connect_timeout_seconds: float = 1.0
    read_timeout_seconds: float = 3.0
    call_attempts: int = 3  # every downstream write is idempotent by key, so retrying is safe
    currency: str = "EUR"
    liveness_file: str = "/tmp/alive"


def settings_from_env(environ: Mapping[str, str] = os.environ) -> Settings:
    defaults = Settings(database_url="")
    return Settings(
        database_url=environ["DATABASE_URL"],
        inventory_url=environ.get("INVENTORY_URL", defaults.inventory_url),
        payment_url=environ.get("PAYMENT_URL", defaults.payment_url),
        broker_url=environ.get("BROKER_URL", defaults.broker_url),
        connect_timeout_seconds=float(
            environ.get("CONNECT_TIMEOUT_SECONDS", defaults.connect_timeout_seconds)
        ),
        read_timeout_seconds=float(environ.get("READ_TIMEOUT_SECONDS", defaults.read_timeout_seconds)),
        call_attempts=int(environ.get("CALL_ATTEMPTS", defaults.call_attempts)),
        currency=environ.get("CURRENCY", defaults.currency),
        liveness_file=environ.get("LIVENESS_FILE", defaults.liveness_file),
    )
