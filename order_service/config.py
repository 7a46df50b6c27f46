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


@dataclass(frozen=True, kw_only=True)
class WebSettings(ProcessSettings):
    """order-web (order_service/storefront.py): the storefront and the live order pages. It
    reads the order database (the catalog copy too), places and cancels orders through the
    order API (routes open to customers: no token), listens to `order.step` as the order
    service's broker user, and sends sign-in links over SMTP."""

    # ORDER_WEB_SECRET signs the session cookie and the sign-in links (no default: compose's
    # development value is refused with APP_ENV=production, messaging.settings).
    secret_key: str
    order_api_url: str = "http://order-api:8000"
    # Where customers reach the storefront: the sign-in link in the email starts with it (never
    # the request's Host header, which a caller chooses: a link to their host would hand them
    # the token).
    public_url: str = "http://127.0.0.1:8080"
    smtp_host: str = "maildev"
    smtp_port: int = 1025
    mail_from: str = "shop@order-pipeline.local"
    sign_in_max_age_seconds: float = 900.0
    connect_timeout: float = 1.0
    # POST /orders answers after the saga's synchronous part: a timed-out charge takes the
    # order API's own read timeout (3 s) and more before its 202.
    read_timeout: float = 15.0
    # WebSocket heartbeat: a ping this often keeps an idle socket open through proxies (nginx's
    # proxy_read_timeout is 60 s) and finds a peer that went away (no pong by the next ping).
    ping_seconds: float = 20.0
    # Steps queued for one socket before it counts as a reader that stopped reading and is
    # closed (order_service/live.py); an order has about ten steps.
    socket_queue_limit: int = 256


def web_settings_from_env(environ: Mapping[str, str] | None = None) -> WebSettings:
    env = Env(environ)
    return WebSettings(
        **env.process(),
        secret_key=env.text("ORDER_WEB_SECRET"),
        order_api_url=env.text("ORDER_API_URL", WebSettings.order_api_url),
        public_url=env.text("ORDER_WEB_PUBLIC_URL", WebSettings.public_url).rstrip("/"),
        smtp_host=env.text("SMTP_HOST", WebSettings.smtp_host),
        smtp_port=env.integer("SMTP_PORT", WebSettings.smtp_port, minimum=1, maximum=65_535),
        mail_from=env.text("MAIL_FROM", WebSettings.mail_from),
        sign_in_max_age_seconds=env.seconds(
            "SIGN_IN_MAX_AGE_SECONDS", WebSettings.sign_in_max_age_seconds, minimum=1
        ),
        connect_timeout=env.seconds("CONNECT_TIMEOUT_SECONDS", WebSettings.connect_timeout, maximum=600),
        read_timeout=env.seconds("ORDER_WEB_READ_TIMEOUT_SECONDS", WebSettings.read_timeout, maximum=600),
        ping_seconds=env.seconds("WS_PING_SECONDS", WebSettings.ping_seconds, minimum=0.1, maximum=3_600),
        socket_queue_limit=env.integer(
            "WS_QUEUE_LIMIT", WebSettings.socket_queue_limit, minimum=1, maximum=100_000
        ),
    )
