"""How the tests reach the running compose stack: URLs, containers, polling."""

from __future__ import annotations

import functools
import os
import re
import subprocess
import uuid
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

from testsupport.polling import wait_until

ROOT = Path(__file__).resolve().parent.parent
SERVICES_WITHOUT_PORTS = (
    "inventory-expirer",
    "inventory-relay",
    "order-relay",
    "order-journal",
    "order-catalog",
    "order-worker",
    "warehouse-worker",
    "warehouse-relay",
    "notification-worker",
    "notification-relay",
)

# Every process one order goes through, from POST /orders to its last email's step.
ORDER_PROCESSES = (
    "order-api",
    "inventory-api",
    "payment-api",
    "order-relay",
    "warehouse-worker",
    "warehouse-relay",
    "order-worker",
    "notification-worker",
    "notification-relay",
)


def _url(variable: str, port: int) -> str:
    return f"http://127.0.0.1:{os.environ.get(variable, port)}"


@dataclass(frozen=True)
class Urls:
    order: str = _url("ORDER_API_PORT", 8001)
    inventory: str = _url("INVENTORY_API_PORT", 8002)
    payment: str = _url("PAYMENT_API_PORT", 8003)
    warehouse: str = _url("WAREHOUSE_API_PORT", 8004)
    notification: str = _url("NOTIFICATION_API_PORT", 8005)
    maildev: str = _url("MAILDEV_UI_HOST_PORT", 1080)
    prometheus: str = _url("PROMETHEUS_HOST_PORT", 9090)
    web: str = _url("ORDER_WEB_PORT", 8080)  # the storefront (order-web)


URLS = Urls()
TIMEOUT = 10

MANAGEMENT_URL = _url("RABBITMQ_UI_HOST_PORT", 15673) + "/api"


@functools.cache
def credential(variable: str) -> str:
    """A token (ADMIN_TOKEN, ORDER_SERVICE_TOKEN) as compose gave it to the stack: the
    environment's, else a `.env` file's, else compose.yaml's `${VAR:-default}`, read from there
    so that the tests and the stack cannot disagree."""
    value = os.environ.get(variable, "").strip()
    dotenv = ROOT / ".env"
    if not value and dotenv.exists():
        found = re.search(rf"^{variable}=(.*)$", dotenv.read_text(), re.MULTILINE)
        value = found.group(1).strip().strip("'\"") if found else ""
    if not value:
        found = re.search(rf"\$\{{{variable}:-([^}}]+)\}}", (ROOT / "compose.yaml").read_text())
        if not found:
            raise RuntimeError(f"{variable}: not in the environment and no default in compose.yaml")
        value = found.group(1)
    return value


def admin_headers() -> dict[str, str]:
    """The operator's credential: PUT /products and the lists of every order, payment, ..."""
    return {"Authorization": f"Bearer {credential('ADMIN_TOKEN')}"}


def containers(service: str) -> list:
    """The stack's containers for one compose service (Compose v1 and v2 both set these labels)."""
    import docker

    client = docker.from_env()
    found = client.containers.list(all=True, filters={"label": f"com.docker.compose.service={service}"})
    project = os.environ.get("COMPOSE_PROJECT_NAME")
    if project:
        return [c for c in found if c.labels.get("com.docker.compose.project") == project]
    return [c for c in found if c.labels.get("com.docker.compose.project.working_dir") == str(ROOT)] or found


def container_env(service: str, variable: str, default: str | None = None) -> str:
    """A variable of a running service's environment, as compose gave it to the container."""
    env = containers(service)[0].attrs["Config"]["Env"]
    found = next((v.split("=", 1)[1] for v in env if v.startswith(f"{variable}=")), default)
    if found is None:
        raise LookupError(f"{service} has no {variable}")
    return found


# Read-only views of the stack's data, for checks the HTTP APIs cannot answer in bulk. The
# passwords are the ones the stack was started with (compose.yaml's development defaults,
# or the environment's): the tests hold none of their own.
@cache
def postgres_url() -> str:
    password = quote(container_env("postgres", "POSTGRES_PASSWORD"), safe="")
    return (
        f"postgresql+psycopg2://postgres:{password}@127.0.0.1:{os.environ.get('POSTGRES_HOST_PORT', 55432)}"
    )


@cache
def amqp_url() -> str:
    user, password = (
        quote(container_env("rabbitmq", f"RABBITMQ_DEFAULT_{k}"), safe="") for k in ("USER", "PASS")
    )
    return f"amqp://{user}:{password}@127.0.0.1:{os.environ.get('RABBITMQ_HOST_PORT', 5673)}/%2F"


def database_url(database: str) -> str:
    """A superuser URL of one service's database (e.g. "order_service"); use it read-only."""
    return f"{postgres_url()}/{database}"


def queue_state(names: tuple[str, ...] | list[str]) -> dict[str, tuple[int, int]]:
    """{queue: (ready messages, consumers)}, exact (passive declares over AMQP, no stats lag)."""
    import pika

    parameters = pika.URLParameters(amqp_url())
    parameters.socket_timeout = parameters.blocked_connection_timeout = 5
    parameters.connection_attempts = 1
    connection = pika.BlockingConnection(parameters)
    try:
        state = {}
        for name in names:
            declared = connection.channel().queue_declare(name, passive=True)
            state[name] = (declared.method.message_count, declared.method.consumer_count)
        return state
    finally:
        connection.close()


