"""GET /dead-letters and POST /dead-letters/replay, for the operator (`@only_for(ADMIN)`): a
consumer service's dead letters, listed and put back into the queue they died in. The broker
work is messaging.dead_letters; this is the HTTP around it, the same in every service that
registers `dead_letters_blueprint(its queues)` and spreads DEAD_LETTER_PROBLEMS in its table.

The API connects to the broker (as the service's user, BROKER_URL) only for these requests,
one connection each: an operator's occasional call, not worth a connection held by every
gunicorn thread. /readyz does not check the broker (messaging.web.create_api says why): a
broker outage answers these two 503 `broker-unavailable`, and the rest of the API serves on.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify

from messaging.credentials import ADMIN
from messaging.dead_letters import (
    BrokerUnavailable,
    DeadLetterNotFound,
    NotReplayable,
    list_dead_letters,
    replay_event,
    replay_queue,
)
from messaging.guard import only_for
from messaging.http_input import MAX_EVENT_ID_LENGTH, json_body, list_limit, optional_query
from messaging.problems import VALIDATION_PROBLEMS, ProblemTable, ProblemType
from messaging.validation import FieldError, InvalidInput
from messaging.web import extension

BROKER_RETRY_AFTER_SECONDS = 5

DEAD_LETTER_PROBLEMS: ProblemTable = {
    InvalidInput: VALIDATION_PROBLEMS[InvalidInput],
    BrokerUnavailable: ProblemType(
        503,
        "broker-unavailable",
        "The broker is unavailable, retry later",
        headers=lambda error: {"Retry-After": str(BROKER_RETRY_AFTER_SECONDS)},
    ),
    DeadLetterNotFound: ProblemType(
        404,
        "dead-letter-not-found",
        "No such dead letter",
        extra=lambda error: {"queue": error.queue, "event_id": error.event_id},
    ),
    NotReplayable: ProblemType(
        409,
        "not-replayable",
        "This dead letter would only die again: it stays",
        extra=lambda error: {"event_id": error.event_id, "why": error.why},
        detail=False,
    ),
}


def replay_request(body: dict[str, Any], queues: tuple[str, ...]) -> tuple[str, str | None]:
    """POST /dead-letters/replay's body: {"queue": one of `queues`} for all of it, plus
    "event_id" for one event. (queue, event_id or None), else InvalidInput naming each field."""
    errors = [FieldError(name, "unknown field") for name in sorted(set(body) - {"queue", "event_id"})]
    queue = body.get("queue")
    if queue not in queues:
        errors.append(FieldError("queue", f"must be one of {', '.join(queues)}"))
    event_id = body.get("event_id")
    if event_id is not None and not (isinstance(event_id, str) and 1 <= len(event_id) <= MAX_EVENT_ID_LENGTH):
        errors.append(FieldError("event_id", f"must be a string of 1 to {MAX_EVENT_ID_LENGTH} characters"))
    if errors:
        raise InvalidInput(errors)
    return str(queue), event_id


def queue_in(queues: tuple[str, ...]) -> Any:
    """A parser of ?queue=: one of `queues`, else InvalidInput."""

    def parse(value: str) -> str:
        if value not in queues:
            raise InvalidInput([FieldError("queue", f"must be one of {', '.join(queues)}")])
        return value

    return parse


def dead_letters_blueprint(queues: tuple[str, ...]) -> Blueprint:
    """The two routes over `queues`, the service's dead-letter queues
    (messaging.permissions.BrokerUser.dead_letter_queues)."""
    blueprint = Blueprint("dead_letters", __name__)

    @blueprint.get("/dead-letters")
    @only_for(ADMIN)
    def list_all():
        chosen = optional_query("queue", queue_in(queues))
        found = list_dead_letters(_broker_url(), (chosen,) if chosen else queues, limit=list_limit())
        return jsonify([letter.to_json() for letter in found])

    @blueprint.post("/dead-letters/replay")
    @only_for(ADMIN)
    def replay():
        queue, event_id = replay_request(json_body(), queues)
        if event_id is None:
            done = replay_queue(_broker_url(), queue)
        else:
            done = replay_event(_broker_url(), queue, event_id)
        current_app.logger.warning(
            "dead letters of %s replayed: %s; kept: %s",
            queue,
            done.replayed,
            [kept.event_id for kept in done.kept],
        )
        return done.to_json()

    return blueprint


def _broker_url() -> str:
    return extension("settings").broker_url
