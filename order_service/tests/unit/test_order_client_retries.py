"""What a call retries within the request: a connection refused or a name that does not
resolve is given up at once (nobody is there to answer a second try); a timeout is retried."""

from __future__ import annotations

import socket

import pytest
import requests

from order_service.clients import ClientSettings, DownstreamUnavailable, ServiceClient

SETTINGS = ClientSettings(
    connect_timeout=1, read_timeout=0.05, attempts=3, breaker_failures=50, breaker_reset_seconds=5
)


class CountingSession(requests.Session):
    """A real session that counts the attempts made through it."""

    def __init__(self) -> None:
        super().__init__()
        self.trust_env = False
        self.attempts = 0

    def request(self, *args, **kwargs):
        self.attempts += 1
        return super().request(*args, **kwargs)


def client_of(base_url: str) -> tuple[ServiceClient, CountingSession]:
    client = ServiceClient(name="inventory", base_url=base_url, settings=SETTINGS, token="t")
    session = client._local.session = CountingSession()
    return client, session


@pytest.fixture
def refusing_port():
    """A port bound but not listening: a connection to it is refused (kept bound, so no other
    process takes it meanwhile)."""
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        yield bound.getsockname()[1]


@pytest.fixture
def silent_port():
    """A port that takes connections (the kernel's backlog) and never answers: a read timeout."""
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen(8)
        yield listening.getsockname()[1]


def test_a_refused_connection_is_one_attempt_known_not_applied(refusing_port):
    client, session = client_of(f"http://127.0.0.1:{refusing_port}")

    with pytest.raises(DownstreamUnavailable) as raised:
        client.call("POST", "/reservations", json={}, key="reserve:o1")

    assert (session.attempts, raised.value.maybe_applied) == (1, False)


def test_a_name_that_does_not_resolve_is_one_attempt_known_not_applied():
    client, session = client_of("http://nonexistent.invalid")  # .invalid never resolves (RFC 2606)

    with pytest.raises(DownstreamUnavailable) as raised:
        client.call("POST", "/reservations", json={}, key="reserve:o1")

    assert (session.attempts, raised.value.maybe_applied) == (1, False)


def test_a_timeout_is_still_retried(silent_port):
    client, session = client_of(f"http://127.0.0.1:{silent_port}")

    with pytest.raises(DownstreamUnavailable) as raised:
        client.call("POST", "/reservations", json={}, key="reserve:o1")

    assert (session.attempts, raised.value.maybe_applied) == (3, True)


def test_a_name_that_does_not_resolve_opens_the_circuit_at_once():
    client, session = client_of("http://nonexistent.invalid")

    with pytest.raises(DownstreamUnavailable) as first:
        client.call("GET", "/products")
    with pytest.raises(DownstreamUnavailable) as second:
        client.call("GET", "/products")

    assert first.value.gone
    assert (second.value.retry_after, session.attempts) == (SETTINGS.breaker_reset_seconds, 1)
    assert client.breaker.current_state == "open"


def test_a_refused_connection_alone_leaves_the_circuit_closed(refusing_port):
    client, _session = client_of(f"http://127.0.0.1:{refusing_port}")

    with pytest.raises(DownstreamUnavailable) as raised:
        client.call("GET", "/products")

    assert not raised.value.gone
    assert client.breaker.current_state == "closed"
