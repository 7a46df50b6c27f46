"""gunicorn's refusals as problem+json (messaging/server_problems.py); the real gunicorn is
in tests/integration/test_server_problems.py."""

from __future__ import annotations

import json

import pytest

from messaging.server_problems import problem_answer

pytestmark = pytest.mark.unit


def test_the_answer_is_whole_http_with_an_ascii_body_whatever_the_message():
    answer = problem_answer(400, "Bad Request", "Invalid header value 'é\\r'")

    head, _, body = answer.partition(b"\r\n\r\n")
    assert f"Content-Length: {len(body)}".encode() in head
    assert json.loads(body)["detail"] == "Invalid header value 'é\\r'"
    assert body.isascii()
