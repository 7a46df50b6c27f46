"""Shared pytest hooks and fixtures: markers by folder, and throwaway PostgreSQL/RabbitMQ servers.

Integration tests never use servers that happen to run on the host: they start their
own `postgres:17` and `rabbitmq:4.0-management` containers (docker SDK, see
`testsupport.containers`), published on free 127.0.0.1 ports, and remove them at the end
of the session. Helpers that tests import live in `testsupport`, never here.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from testsupport.containers import Broker, ThrowawayContainer
from testsupport.polling import wait_until
from testsupport.tracing import RECORDER, SpanRecorder, install_test_provider

ROOT = Path(__file__).parent


FUZZ_LINES = pytest.StashKey[list[str]]()


def pytest_configure(config):
    install_test_provider()  # before any code under test configures its own (testsupport/tracing.py)


@pytest.fixture
def spans() -> Iterator[SpanRecorder]:
    """The spans finished during the test (every span is recorded in tests)."""
    RECORDER.finished.clear()
    RECORDER.recording = True
    yield RECORDER
    RECORDER.recording = False
    RECORDER.finished.clear()


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


@pytest.fixture
def fuzz_summary(request) -> Callable[[str], None]:
    """Records a line for the end of the run: a fuzz test's counts are shown with or without -s."""
    return request.config.stash.setdefault(FUZZ_LINES, []).append


def pytest_terminal_summary(terminalreporter, config):
    if lines := config.stash.get(FUZZ_LINES, []):
        terminalreporter.section("fuzz (requests generated from each OpenAPI document)")
        for line in lines:
            terminalreporter.write_line(line)


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


@pytest.fixture(scope="session")
def rabbitmq_server() -> Iterator[Broker]:
    container = ThrowawayContainer(
        image="rabbitmq:4.0-management",
        port=5672,
        more_ports=(Broker.MANAGEMENT_PORT,),
        environment={"RABBITMQ_DEFAULT_USER": "test", "RABBITMQ_DEFAULT_PASS": "test"},
    )
    broker = Broker(container)
    wait_until(broker.is_up, timeout=90, interval=0.5, what="rabbitmq to accept connections")
    # The management API answers a little after AMQP does: set_up retries until it is in.
    wait_until(lambda: broker.set_up() is None, timeout=60, interval=1, what="rabbitmq set up")
    yield broker
    container.remove()
