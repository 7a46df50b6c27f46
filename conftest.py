"""Shared pytest plumbing: markers by folder, and throwaway PostgreSQL/RabbitMQ containers.

Integration tests never use servers that happen to run on the host: they start their
own `postgres:17` and `rabbitmq:4.0-management` containers (docker SDK), published on
free 127.0.0.1 ports, and remove them at the end of the session.
"""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).parent
TEST_LABEL = {"order-pipeline.tests": "integration"}


def pytest_collection_modifyitems(items):
    for item in items:
        path = Path(item.fspath).relative_to(ROOT).as_posix()
        if path.startswith("e2e_tests/chaos/"):
            item.add_marker(pytest.mark.chaos)
        elif path.startswith("e2e_tests/"):
            item.add_marker(pytest.mark.e2e)
        elif "/integration/" in path:
            item.add_marker(pytest.mark.integration)
        elif "/unit/" in path or path.startswith("contracts/"):
            item.add_marker(pytest.mark.unit)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(
    predicate: Callable[[], object], *, timeout: float, interval: float = 0.2, what: str = ""
) -> object:
    """Poll `predicate` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = predicate()
            if result:
                return result
        except Exception as error:  # noqa: BLE001 - keep polling until the deadline
            last_error = error
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}: {last_error!r}")


class ThrowawayContainer:
    def __init__(self, *, image: str, port: int, environment: dict[str, str]) -> None:
        import docker

        self.client = docker.from_env()
        self.network = self.client.networks.create(f"pipeline-it-{uuid.uuid4().hex[:8]}", labels=TEST_LABEL)
        self.host_port = free_port()  # fixed, so a restarted container keeps its address
        self.container = self.client.containers.run(
            image,
            detach=True,
            environment=environment,
            ports={f"{port}/tcp": ("127.0.0.1", self.host_port)},
            network=self.network.name,
            labels=TEST_LABEL,
        )

    def restart(self) -> None:
        self.container.restart(timeout=10)

    def remove(self) -> None:
        self.container.remove(force=True, v=True)
        self.network.remove()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A superuser URL (no database name) of a throwaway PostgreSQL 17."""
    import sqlalchemy as sa

    server = ThrowawayContainer(image="postgres:17", port=5432, environment={"POSTGRES_PASSWORD": "test"})
    url = f"postgresql+psycopg2://postgres:test@127.0.0.1:{server.host_port}"

    def accepts_queries() -> bool:
        engine = sa.create_engine(f"{url}/postgres", poolclass=sa.pool.NullPool)
        with engine.connect() as connection:
            return connection.execute(sa.text("SELECT 1")).scalar() == 1

    wait_until(accepts_queries, timeout=60, what="postgres to accept connections")
    yield url
    server.remove()


@pytest.fixture
def database_url(postgres_server) -> Callable[..., str]:
    """Creates an empty database per call; with `migrate=package`, applies that service's migrations."""
    import sqlalchemy as sa

    from messaging.database import upgrade_to_head
    from messaging.migrate import service_dir

    admin = sa.create_engine(
        f"{postgres_server}/postgres", isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool
    )

    def create(*, migrate: str | None = None) -> str:
        name = f"it_{uuid.uuid4().hex[:12]}"
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
        url = f"{postgres_server}/{name}"
        if migrate:
            upgrade_to_head(service_dir=service_dir(migrate), database_url=url)
        return url

    return create


class Broker:
    def __init__(self, container: ThrowawayContainer) -> None:
        self.container = container
        self.url = f"amqp://test:test@127.0.0.1:{container.host_port}/%2F"

    def is_up(self) -> bool:
        import pika

        connection = pika.BlockingConnection(pika.URLParameters(self.url + "?socket_timeout=2"))
        connection.close()
        return True

    def restart(self) -> None:
        self.container.restart()
        wait_until(self.is_up, timeout=90, interval=0.5, what="rabbitmq to come back")


@pytest.fixture(scope="session")
def rabbitmq_server() -> Iterator[Broker]:
    container = ThrowawayContainer(
        image="rabbitmq:4.0-management",
        port=5672,
        environment={"RABBITMQ_DEFAULT_USER": "test", "RABBITMQ_DEFAULT_PASS": "test"},
    )
    broker = Broker(container)
    wait_until(broker.is_up, timeout=90, interval=0.5, what="rabbitmq to accept connections")
    yield broker
    container.remove()
