"""Settings from the environment: typed, checked once at start, with errors that name the variable.

Each service's `config.py` declares a frozen `Settings` dataclass that extends
`ProcessSettings` and fills it from an `Env` in its `settings_from_env`. Only the
composition roots call that (an API's `create_app`, a worker's app, a daemon's `main`), so
a process with a bad variable stops at once with a line that says which one.

No credential has a default here: the development ones are compose.yaml's, and a process
started with APP_ENV=production refuses them (DEVELOPMENT_CREDENTIALS).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import unquote, urlsplit


class ConfigurationError(RuntimeError):
    """A required setting is missing or malformed: the process cannot start."""


class Role(StrEnum):
    """What a process does, which decides how many database connections it keeps."""

    API = "api"  # gunicorn threads, each may hold a connection
    WORKER = "worker"  # a Celery process: the consumer step or one task at a time
    DAEMON = "daemon"  # a single loop (relay, expirer)
    WEB = "web"  # one gevent worker (order-web): many greenlets, each query short


def pool_size(role: Role, *, web_threads: int) -> int:
    """An API keeps at least a connection per thread (else the overflow connections are opened
    and closed on every request: a Postgres fork and a SCRAM handshake each, profiled at ~15 %
    of Postgres' CPU under load); a worker process or a daemon uses one at a time."""
    # A gevent process (order-web) holds a thousand WebSockets on one thread; each reads the
    # database once on connect and again only to fill a gap, so a few connections serve them
    # all (waiting greenlets queue on the pool, which gevent makes cooperative).
    return {Role.API: web_threads + 2, Role.WORKER: 2, Role.DAEMON: 1, Role.WEB: 8}[role]


INTEGER = re.compile(r"-?[0-9]+")  # not str.isdigit(), which takes "²"
APP_ENVIRONMENTS = ("development", "production")

# (variable, development value): what compose.yaml's `${VAR:-default}` gives the stack (the
# only place those defaults are written), and the servers' own well-known defaults. A process
# with APP_ENV=production refuses to start while a variable holds one: for a URL its password
# is compared, for anything else (a token) the whole value. A new credential: one more pair.
DEVELOPMENT_CREDENTIALS: tuple[tuple[str, str], ...] = (
    ("BROKER_URL", "pipeline"),  # compose: RABBITMQ_PASSWORD (the administrator)
    ("BROKER_URL", "dev-order"),  # compose: ORDER_BROKER_PASSWORD (messaging.permissions)
    ("BROKER_URL", "dev-warehouse"),  # compose: WAREHOUSE_BROKER_PASSWORD
    ("BROKER_URL", "dev-notification"),  # compose: NOTIFICATION_BROKER_PASSWORD
    ("BROKER_URL", "dev-inventory"),  # compose: INVENTORY_BROKER_PASSWORD
    ("ORDER_BROKER_PASSWORD", "dev-order"),  # given to broker-setup, which makes the users
    ("WAREHOUSE_BROKER_PASSWORD", "dev-warehouse"),
    ("NOTIFICATION_BROKER_PASSWORD", "dev-notification"),
    ("INVENTORY_BROKER_PASSWORD", "dev-inventory"),
    ("BROKER_URL", "guest"),  # RabbitMQ's own default account
    ("DATABASE_URL", "postgres"),  # compose: POSTGRES_PASSWORD (the superuser)
    ("DATABASE_URL", "order_service"),  # compose: ORDER_DB_PASSWORD
    ("DATABASE_URL", "inventory_service"),  # compose: INVENTORY_DB_PASSWORD
    ("DATABASE_URL", "payment_service"),  # compose: PAYMENT_DB_PASSWORD
    ("DATABASE_URL", "warehouse_service"),  # compose: WAREHOUSE_DB_PASSWORD
    ("DATABASE_URL", "notification_service"),  # compose: NOTIFICATION_DB_PASSWORD
    ("ADMIN_TOKEN", "dev-admin-token"),  # messaging.credentials
    ("ORDER_SERVICE_TOKEN", "dev-order-service-token"),
    ("ORDER_WEB_SECRET", "dev-order-web-secret"),  # signs order-web's cookies and sign-in links
)


def secret_of(value: str) -> str | None:
    """What a credential variable keeps secret: a URL's password (None if it has none), or
    the whole value (a token)."""
    if "://" not in value:
        return value
    try:
        password = urlsplit(value).password
    except ValueError:  # not a URL after all: compare it whole
        return value
    return None if password is None else unquote(password)


def refuse_development_credentials(environ: Mapping[str, str]) -> None:
    """For APP_ENV=production: the first variable still holding a development credential stops
    the process, named (never its value: it would land in the logs)."""
    for name, development in DEVELOPMENT_CREDENTIALS:
        value = environ.get(name, "").strip()
        if value and secret_of(value) == development:
            raise ConfigurationError(f"APP_ENV=production but {name} still holds its development value")


@dataclass(frozen=True, kw_only=True)
class ProcessSettings:
    """What every process of every service is given."""

    database_url: str
    # Unset in a process that does not use the broker: most APIs; the warehouse's and the
    # notification's use it for GET and POST /dead-letters only (messaging.dead_letter_api).
    broker_url: str = ""
    liveness_file: str = "/tmp/alive"  # touched while a process without a port makes progress
    web_threads: int = 16  # gunicorn's threads per API process (infra/gunicorn.conf.py)
    # GET :metrics_port/metrics for a process without an HTTP server (workers, relays, the
    # expirer; an API serves /metrics on its own port). 0: none.
    metrics_port: int = 0

    def pool_size(self, role: Role) -> int:
        return pool_size(role, web_threads=self.web_threads)

    def required_broker_url(self) -> str:
        """For the processes that use the broker (workers, relays): it has no default, since
        any default would carry a password."""
        if not self.broker_url:
            raise ConfigurationError("BROKER_URL is required")
        return self.broker_url


class Env:
    """Reads and checks environment variables; every method raises ConfigurationError naming
    the variable. An empty or blank value counts as unset."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self.environ = os.environ if environ is None else environ

    def _raw(self, name: str) -> str | None:
        value = self.environ.get(name, "").strip()
        return value or None

    def text(self, name: str, default: str | None = None) -> str:
        """Required when there is no default."""
        value = self._raw(name) or default
        if value is None:
            raise ConfigurationError(f"{name} is required")
        return value

    def number(self, name: str, default: float, *, minimum: float, maximum: float) -> float:
        raw = self._raw(name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            value = float("nan")
        if not minimum <= value <= maximum:  # NaN fails this too
            raise ConfigurationError(f"{name} must be a number from {minimum:g} to {maximum:g}, not {raw!r}")
        return value

    def seconds(self, name: str, default: float, *, minimum: float = 0.0, maximum: float = 86_400.0) -> float:
        return self.number(name, default, minimum=minimum, maximum=maximum)

    def integer(self, name: str, default: int, *, minimum: int, maximum: int) -> int:
        raw = self._raw(name)
        if raw is None:
            return default
        if not INTEGER.fullmatch(raw) or not minimum <= int(raw) <= maximum:
            raise ConfigurationError(f"{name} must be an integer from {minimum} to {maximum}, not {raw!r}")
        return int(raw)

    def choice(self, name: str, default: str, *, choices: tuple[str, ...]) -> str:
        value = self._raw(name) or default
        if value not in choices:
            raise ConfigurationError(f"{name} must be one of {', '.join(choices)}, not {value!r}")
        return value

    def refuse_development_credentials_in_production(self) -> None:
        if self.choice("APP_ENV", "development", choices=APP_ENVIRONMENTS) == "production":
            refuse_development_credentials(self.environ)

    def process(self) -> dict[str, Any]:
        """The ProcessSettings fields, as keyword arguments for a service's Settings. Every
        process's settings come through here, so this is where production refuses the
        development credentials."""
        self.refuse_development_credentials_in_production()
        return {
            "database_url": self.text("DATABASE_URL"),
            "broker_url": self.text("BROKER_URL", ""),
            "liveness_file": self.text("LIVENESS_FILE", ProcessSettings.liveness_file),
            "web_threads": self.integer("WEB_THREADS", ProcessSettings.web_threads, minimum=1, maximum=256),
            "metrics_port": self.integer("METRICS_PORT", 0, minimum=0, maximum=65_535),
        }
