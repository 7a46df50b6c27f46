"""The order service's settings, read from the environment by its composition roots."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from messaging.credentials import NOBODY, ORDER_SERVICE, TOKEN_VARIABLES, Callers, callers_from_env
from messaging.settings import Env, ProcessSettings
from order_service.clients import ClientSettings

FLOWS = ("hybrid", "sync")
DEFAULT_CLIENT = ClientSettings(
    connect_timeout=1.0,
    read_timeout=3.0,
    attempts=3,  # every downstream write is idempotent by key, so retrying is safe
    breaker_failures=5,
    breaker_reset_seconds=10.0,
)


@dataclass(frozen=True, kw_only=True)
class Settings(ProcessSettings):
    # ORDER_SERVICE_TOKEN, sent as `Authorization: Bearer` on every call to the other services.
    # No default: the API and the worker both call them, and neither starts without it.
    service_token: str
    inventory_url: str = "http://inventory-api:8000"
    payment_url: str = "http://payment-api:8000"
    warehouse_url: str = "http://warehouse-api:8000"
    notification_url: str = "http://notification-api:8000"
    inventory: ClientSettings = DEFAULT_CLIENT
    payment: ClientSettings = DEFAULT_CLIENT
    warehouse: ClientSettings = DEFAULT_CLIENT
    notification: ClientSettings = DEFAULT_CLIENT
    # hybrid: events through the outbox and RabbitMQ. sync: the benchmark's baseline, which
    # POSTs each event to the warehouse and notification APIs inline (see saga.deliver_inline).
    flow: str = "hybrid"
    currency: str = "EUR"
    # The sweeper resumes an in-flight order untouched for this long (the request died).
    stale_after_seconds: float = 10.0
    sweep_every_seconds: float = 1.0
    step_pause_seconds: float = 0.0  # test-only: ORDER_SAGA_STEP_PAUSE_SECONDS
    # Whose tokens the guarded endpoints (GET /orders, the list) accept: read for the API only.
    callers: Callers = NOBODY


def _client_settings(env: Env, prefix: str) -> ClientSettings:
    """Per dependency: INVENTORY_CONNECT_TIMEOUT_SECONDS, PAYMENT_READ_TIMEOUT_SECONDS, ...
    falling back to the shared CONNECT_TIMEOUT_SECONDS / READ_TIMEOUT_SECONDS, then the default."""

    def seconds(name: str, default: float) -> float:
        shared = env.seconds(name, default, maximum=600)
        return env.seconds(f"{prefix}_{name}", shared, maximum=600)

    def count(name: str, default: int) -> int:
        shared = env.integer(name, default, minimum=1, maximum=100)
        return env.integer(f"{prefix}_{name}", shared, minimum=1, maximum=100)

    return ClientSettings(
        connect_timeout=seconds("CONNECT_TIMEOUT_SECONDS", DEFAULT_CLIENT.connect_timeout),
        read_timeout=seconds("READ_TIMEOUT_SECONDS", DEFAULT_CLIENT.read_timeout),
        attempts=count("CALL_ATTEMPTS", DEFAULT_CLIENT.attempts),
        breaker_failures=count("BREAKER_FAILURES", DEFAULT_CLIENT.breaker_failures),
        breaker_reset_seconds=seconds("BREAKER_RESET_SECONDS", DEFAULT_CLIENT.breaker_reset_seconds),
    )


def settings_from_env(environ: Mapping[str, str] | None = None, *, api: bool = False) -> Settings:
    """`api`: for the API, which also needs its callers' tokens (required there only)."""
    env = Env(environ)
    return Settings(
        **env.process(),
        service_token=env.text(TOKEN_VARIABLES[ORDER_SERVICE]),
        callers=callers_from_env(env) if api else NOBODY,
        inventory_url=env.text("INVENTORY_URL", Settings.inventory_url),
        payment_url=env.text("PAYMENT_URL", Settings.payment_url),
        warehouse_url=env.text("WAREHOUSE_URL", Settings.warehouse_url),
        notification_url=env.text("NOTIFICATION_URL", Settings.notification_url),
        inventory=_client_settings(env, "INVENTORY"),
        payment=_client_settings(env, "PAYMENT"),
        warehouse=_client_settings(env, "WAREHOUSE"),
        notification=_client_settings(env, "NOTIFICATION"),
        flow=env.choice("ORDER_FLOW", Settings.flow, choices=FLOWS),
        currency=env.text("CURRENCY", Settings.currency),
        stale_after_seconds=env.seconds("SWEEPER_STALE_AFTER_SECONDS", Settings.stale_after_seconds),
        sweep_every_seconds=env.seconds("SWEEP_EVERY_SECONDS", Settings.sweep_every_seconds, minimum=0.01),
        step_pause_seconds=env.seconds(
            "ORDER_SAGA_STEP_PAUSE_SECONDS", Settings.step_pause_seconds, maximum=60
        ),
    )
