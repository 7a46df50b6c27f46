"""One-shot set-up of RabbitMQ with the administrator: the topology and the dead-letter queues'
policy, then a user per service with the rights of messaging.permissions. compose runs it
(`broker-setup`) before any process that uses the broker starts; it is idempotent, so
running it again changes nothing.

Run: python -m messaging.broker_setup (BROKER_URL: the administrator's AMQP URL;
RABBITMQ_MANAGEMENT_URL; ORDER_BROKER_PASSWORD, WAREHOUSE_BROKER_PASSWORD,
NOTIFICATION_BROKER_PASSWORD, INVENTORY_BROKER_PASSWORD).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from urllib.parse import quote, unquote, urlsplit

import pika
import requests

from messaging.broker import connection_parameters
from messaging.logs import configure_logging
from messaging.permissions import BROKER_USERS, PASSWORD_VARIABLES
from messaging.settings import Env
from messaging.topology import DEAD_LETTER_POLICY, declare_with_pika

log = logging.getLogger("broker-setup")
VHOST = "/"
DEAD_LETTER_POLICY_NAME = "dead-letters-kept"
READY_TIMEOUT_SECONDS = 120.0  # the broker may still be booting when this starts


def set_up_broker(*, admin_url: str, management_url: str, passwords: Mapping[str, str]) -> None:
    """Declares every exchange and queue, then creates (or updates) each service's user with
    its password and permissions. `passwords`: service -> password."""
    connection = pika.BlockingConnection(connection_parameters(admin_url))
    try:
        declare_with_pika(connection.channel())
    finally:
        connection.close()
    api = _ManagementApi(management_url, admin_url)
    api.put(f"policies/{quote(VHOST, safe='')}/{DEAD_LETTER_POLICY_NAME}", DEAD_LETTER_POLICY)
    for service, user in BROKER_USERS.items():
        api.put(f"users/{quote(service)}", {"password": passwords[service], "tags": ""})
        api.put(f"permissions/{quote(VHOST, safe='')}/{quote(service)}", user.permissions())
        for exchange, keys in user.topic_permissions().items():
            api.put(
                f"topic-permissions/{quote(VHOST, safe='')}/{quote(service)}", {"exchange": exchange, **keys}
            )
        log.info("user %s: queues %s, publishes %s", service, ", ".join(user.queues), user.publishes)


class _ManagementApi:
    def __init__(self, base_url: str, admin_url: str) -> None:
        parts = urlsplit(admin_url)
        self.base_url = base_url.rstrip("/")
        self.auth = (unquote(parts.username or ""), unquote(parts.password or ""))

    def put(self, path: str, body: dict) -> None:
        response = requests.put(f"{self.base_url}/api/{path}", json=body, auth=self.auth, timeout=10)
        if response.status_code not in (201, 204):
            raise RuntimeError(f"PUT /api/{path}: {response.status_code} {response.text[:300]}")


def main() -> None:
    configure_logging()
    logging.getLogger("pika").setLevel(logging.WARNING)  # its connection chatter, at INFO
    env = Env()
    env.refuse_development_credentials_in_production()
    admin_url = env.text("BROKER_URL")
    management_url = env.text("RABBITMQ_MANAGEMENT_URL", "http://rabbitmq:15672")
    passwords = {service: env.text(variable) for service, variable in PASSWORD_VARIABLES.items()}
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while True:
        try:
            set_up_broker(admin_url=admin_url, management_url=management_url, passwords=passwords)
            break
        except (pika.exceptions.AMQPError, OSError, RuntimeError) as error:  # still booting
            if time.monotonic() > deadline:
                raise
            log.info("broker not ready (%r), again in 2 s", error)
            time.sleep(2)
    log.info("broker set up: %d users", len(BROKER_USERS))


if __name__ == "__main__":
    main()
