"""Throwaway PostgreSQL/RabbitMQ/MailDev containers (docker SDK) on free 127.0.0.1 ports, for tests.

Every container and network carries `TEST_LABEL`, so leftovers of an interrupted run can be
found and removed by label without touching anything else on the host.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from messaging.permissions import BROKER_USERS
from testsupport.polling import wait_until

TEST_LABEL = {"order-pipeline.tests": "integration"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class ThrowawayContainer:
    """`port` is published at `host_port`; `more_ports` (MailDev's second one) at `host_ports[port]`."""

    def __init__(
        self, *, image: str, port: int, environment: dict[str, str], more_ports: tuple[int, ...] = ()
    ) -> None:
        import docker

        # Not the SDK's 60 s: a busy engine (builds, a stack starting) took longer than that
        # to remove a container at the end of a CI run.
        self.client = docker.from_env(timeout=300)
        self.network = self.client.networks.create(f"pipeline-it-{uuid.uuid4().hex[:8]}", labels=TEST_LABEL)
        # Fixed, so a restarted container keeps its address.
        self.host_ports = {each: free_port() for each in (port, *more_ports)}
        self.host_port = self.host_ports[port]
        self.container = self.client.containers.run(
            image,
            detach=True,
            environment=environment,
            ports={f"{each}/tcp": ("127.0.0.1", host) for each, host in self.host_ports.items()},
            network=self.network.name,
            labels=TEST_LABEL,
        )

    def restart(self) -> None:
        self.container.restart(timeout=10)

    @contextmanager
    def stopped(self) -> Iterator[None]:
        """Stopped for the block (same container, so its data and port survive)."""
        self.container.stop(timeout=10)
        try:
            yield
        finally:
            self.container.start()

    def remove(self) -> None:
        self.container.remove(force=True, v=True)
        self.network.remove()


class Broker:
    """A throwaway RabbitMQ with its administrator's AMQP URL (`url`), set up as compose's
    broker-setup does (topology and a user per service: `user_url(service)`); `restart` and
    `down` return once it accepts connections again."""

    MANAGEMENT_PORT = 15672
    PASSWORDS = {service: f"test-{service}" for service in BROKER_USERS}

    def __init__(self, container: ThrowawayContainer) -> None:
        self.container = container
        self.url = f"amqp://test:test@127.0.0.1:{container.host_port}/%2F"
        self.management_url = f"http://127.0.0.1:{container.host_ports[self.MANAGEMENT_PORT]}"

    def user_url(self, service: str) -> str:
        return f"amqp://{service}:{self.PASSWORDS[service]}@127.0.0.1:{self.container.host_port}/%2F"

    def set_up(self) -> None:
        from messaging.broker_setup import set_up_broker

        set_up_broker(admin_url=self.url, management_url=self.management_url, passwords=self.PASSWORDS)

    def is_up(self) -> bool:
        import pika

        connection = pika.BlockingConnection(pika.URLParameters(self.url + "?socket_timeout=2"))
        connection.close()
        return True

    def restart(self) -> None:
        self.container.restart()
        wait_until(self.is_up, timeout=90, interval=0.5, what="rabbitmq to come back")

    @contextmanager
    def down(self) -> Iterator[None]:
        """Unreachable for the block, then back."""
        with self.container.stopped():
            yield
        wait_until(self.is_up, timeout=90, interval=0.5, what="rabbitmq to come back")
