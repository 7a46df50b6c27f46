"""`tok_timeout`: approved and committed at once, answered late; a replay answers at once."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import requests
from flask import Flask
from werkzeug.serving import make_server

from messaging.credentials import ORDER_SERVICE
from payment_service.api import create_app
from payment_service.config import Settings
from payment_service.tests.integration.charges import charge, stored_rows
from testsupport.callers import TEST_CALLERS, bearer
from testsupport.polling import wait_until

DELAY = 3.0
BODY = {"order_id": "order-slow", "amount_cents": 2500, "currency": "EUR", "payment_token": "tok_timeout"}
KEY = {"Idempotency-Key": "charge:order-slow", **bearer(ORDER_SERVICE)}


@pytest.fixture
def slow_app(database_url) -> Iterator[Flask]:
    app = create_app(
        Settings(
            database_url=database_url(migrate="payment_service"),
            timeout_token_delay_seconds=DELAY,
            callers=TEST_CALLERS,
        )
    )
    yield app
    app.extensions["engine"].dispose()


@contextmanager
def served(app: Flask) -> Iterator[str]:
    """The app behind a real HTTP server (threaded), so that callers can time out."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


def test_the_payment_is_committed_before_the_late_answer(slow_app):
    answer: dict = {}

    def first_attempt() -> None:
        started = time.monotonic()
        response = charge(slow_app.test_client(), order_id="order-slow", token="tok_timeout")
        answer.update(response=response, seconds=time.monotonic() - started)

    caller = threading.Thread(target=first_attempt)
    caller.start()
    wait_until(
        lambda: stored_rows(slow_app, order_id="order-slow") == [("CAPTURED", None)],
        timeout=DELAY - 1,
        interval=0.05,
        what="the captured payment to be committed",
    )
    assert caller.is_alive(), "the answer must come after the commit, not with it"
    caller.join(timeout=DELAY + 10)

    assert answer["response"].status_code == 201
    assert answer["response"].get_json()["status"] == "CAPTURED"
    assert answer["seconds"] >= DELAY


def test_a_caller_that_timed_out_finds_the_payment_and_a_replay_answers_at_once(slow_app):
    with served(slow_app) as base_url:
        with pytest.raises(requests.ReadTimeout):
            requests.post(f"{base_url}/charges", json=BODY, headers=KEY, timeout=(1, 0.5))

        [found] = requests.get(f"{base_url}/payments", params={"order_id": "order-slow"}, timeout=2).json()
        started = time.monotonic()
        replay = requests.post(f"{base_url}/charges", json=BODY, headers=KEY, timeout=(1, DELAY - 1))
        replay_seconds = time.monotonic() - started

    assert (found["status"], found["decline_code"]) == ("CAPTURED", None)
    assert replay.status_code == 201
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json() == found
    assert replay_seconds < 1.0
    assert stored_rows(slow_app, order_id="order-slow") == [("CAPTURED", None)]
