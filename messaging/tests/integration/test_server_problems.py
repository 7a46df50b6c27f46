"""A real gunicorn, started with the APIs' infra/gunicorn.conf.py, answers what it refuses
before any app sees it (a request line or headers over its limits, a malformed request) as
problem+json with the status its document lists, not as gunicorn's HTML page."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from messaging.problems import PROBLEM_CONTENT_TYPE

ROOT = Path(__file__).resolve().parents[3]
GUNICORN = str(Path(sys.executable).parent / "gunicorn")


def app(environ, start_response):
    """What a request gunicorn lets through gets: the refusals below never reach it."""
    start_response("200 OK", [("Content-Type", "application/json")])
    return [b'{"reached": "app"}']


@pytest.fixture(scope="module")
def server():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [GUNICORN, "-c", "infra/gunicorn.conf.py", "--bind", f"127.0.0.1:{port}", f"{__name__}:app"],
        cwd=ROOT,
        env={**os.environ, "WEB_THREADS": "2"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while True:
        try:
            if get(port, "/").status == 200:
                break
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise
            time.sleep(0.1)
    yield port
    process.terminate()
    process.wait(timeout=15)


def get(port: int, path: str, headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", path, headers=headers or {})
    response = connection.getresponse()
    response.body = response.read()  # type: ignore[attr-defined]
    connection.close()
    return response


def problem(response) -> dict:
    assert response.getheader("Content-Type") == PROBLEM_CONTENT_TYPE
    return json.loads(response.body)


pytestmark = pytest.mark.integration


def test_a_request_line_over_the_limit_is_a_414_problem(server):
    response = get(server, "/orders?cursor=" + "9" * 5000)

    assert response.status == 414
    body = problem(response)
    assert (body["code"], body["status"]) == ("uri-too-long", 414)
    assert "4094" in body["detail"]


def test_a_header_over_the_limit_and_too_many_headers_are_431_problems(server):
    too_large = get(server, "/", {"X-Filler": "x" * 9000})
    too_many = get(server, "/", {f"X-Filler-{n}": "x" for n in range(120)})

    assert [(r.status, problem(r)["code"]) for r in (too_large, too_many)] == [
        (431, "request-header-fields-too-large")
    ] * 2


def test_a_malformed_request_line_is_a_400_problem(server):
    with socket.create_connection(("127.0.0.1", server), timeout=10) as raw:
        raw.sendall(b"GET /\x01 HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = b""
        while chunk := raw.recv(4096):
            answer += chunk

    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ")
    assert f"Content-Type: {PROBLEM_CONTENT_TYPE}".encode() in head
    assert json.loads(body)["code"] == "malformed-request"


def test_requests_within_the_limits_still_reach_the_app(server):
    response = get(server, "/orders?cursor=" + "9" * 4000)

    assert (response.status, json.loads(response.body)) == (200, {"reached": "app"})
