"""Real processes, started as compose starts them, write nothing but JSON lines on stderr:
gunicorn with infra/gunicorn.conf.py (its own lines, the app's, the access log) and the relay."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import requests

from messaging.credentials import ADMIN, ORDER_SERVICE
from testsupport.callers import TEST_CALLERS, bearer
from testsupport.containers import free_port
from testsupport.polling import wait_until

ROOT = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent  # gunicorn, next to this python


def environment(process_name: str) -> dict[str, str]:
    return {
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "PROCESS_NAME": process_name,
        "LIVENESS_FILE": os.devnull,
    }


def start(command: list[str], *, process_name: str, **environ: str) -> subprocess.Popen:
    env = {**environment(process_name), **environ}
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def stop(process: subprocess.Popen) -> tuple[str, str]:
    process.send_signal(signal.SIGTERM)
    return process.communicate(timeout=30)


def parsed(stderr: str) -> list[dict]:
    """Every line of stderr as JSON (a line that is not fails the test, shown)."""
    lines = []
    for line in stderr.splitlines():
        try:
            lines.append(json.loads(line))
        except ValueError as error:
            raise AssertionError(f"not a JSON line: {line!r}") from error
    return lines


def test_an_api_under_gunicorn_logs_json_lines_its_own_the_apps_and_the_access_log(database_url):
    port = free_port()
    order_id = f"order-{uuid.uuid4()}"
    api = start(
        [str(BIN / "gunicorn"), "-c", "infra/gunicorn.conf.py", "payment_service.api:create_app()"],
        process_name="payment-api",
        DATABASE_URL=database_url(migrate="payment_service"),
        GUNICORN_CMD_ARGS=f"--bind 127.0.0.1:{port} --threads 2",
        ACCESS_LOG="1",
        PAYMENT_TIMEOUT_TOKEN_DELAY_SECONDS="0",
        ADMIN_TOKEN=TEST_CALLERS.tokens[ADMIN],
        ORDER_SERVICE_TOKEN=TEST_CALLERS.tokens[ORDER_SERVICE],
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: requests.get(f"{base}/readyz", timeout=2).ok, timeout=30, what="the API")
        charged = requests.post(
            f"{base}/charges",
            json={"order_id": order_id, "amount_cents": 2500, "currency": "EUR", "payment_token": "tok_visa"},
            headers={"Idempotency-Key": f"charge:{order_id}", **bearer(ORDER_SERVICE)},
            timeout=10,
        )
        assert charged.status_code == 201, charged.text
    finally:
        _, stderr = stop(api)

    lines = parsed(stderr)
    assert {(line["service"], line["process"]) for line in lines} == {("payment", "payment-api")}
    loggers = {line["logger"] for line in lines}
    assert {"gunicorn.error", "gunicorn.access", "payment_service.handlers"} <= loggers
    [captured] = [line for line in lines if line["logger"] == "payment_service.handlers"]
    assert captured["order_id"] == order_id and "CAPTURED" in captured["message"]
    [access] = [line for line in lines if line["logger"] == "gunicorn.access" and line["method"] == "POST"]
    assert (access["path"], access["status"], access["message"]) == (
        "/charges",
        201,
        f"POST /charges 201 {access['duration_ms']}ms",
    )


def test_the_relay_logs_json_lines_and_a_crash_is_one_line_with_its_traceback(tmp_path):
    """No broker or database reachable on port 1: the relay retries (a warning per pass), then
    SIGTERM stops it; a bad setting is an uncaught error, one CRITICAL line."""
    unreachable = "postgresql+psycopg2://relay:Xk4v9q@127.0.0.1:1/order_service"
    log_file = tmp_path / "relay.err"
    with log_file.open("w") as stderr_file:
        relay = subprocess.Popen(
            [sys.executable, "-m", "messaging.relay"],
            cwd=ROOT,
            env={**environment("order-relay"), "DATABASE_URL": unreachable,
                 "BROKER_URL": "amqp://relay:r7Tq2mZp@127.0.0.1:1/%2F"},
            stdout=subprocess.PIPE, stderr=stderr_file, text=True,
        )  # fmt: skip
        # Retrying already, so its SIGTERM handler is in place.
        wait_until(lambda: "pass failed" in log_file.read_text(), timeout=30, what="the relay's first pass")
        stdout, _ = stop(relay)
    stderr = log_file.read_text()
    crashed = start(
        [sys.executable, "-m", "messaging.relay"],
        process_name="order-relay",
        DATABASE_URL=unreachable,
        RELAY_BATCH_SIZE="many",
    )
    _, crash = crashed.communicate(timeout=30)

    assert stdout == "" and relay.returncode == 0
    assert [line["message"] for line in parsed(stderr)][0] == "relay started"
    [uncaught] = parsed(crash)
    assert (uncaught["level"], uncaught["process"]) == ("CRITICAL", "order-relay")
    assert uncaught["traceback"].startswith("Traceback (most recent call last):\n")
    assert "RELAY_BATCH_SIZE must be an integer" in uncaught["traceback"].splitlines()[-1]
