"""gunicorn's own error answers as problem+json, like every other error of the APIs.

gunicorn refuses a request it will not parse before any app sees it: a request line over
`limit_request_line` (4,094 bytes: a long path or query) with 414, more than
`limit_request_fields` (100) header fields or one over `limit_request_field_size` (8,190
bytes) with 431, a malformed request line or header with 400. It writes all of those
through one function, `gunicorn.util.write_error`, as an HTML page. The APIs promise
problem+json on every error (docs/api.md), and their documents list 414 and 431 on every
operation (messaging/openapi.json), so `install` puts a writer of the same status as
problem+json in its place; infra/gunicorn.conf.py calls it in each worker. The stack's
fuzz (e2e_tests/test_fuzz_stack.py) found the HTML 414 with a long generated query."""

from __future__ import annotations

import json
import socket

from gunicorn import util

from messaging.problems import PROBLEM_CONTENT_TYPE, Problem

# gunicorn's statuses for what it refuses, with the code a client matches on (its own
# reason phrase is the title; its message, e.g. "Request Line is too large (5000 > 4094)",
# the detail).
CODES = {
    400: "malformed-request",
    403: "forbidden",
    414: "uri-too-long",
    417: "expectation-failed",
    431: "request-header-fields-too-large",
    500: "internal-error",
    501: "not-implemented",
}


def problem_answer(status: int, reason: str, message: str) -> bytes:
    """The whole HTTP/1.1 answer gunicorn sends before closing the connection."""
    code = CODES.get(status, "malformed-request" if status < 500 else "internal-error")
    problem = Problem(status=status, code=code, title=reason, detail=message)
    body = json.dumps(problem.to_dict()).encode()  # ASCII: non-ASCII in a message is escaped
    head = (
        f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\n"
        f"Content-Type: {PROBLEM_CONTENT_TYPE}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


def write_problem(sock: socket.socket, status_int: int, reason: str, mesg: str) -> None:
    util.write_nonblock(sock, problem_answer(status_int, reason, mesg))


def install() -> None:
    """From gunicorn's `post_worker_init` hook: this worker's refusals answer problem+json."""
    util.write_error = write_problem
