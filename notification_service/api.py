"""The notification API (Flask app factory): what was (or will be) sent to whom, and POST
/events, the HTTP binding of the events the worker consumes (ORDER_FLOW=sync)."""

from __future__ import annotations

import os
import smtplib
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Flask, current_app, jsonify, request

from messaging.database import make_engine
from messaging.envelope import Envelope, PoisonEvent
from messaging.settings import Role, pool_size
from messaging.web import (
    Problem,
    database_check,
    envelope_body,
    health_blueprint,
    install_error_handlers,
    problem_response,
    query_int,
)
from notification_service import handlers
from notification_service.config import Settings, settings_from_env
from notification_service.mailer import SmtpMailer

MAX_ORDER_ID_LENGTH = 100
# The worker's resend sweep looks for PENDING rows every 10 s (celery_app.RESEND_EVERY_SECONDS).
MAIL_RETRY_AFTER_SECONDS = 10
notifications = Blueprint("notifications", __name__)
events = Blueprint("events", __name__)


def _engine() -> sa.Engine:
    return current_app.extensions["notification_engine"]


@notifications.get("/notifications")
def list_notifications():
    order_id = request.args.get("order_id")
    if order_id is not None and not 1 <= len(order_id) <= MAX_ORDER_ID_LENGTH:
        raise Problem(
            status=422,
            code="validation-error",
            title="The query is invalid",
            errors=[{"field": "order_id", "message": f"must be 1 to {MAX_ORDER_ID_LENGTH} characters"}],
        )
    limit = query_int("limit", default=100, minimum=1, maximum=500)
    return jsonify(handlers.list_notifications(engine=_engine(), order_id=order_id, limit=limit))


@events.post("/events")
def receive_event():
    """Records the notification as the worker's consumer step does, then sends it within the
    request instead of through a task: the synchronous design waits for the email. A repeated
    event id records nothing (inbox) and answers 200 with notification_id null."""
    envelope = envelope_body()
    notification_id = _record(envelope)
    sent = False
    if notification_id is not None:
        try:
            sent = handlers.send_notification(
                engine=_engine(),
                mailer=current_app.extensions["notification_mailer"],
                notification_id=notification_id,
            )
        except (smtplib.SMTPException, OSError) as error:
            # The notification is committed and stays PENDING: the worker's resend sweep sends
            # it once SMTP is back. Posting the event again would change nothing (inbox).
            current_app.logger.warning("notification %s not sent: %r", notification_id, error)
            return problem_response(
                Problem(
                    status=503,
                    code="mail-unavailable",
                    title="The mail server is unavailable; the notification will be sent later",
                    event_id=envelope.id,
                    notification_id=notification_id,
                ),
                {"Retry-After": str(MAIL_RETRY_AFTER_SECONDS)},
            )
    return {"event_id": envelope.id, "notification_id": notification_id, "sent": sent}


def _record(envelope: Envelope) -> str | None:
    try:
        return handlers.record_notification(engine=_engine(), envelope=envelope)
    except PoisonEvent as error:  # what the consumer dead-letters
        raise _invalid_event(str(error)) from error
    except (ValueError, sa.exc.DataError) as error:
        # A value PostgreSQL cannot store (a NUL character): rolled back, nothing recorded.
        current_app.logger.warning("event %s refused by the database: %s", envelope.id, error)
        raise _invalid_event("the event holds a value that cannot be stored") from error


def _invalid_event(detail: str) -> Problem:
    return Problem(status=422, code="invalid-event", title="The event's data is invalid", detail=detail)


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """`test_config` may carry DATABASE_URL or ENGINE, and MAILER (anything with the mailer's
    send()); without DATABASE_URL or ENGINE, the settings come from the environment."""
    app = Flask(__name__)
    config = dict(test_config or {})
    engine = config.get("ENGINE")
    if engine is None and not config.get("DATABASE_URL"):
        settings = settings_from_env(os.environ)
        config["DATABASE_URL"] = settings.database_url
        config.setdefault("MAILER", SmtpMailer.from_settings(settings))
    if engine is None:
        engine = make_engine(
            config["DATABASE_URL"],
            pool_size=pool_size(Role.API, web_threads=int(os.environ.get("WEB_THREADS", "16"))),
        )
    app.config.update(config)
    app.extensions["notification_engine"] = engine
    # A test that sends nothing may pass no MAILER: this one connects only when it sends.
    mailer = config.get("MAILER") or SmtpMailer.from_settings(Settings(database_url=""))
    app.extensions["notification_mailer"] = mailer
    install_error_handlers(app)
    app.register_blueprint(health_blueprint(checks={"database": database_check(engine)}))
    app.register_blueprint(notifications)
    app.register_blueprint(events)
    return app
