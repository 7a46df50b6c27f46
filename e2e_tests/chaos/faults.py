"""Fault injection on the running compose stack (docker SDK), and waiting for recovery.

Every wait polls with a deadline. Containers are found by their compose labels
(`e2e_tests.stack.containers`), never by name.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime

import pika
import requests
import sqlalchemy as sa

from e2e_tests.stack import (
    ROOT,
    URLS,
    amqp_url,
    containers,
    database_url,
    is_healthy,
    queue_state,
    wait_for_stack,
)
from messaging import topology
from testsupport.polling import wait_until

KNOWN_SERVICES = (
    "postgres",
    "rabbitmq",
    "maildev",
    "inventory-api",
    "payment-api",
    "warehouse-api",
    "notification-api",
    "order-api",
    "order-relay",
    "order-journal",
    "order-catalog",
    "order-worker",
    "warehouse-worker",
    "warehouse-relay",
    "notification-worker",
    "notification-relay",
    "inventory-relay",
)
API_URLS = {
    "order-api": URLS.order,
    "inventory-api": URLS.inventory,
    "payment-api": URLS.payment,
    "warehouse-api": URLS.warehouse,
    "notification-api": URLS.notification,
}
# What each Celery worker consumes: it is back when every one of its queues has a consumer.
WORKER_QUEUES = {
    "warehouse-worker": ("warehouse.orders", "warehouse.tasks"),
    "notification-worker": ("notification.events", "notification.tasks"),
    "order-worker": ("order.shipments", "order.notifications", "order.tasks"),
}
EVENT_QUEUES = tuple(topology.EVENT_QUEUES)
RECOVERY_SECONDS = 120


def the_container(service: str):
    found = containers(service)
    assert len(found) == 1, f"expected one container for {service}, found {[c.name for c in found]}"
    return found[0]


def kill(service: str) -> None:
    """SIGKILL: no shutdown code runs. Docker does not restart a killed container by itself."""
    the_container(service).kill()


def stop(service: str, *, timeout: int = 20) -> None:
    """Graceful: SIGTERM, then SIGKILL after `timeout` seconds."""
    the_container(service).stop(timeout=timeout)


def start(service: str) -> None:
    the_container(service).start()


def is_running(service: str) -> bool:
    container = the_container(service)
    container.reload()
    return container.status == "running"


def wait_running(service: str, *, running: bool = True, timeout: float = 60) -> None:
    wait_until(
        lambda: is_running(service) == running,
        timeout=timeout,
        interval=0.2,
        what=f"{service} {'running' if running else 'stopped'}",
    )


def consuming(queues: Iterable[str]) -> bool:
    return all(consumers > 0 for _ready, consumers in queue_state(tuple(queues)).values())


def wait_ready(service: str, *, timeout: float = RECOVERY_SECONDS) -> float:
    """Polls until `service` does its job again; returns how long that took."""
    began = time.monotonic()
    wait_running(service, timeout=timeout)
    if service in API_URLS:
        url = f"{API_URLS[service]}/readyz"
        wait_until(lambda: requests.get(url, timeout=2).ok, timeout=timeout, what=f"{url} ready")
    elif service in WORKER_QUEUES:
        queues = WORKER_QUEUES[service]
        wait_until(
            lambda: consuming(queues), timeout=timeout, interval=0.5, what=f"{service} consuming {queues}"
        )
    elif service == "rabbitmq":
        wait_until(
            lambda: queue_state(EVENT_QUEUES), timeout=timeout, interval=0.5, what="rabbitmq accepts AMQP"
        )
    elif service in ("order-relay", "warehouse-relay", "notification-relay", "inventory-relay"):
        pass  # running is all there is to see (its liveness file may still be old)
    elif service == "postgres":
        wait_until(postgres_answers, timeout=timeout, interval=0.3, what="postgres answers")
    else:
        wait_until(lambda: is_healthy(service), timeout=timeout, interval=0.5, what=f"{service} healthy")
    return time.monotonic() - began


def postgres_answers() -> bool:
    engine = sa.create_engine(database_url("order_service"), poolclass=sa.pool.NullPool)
    with engine.connect() as connection:
        return connection.execute(sa.text("SELECT 1")).scalar() == 1


def graceful_rabbitmq_stop() -> None:
    """A graceful broker stop. `docker stop` is not one with the offline stand-in image: its
    PID 1 is a shell that ignores SIGTERM, so docker SIGKILLs it after the timeout. Stop the
    RabbitMQ application first (clients get a connection.close, queues are flushed), then the
    container (what is left, the idle Erlang VM, is killed)."""
    container = the_container("rabbitmq")
    result = container.exec_run(["rabbitmqctl", "stop_app"])
    assert result.exit_code == 0, f"rabbitmqctl stop_app: {result.exit_code} {result.output[-300:]!r}"
    container.kill()


def wait_all_consuming(*, timeout: float = RECOVERY_SECONDS) -> float:
    began = time.monotonic()
    queues = tuple(q for worker in WORKER_QUEUES.values() for q in worker)
    wait_until(lambda: consuming(queues), timeout=timeout, interval=0.5, what=f"consumers on {queues}")
    return time.monotonic() - began


# --- re-creating a container with a test-only environment variable -------------------------


def container_env(service: str) -> dict[str, str]:
    container = the_container(service)
    container.reload()
    return dict(item.split("=", 1) for item in container.attrs["Config"]["Env"])


def recreate_with_env(
    service: str, env: dict[str, str], *, timeout: float = 180, stop_timeout: int = 3
) -> None:
    """`docker compose up -d --no-deps SERVICE` with `env` in compose's environment: the
    variables compose.yaml passes through (`${VAR:-default}`) reach the new container (a
    no-op when the configuration does not change). The old container gets `stop_timeout`
    seconds to stop (the relays ignore SIGTERM: PID 1 without a handler)."""
    result = subprocess.run(
        ["docker", "compose", "up", "-d", "--no-deps", "--timeout", str(stop_timeout), service],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, f"compose up {service}: {result.returncode}\n{result.stderr[-2000:]}"
    wait_until(lambda: len(containers(service)) == 1, timeout=60, what=f"one {service} container")
    wait_ready(service, timeout=timeout)


# --- keeping the stack whole between tests ---------------------------------------------------


def stack_services() -> list[str]:
    """Every compose service of the stack that has a container (the stack grows: ask docker)."""
    import docker

    found = docker.from_env().containers.list(
        all=True, filters={"label": f"com.docker.compose.project.working_dir={ROOT}"}
    )
    names = {c.labels.get("com.docker.compose.service") for c in found} - {None}
    return sorted(names) or list(KNOWN_SERVICES)


def heal_stack(*, timeout: float = 240) -> list[str]:
    """Starts any stack container left stopped (a failed test's leftovers); waits for the stack."""
    started = []
    for service in stack_services():
        for container in containers(service):
            container.reload()
            if container.status != "running":
                container.start()
                started.append(service)
    wait_for_stack(timeout=timeout)
    wait_all_consuming(timeout=timeout)
    return started


def start_marks() -> dict[str, tuple[str, str, int]]:
    """Per service: (container id, StartedAt, RestartCount): changes when it was (re)started."""
    marks = {}
    for service in stack_services():
        for container in containers(service):
            container.reload()
            state = container.attrs["State"]
            marks[service] = (
                container.id,
                state.get("StartedAt", ""),
                container.attrs.get("RestartCount", 0),
            )
    return marks


def logs_mentioning(
    services: Iterable[str], needles: Iterable[str], *, since: datetime, limit: int = 40
) -> list[str]:
    """Log lines of `services` since `since` that mention any of `needles` (evidence for a report)."""
    needles = [n for n in needles if n]
    lines: list[str] = []
    for service in services:
        for container in containers(service):
            try:
                text = container.logs(since=since.astimezone(UTC), timestamps=False).decode(errors="replace")
            except Exception as error:  # noqa: BLE001 - evidence is best effort
                lines.append(f"{service}: could not read logs: {error!r}")
                continue
            for line in text.splitlines():
                if any(needle in line for needle in needles):
                    lines.append(f"{service}: {line[:400]}")
                    if len(lines) >= limit:
                        return lines
    return lines


def log_lines(
    service: str,
    *,
    since: datetime,
    until: datetime,
    markers: Iterable[str] = ("WARNING", "ERROR"),
    limit: int = 12,
) -> list[str]:
    """Log lines of `service` between two moments that contain any of `markers`."""
    lines = []
    for container in containers(service):
        try:
            text = container.logs(since=since.astimezone(UTC), until=until.astimezone(UTC)).decode(
                errors="replace"
            )
        except Exception as error:  # noqa: BLE001 - evidence is best effort
            return [f"{service}: could not read logs: {error!r}"]
        for line in text.splitlines():
            if any(marker in line for marker in markers):
                lines.append(f"{service}: {line[:300]}")
    return lines[:limit]


def error_lines(services: Iterable[str], *, since: datetime, limit: int = 30) -> list[str]:
    """Tracebacks and errors logged by `services` since `since` (evidence for a report)."""
    markers = ("Traceback", "ERROR", "CRITICAL", "Error:", "Exception")
    return logs_mentioning(services, markers, since=since, limit=limit)


# --- messages straight into the broker (fault 8) --------------------------------------------


def _amqp() -> pika.BlockingConnection:
    parameters = pika.URLParameters(amqp_url())
    parameters.socket_timeout = parameters.blocked_connection_timeout = 10
    parameters.connection_attempts = 1
    return pika.BlockingConnection(parameters)


def publish(messages: Iterable[tuple[str, bytes, dict]], *, exchange: str = "events") -> int:
    """Publishes (routing key, body, AMQP properties) into `exchange`: persistent, mandatory,
    confirmed (raises unless the broker routed and took every one). Returns how many."""
    connection = _amqp()
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        count = 0
        for routing_key, body, properties in messages:
            channel.basic_publish(
                exchange=exchange,
                routing_key=routing_key,
                body=body,
                properties=pika.BasicProperties(delivery_mode=2, **properties),
                mandatory=True,
            )
            count += 1
        return count
    finally:
        connection.close()


def take_dead_letters(queue: str, message_ids: set[str]) -> set[str]:
    """Removes the messages with these AMQP message ids from a dead-letter queue (they are the
    test's own) and returns the ids found. Any other message is left there: it is got without
    an ack and goes back to the queue when the channel closes."""
    connection = _amqp()
    found: set[str] = set()
    try:
        channel = connection.channel()
        depth = channel.queue_declare(queue, passive=True).method.message_count
        for _ in range(depth):
            method, properties, _body = channel.basic_get(queue, auto_ack=False)
            if method is None:
                break
            if properties.message_id in message_ids:
                channel.basic_ack(method.delivery_tag)
                found.add(properties.message_id)
        channel.close()
    finally:
        connection.close()
    return found


class EventSpy:
    """Counts deliveries per message id of the events matching `routing_keys`, through an
    exclusive queue of its own bound to the `events` exchange (it goes away with the spy).
    Runs in a thread with its own connection (pika is not thread-safe)."""

    def __init__(self, *, name: str, routing_keys: tuple[str, ...], max_seconds: float = 600) -> None:
        self.name = name
        self.routing_keys = routing_keys
        self.max_seconds = max_seconds
        self.seen: dict[str, int] = {}
        self.error: BaseException | None = None
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"spy-{name}", daemon=True)

    def __enter__(self) -> EventSpy:
        self._thread.start()
        assert self._ready.wait(30), f"event spy did not start: {self.error!r}"
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        began = time.monotonic()
        try:
            connection = _amqp()
            channel = connection.channel()
            channel.queue_declare(self.name, exclusive=True, auto_delete=True)
            for key in self.routing_keys:
                channel.queue_bind(self.name, "events", key)

            def on_message(_channel, _method, properties, _body):
                message_id = properties.message_id or "?"
                self.seen[message_id] = self.seen.get(message_id, 0) + 1

            channel.basic_consume(self.name, on_message, auto_ack=True)
            self._ready.set()
            while not self._stop.is_set() and time.monotonic() - began < self.max_seconds:
                connection.process_data_events(time_limit=0.2)
            connection.close()
        except BaseException as error:  # noqa: BLE001 - reported by the test through .error
            self.error = error
            self._ready.set()


def published_not_marked(run, spy, baseline: dict[str, int], *, database: str) -> list[str]:
    """Event ids the broker routed (the spy saw them) since `baseline` whose row in
    `database`'s outbox is still unsent: a relay killed now dies between publish and mark."""
    seen = [event_id for event_id, count in list(spy.seen.items()) if count > baseline.get(event_id, 0)]
    if not seen:
        return []
    rows = run.stores.rows(
        database, "SELECT event_id FROM outbox WHERE sent_at IS NULL AND event_id = ANY(:ids)", ids=seen
    )
    return [row["event_id"] for row in rows]


def wait_for_window(run, spy, *, database: str, timeout: float) -> list[str]:
    """Polls (deadline) until the relay of `database` has published an event (again) that it
    has not marked; [] when none did within `timeout`."""
    baseline = dict(spy.seen)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := published_not_marked(run, spy, baseline, database=database):
            return found
        time.sleep(0.1)
    return []
