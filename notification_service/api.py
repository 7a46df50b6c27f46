"""The notification API (Flask app factory): what was (or will be) sent to whom, POST /events,
the HTTP binding of the events the worker consumes (ORDER_FLOW=sync), and the operator's
dead letters (messaging.dead_letter_api)."""

from __future__ import annotations

import math
import smtplib
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Flask, current_app, jsonify

from messaging.credentials import ADMIN, ORDER_SERVICE
from messaging.dead_letter_api import DEAD_LETTER_PROBLEMS, dead_letters_blueprint
from messaging.envelope import Envelope
from messaging.guard import only_for, require_caller
from messaging.http_input import envelope_body, list_limit, query_text, unstorable_as_poison
from messaging.permissions import BROKER_USERS
from messaging.problems import EVENT_PROBLEMS, Problem, ProblemTable, problem_response
from messaging.web import create_api, current_engine, extension
from notification_service import handlers
from notification_service.config import Settings, settings_from_env
from notification_service.domain import Notification
from notification_service.handlers import Mailer
from notification_service.mailer import SmtpMailer

MAX_ORDER_ID_LENGTH = 100
notifications = Blueprint("notifications", __name__)
events = Blueprint("events", __name__)

PROBLEMS: ProblemTable = {**EVENT_PROBLEMS, **DEAD_LETTER_PROBLEMS}


def create_app(
    settings: Settings | None = None, *, engine: sa.Engine | None = None, mailer: Mailer | None = None
) -> Flask:
    """`settings`: from the environment when None (gunicorn calls `create_app()`); `engine`
    and `mailer` (anything with the mailer's send()): a test's own. Nothing connects until
    the first query or the first email."""
    settings = settings or settings_from_env(api=True)
    return create_api(
        __name__,
        settings=settings,
        engine=engine,
        problems=PROBLEMS,
        blueprints=[
            notifications,
            events,
            dead_letters_blueprint(BROKER_USERS["notification"].dead_letter_queues),
        ],
        extensions={"mailer": mailer or SmtpMailer.from_settings(settings)},
        callers=settings.callers,
        openapi=Path(__file__).with_name("openapi.json"),
    )


@notifications.get("/notifications")
def list_notifications():
    order_id = query_text("order_id", maximum=MAX_ORDER_ID_LENGTH)
    if order_id is None:  # every customer's address: the operator's view, not a client's
        require_caller(ADMIN)
    found = handlers.list_notifications(engine=current_engine(), order_id=order_id, limit=list_limit())
    return jsonify([notification_json(notification) for notification in found])


def notification_json(notification: Notification) -> dict[str, Any]:
    return {
        "id": notification.notification_id,
        "order_id": notification.order_id,
        "kind": notification.kind.value,
        "to": notification.recipient,
        "status": notification.status.value,
        "created_at": notification.created_at.isoformat(),
        "sent_at": None if notification.sent_at is None else notification.sent_at.isoformat(),
    }


@events.post("/events")
@only_for(ORDER_SERVICE)  # ORDER_FLOW=sync: the order service hands its events over
def receive_event():
    """Records the notification as the worker's consumer step does, then sends it within the
    request instead of through a task: the synchronous design waits for the email. A repeated
    event id records nothing (inbox) and answers 200 with notification_id null."""
    envelope = envelope_body()
    recorded = _record(envelope)
    if not recorded:
        return {"event_id": envelope.id, "notification_id": None, "sent": False}
    [notification_id] = recorded
    try:
        sent = handlers.send_notifications(
            engine=current_engine(), mailer=extension("mailer"), notification_ids=recorded
        )
    except (smtplib.SMTPException, OSError) as error:
        # The notification is committed and stays PENDING: the worker's resend sweep sends
        # it once SMTP is back. Posting the event again would change nothing (inbox).
        current_app.logger.warning("notification %s not sent: %r", notification_id, error)
        come_back = math.ceil(extension("settings").resend_every_seconds)
        return problem_response(
            Problem(
                status=503,
                code="mail-unavailable",
                title="The mail server is unavailable; the notification will be sent later",
                event_id=envelope.id,
                notification_id=notification_id,
            ),
            {"Retry-After": str(come_back)},
        )
    return {"event_id": envelope.id, "notification_id": notification_id, "sent": sent == 1}


def _record(envelope: Envelope) -> list[str]:
    with unstorable_as_poison(envelope):
        return handlers.record_notifications(engine=current_engine(), envelopes=[envelope])
