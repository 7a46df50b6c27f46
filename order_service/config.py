"""The order service's settings: read from the environment at the composition roots only."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from order_service.clients import ClientSettings


def _client_settings(environ: Mapping[str, str], prefix: str) -> ClientSettings:
    """Per dependency: INVENTORY_CONNECT_TIMEOUT_SECONDS, PAYMENT_READ_TIMEOUT_SECONDS, ...
    falling back to the shared CONNECT_TIMEOUT_SECONDS / READ_TIMEOUT_SECONDS."""

    def get(name: str, default: str) -> str:
        return environ.get(f"{prefix}_{name}", environ.get(name, default))

    return ClientSettings(
        connect_timeout=float(get("CONNECT_TIMEOUT_SECONDS", "1.0")),
        read_timeout=float(get("READ_TIMEOUT_SECONDS", "3.0")),
        # Every downstream write is idempotent by key, so retrying is safe.
        attempts=int(get("CALL_ATTEMPTS", "3")),
        breaker_failures=int(get("BREAKER_FAILURES", "5")),
        breaker_reset_seconds=float(get("BREAKER_RESET_SECONDS", "10")),
    )


FLOWS = ("hybrid", "sync")


def _flow(value: str) -> str:
    if value not in FLOWS:
        raise ValueError(f"ORDER_FLOW must be one of {FLOWS}, not {value!r}")
    return value


@dataclass(frozen=True)
class Settings:
    database_url: str
    inventory_url: str = "http://inventory-api:8000"
    payment_url: str = "http://payment-api:8000"
    warehouse_url: str = "http://warehouse-api:8000"
    notification_url: str = "http://notification-api:8000"
    broker_url: str = "amqp://guest:guest@rabbitmq:5672/%2F"
    inventory: ClientSettings = field(default_factory=lambda: _client_settings({}, "INVENTORY"))
    payment: ClientSettings = field(default_factory=lambda: _client_settings({}, "PAYMENT"))
    warehouse: ClientSettings = field(default_factory=lambda: _client_settings({}, "WAREHOUSE"))
    notification: ClientSettings = field(default_factory=lambda: _client_settings({}, "NOTIFICATION"))
    # hybrid: events through the outbox and RabbitMQ. sync: the benchmark's baseline, which
    # POSTs each event to the warehouse and notification APIs inline (see saga.deliver_inline).
    flow: str = "hybrid"
    currency: str = "EUR"
    # The sweeper resumes an in-flight order untouched for this long (the request died).
    stale_after_seconds: float = 10.0
    sweep_every_seconds: float = 1.0
    step_pause_seconds: float = 0.0  # test-only: ORDER_SAGA_STEP_PAUSE_SECONDS
    liveness_file: str = "/tmp/alive"


def settings_from_env(environ: Mapping[str, str] = os.environ) -> Settings:
    defaults = Settings(database_url="")
    return Settings(
        database_url=environ["DATABASE_URL"],
        inventory_url=environ.get("INVENTORY_URL", defaults.inventory_url),
        payment_url=environ.get("PAYMENT_URL", defaults.payment_url),
        warehouse_url=environ.get("WAREHOUSE_URL", defaults.warehouse_url),
        notification_url=environ.get("NOTIFICATION_URL", defaults.notification_url),
        broker_url=environ.get("BROKER_URL", defaults.broker_url),
        inventory=_client_settings(environ, "INVENTORY"),
        payment=_client_settings(environ, "PAYMENT"),
        warehouse=_client_settings(environ, "WAREHOUSE"),
        notification=_client_settings(environ, "NOTIFICATION"),
        flow=_flow(environ.get("ORDER_FLOW", defaults.flow)),
        currency=environ.get("CURRENCY", defaults.currency),
        stale_after_seconds=float(environ.get("SWEEPER_STALE_AFTER_SECONDS", defaults.stale_after_seconds)),
        sweep_every_seconds=float(environ.get("SWEEP_EVERY_SECONDS", defaults.sweep_every_seconds)),
        step_pause_seconds=float(environ.get("ORDER_SAGA_STEP_PAUSE_SECONDS", defaults.step_pause_seconds)),
        liveness_file=environ.get("LIVENESS_FILE", defaults.liveness_file),
    )
