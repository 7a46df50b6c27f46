"""The HTTP clients against a real (in-process) HTTP server on 127.0.0.1: timeouts,
retries, what counts as 'maybe applied', and the circuit breaker."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from order_service.clients import (
    ClientSettings,
    Declined,
    DownstreamUnavailable,
    PaymentClient,
    ServiceClient,
)
from testsupport.containers import free_port
from testsupport.polling import wait_until


class Script:
    """What the fake payment service answers: (status, body, delay_seconds) per request."""

    def __init__(self):
        self.answer = (201, {"id": "pay-1"}, 0.0)
        self.requests: list[str] = []
        self.credentials: list[str | None] = []  # the Authorization header of each request


@pytest.fixture
def server():
    script = Script()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            script.requests.append(self.headers.get("Idempotency-Key"))
            script.credentials.append(self.headers.get("Authorization"))
            status, body, delay = script.answer
            time.sleep(delay)  # the simulated slow gateway, not a wait in the test
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", script
    httpd.shutdown()


def payment(url, *, failures=3, reset=0.5, read_timeout=0.5):
    settings = ClientSettings(
        connect_timeout=0.5,
        read_timeout=read_timeout,
        attempts=3,
        breaker_failures=failures,
        breaker_reset_seconds=reset,
    )
    return PaymentClient(ServiceClient(name="payment", base_url=url, settings=settings, token=TOKEN))


TOKEN = "test-order-service-token"


def charge(client):
    return client.charge(order_id="o1", amount_cents=100, currency="EUR", payment_token="tok_visa")


def test_a_decline_is_an_answer_and_never_opens_the_circuit(server):
    url, script = server
    script.answer = (402, {"code": "payment-declined", "decline_code": "generic_decline"}, 0.0)
    client = payment(url, failures=2)

    outcomes = [charge(client) for _ in range(5)]

    assert outcomes == [Declined(decline_code="generic_decline")] * 5
    assert client.client.breaker.current_state == "closed"
    # Every call presents the order service's own credential (the callee's guard asks for it).
    assert script.credentials == [f"Bearer {TOKEN}"] * 5


def test_a_refusal_by_the_guard_is_a_dependency_failure_not_an_answer(server):
    """A 401/403 means a misconfigured token: nothing was done, and the order cannot go on."""
    url, script = server
    script.answer = (401, {"code": "unauthenticated"}, 0.0)

    with pytest.raises(DownstreamUnavailable) as raised:
        charge(payment(url))

    assert raised.value.maybe_applied is False


def test_a_timed_out_charge_is_not_repeated_and_may_have_happened(server):
    url, script = server
    script.answer = (201, {"id": "pay-1"}, 1.0)  # slower than the 0.2 s read timeout
    client = payment(url, read_timeout=0.2)

    with pytest.raises(DownstreamUnavailable) as raised:
        charge(client)

    assert raised.value.maybe_applied is True
    assert script.requests == ["charge:o1"]  # one attempt: the caller looks it up instead


def test_refused_connections_are_known_not_applied_and_open_the_circuit():
    client = payment(f"http://127.0.0.1:{free_port()}", failures=2, reset=30)

    for _ in range(2):
        with pytest.raises(DownstreamUnavailable) as raised:
            charge(client)
        assert raised.value.maybe_applied is False
    started = time.monotonic()
    with pytest.raises(DownstreamUnavailable, match="circuit open"):
        charge(client)

    assert time.monotonic() - started < 0.05  # fails fast: no call at all
    assert client.client.breaker.current_state == "open"


def test_the_circuit_closes_again_once_the_dependency_is_back(server):
    url, script = server
    client = payment(url, failures=1, reset=0.3)
    script.answer = (503, {}, 0.0)
    with pytest.raises(DownstreamUnavailable):
        charge(client)
    assert client.client.breaker.current_state == "open"

    script.answer = (201, {"id": "pay-2"}, 0.0)
    outcome = wait_until(lambda: _try(client), timeout=5, what="a probe after the cool-down to succeed")

    assert outcome.payment_id == "pay-2"
    assert client.client.breaker.current_state == "closed"


def _try(client):
    try:
        return charge(client)
    except DownstreamUnavailable:
        return None