def is_healthy(service: str) -> bool:
    found = containers(service)
    return bool(found) and all(
        c.reload() or c.attrs["State"].get("Health", {}).get("Status") == "healthy" for c in found
    )


def current_flow() -> str:
    """The order service's ORDER_FLOW (hybrid unless the container was created with sync)."""
    return container_env("order-api", "ORDER_FLOW", "hybrid")


def set_flow(flow: str, timeout: float = 180) -> None:
    """Recreates the order API and worker with ORDER_FLOW=flow (compose sees the changed env)."""
    services = ("order-api", "order-worker")
    result = subprocess.run(
        ["docker", "compose", "up", "-d", "--no-deps", *services],
        cwd=ROOT,
        env=os.environ | {"ORDER_FLOW": flow},
        capture_output=True,
        text=True,
        timeout=300,
    )
    if result.returncode != 0:
        raise RuntimeError(f"compose up ORDER_FLOW={flow}: {result.stderr[-2000:]}")
    for service in services:
        wait_until(lambda service=service: is_healthy(service), timeout=timeout, what=f"{service} healthy")


def wait_for_stack(timeout: float = 240) -> None:
    for url in (URLS.order, URLS.inventory, URLS.payment, URLS.warehouse, URLS.notification, URLS.web):
        wait_until(
            lambda url=url: requests.get(f"{url}/readyz", timeout=2).ok, timeout=timeout, what=f"{url}/readyz"
        )
    for service in SERVICES_WITHOUT_PORTS:
        wait_until(lambda service=service: is_healthy(service), timeout=timeout, what=f"{service} healthy")


def new_sku(*, available: int, price_cents: int = 1500) -> str:
    sku = f"E2E-{uuid.uuid4().hex[:10]}"
    response = requests.put(
        f"{URLS.inventory}/products/{sku}",
        json={"name": f"Test item {sku}", "price_cents": price_cents, "available": available},
        headers=admin_headers(),
        timeout=TIMEOUT,
    )
    assert response.status_code == 201, response.text
    return sku


def in_catalog_copy(sku: str, *, timeout: float = 30) -> None:
    """Waits until the order service's copy of the catalog has the product (the inventory's
    product event, copied by the order service): the storefront shows only what the copy has."""
    wait_until(
        lambda: requests.get(f"{URLS.order}/catalog/{sku}", timeout=TIMEOUT).status_code == 200,
        timeout=timeout,
        what=f"{sku} in the order service's catalog copy",
    )


def new_customer() -> tuple[str, str]:
    customer = f"cust-{uuid.uuid4().hex[:10]}"
    return customer, f"{customer}@example.test"


def post_order(body: dict[str, Any], *, key: str | None = None) -> requests.Response:
    return requests.post(
        f"{URLS.order}/orders", json=body, headers={"Idempotency-Key": key or str(uuid.uuid4())}, timeout=30
    )


def order_body(*, sku: str, quantity: int = 1, token: str = "tok_visa") -> dict[str, Any]:
    customer, email = new_customer()
    return {
        "customer_id": customer,
        "email": email,
        "items": [{"sku": sku, "quantity": quantity}],
        "payment_token": token,
    }


def get_json(url: str, *, headers: dict[str, str] | None = None) -> Any:
    response = requests.get(url, headers=headers, timeout=TIMEOUT)
    response.raise_for_status()
    return response.json()


def product(sku: str) -> dict[str, Any]:
    return get_json(f"{URLS.inventory}/products/{sku}")


def order(order_id: str) -> dict[str, Any]:
    return get_json(f"{URLS.order}/orders/{order_id}")


def payments(order_id: str) -> list[dict[str, Any]]:
    return get_json(f"{URLS.payment}/payments?order_id={order_id}")


def shipments(order_id: str) -> list[dict[str, Any]]:
    return get_json(f"{URLS.warehouse}/shipments?order_id={order_id}")


def notifications(order_id: str) -> list[dict[str, Any]]:
    return get_json(f"{URLS.notification}/notifications?order_id={order_id}")


def emails_to(address: str) -> list[dict[str, Any]]:
    return [
        mail for mail in get_json(f"{URLS.maildev}/email") if any(t["address"] == address for t in mail["to"])
    ]


def order_steps(order_id: str) -> list[tuple[int, str, str]]:
    """The order's timeline as the order service numbered it: (seq, kind, status), oldest first."""
    import sqlalchemy as sa

    engine = sa.create_engine(database_url("order_service"), poolclass=sa.pool.NullPool)
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text("SELECT seq, kind, status FROM order_steps WHERE order_id = :id ORDER BY seq"),
            {"id": order_id},
        )
        return [(row.seq, row.kind, row.status) for row in rows]


def sent_kinds(order_id: str) -> list[str]:
    return sorted(n["kind"] for n in notifications(order_id) if n["status"] == "SENT")


def catalog_command(*args: str) -> subprocess.CompletedProcess:
    """`python -m order_service.catalog_follower ARGS` (rebuild, reconcile) in order-catalog."""
    return subprocess.run(
        ["docker", "compose", "exec", "-T", "order-catalog", "python", "-m", "order_service.catalog_follower"]
        + list(args),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
