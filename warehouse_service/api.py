"""The warehouse API (Flask app factory): views of shipments, the order service's cancel call,
and POST /events, the HTTP binding of the events the worker consumes (ORDER_FLOW=sync)."""

from __future__ import annotations

import os
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Flask, current_app, jsonify, request

from messaging.database import make_engine
from messaging.envelope import PoisonEvent
from messaging.web import (
    Problem,
    database_check,
    envelope_body,
    health_blueprint,
    install_error_handlers,
    query_int,
)
from warehouse_service import handlers
from warehouse_service.config import Settings, settings_from_env
from warehouse_service.domain import CancelOutcome, ShipmentNotFound

MAX_ORDER_ID_LENGTH = 100
DISPATCH_DELAY_KEY = "DISPATCH_DELAY_SECONDS"
DEFAULTS = Settings(database_url="")
shipments = Blueprint("shipments", __name__)
events = Blueprint("events", __name__)


def _engine() -> sa.Engine:
    return current_app.extensions["warehouse_engine"]


@shipments.get("/shipments")
def list_shipments():
    order_id = request.args.get("order_id")
    if order_id is not None and not 1 <= len(order_id) <= MAX_ORDER_ID_LENGTH:
        raise Problem(
            status=422,
            code="validation-error",
            title="The query is invalid",
            errors=[{"field": "order_id", "message": f"must be 1 to {MAX_ORDER_ID_LENGTH} characters"}],
        )
    limit = query_int("limit", default=100, minimum=1, maximum=500)
    return jsonify(handlers.list_shipments(engine=_engine(), order_id=order_id, limit=limit))


@shipments.get("/shipments/<shipment_id>")
def get_shipment(shipment_id: str):
    try:
        return handlers.get_shipment(engine=_engine(), shipment_id=shipment_id)
    except ShipmentNotFound:
        raise Problem(
            status=404, code="shipment-not-found", title="No such shipment", shipment_id=shipment_id
        ) from None


@shipments.post("/shipments/<order_id>/cancel")
def cancel_shipment(order_id: str):
    """For the order service, before it cancels an order: 200 and the shipment (CANCELLED, also
    when none existed yet: a late order.confirmed then ships nothing), or 409 once dispatched."""
    if not 1 <= len(order_id) <= MAX_ORDER_ID_LENGTH:
        raise Problem(
            status=422,
            code="validation-error",
            title="The request is invalid",
            errors=[{"field": "order_id", "message": f"must be 1 to {MAX_ORDER_ID_LENGTH} characters"}],
        )
    expected = f"cancel:{order_id}"
    if request.headers.get("Idempotency-Key") != expected:
        raise Problem(
            status=400,
            code="invalid-idempotency-key",
            title="The Idempotency-Key header is wrong",
            detail=f"Idempotency-Key must be {expected!r}",
        )
    outcome, shipment = handlers.cancel_shipment_now(engine=_engine(), order_id=order_id)
    if outcome is CancelOutcome.TOO_LATE:
        raise Problem(
            status=409, code="shipment-dispatched", title="The shipment already left", shipment=shipment
        )
    return shipment


@events.post("/events")
def receive_event():
    """The same handler as the worker's consumer step, inbox included: a repeated event id
    does nothing and still answers 200, as a redelivered message is acked."""
    envelope = envelope_body()
    try:
        handlers.handle_event(
            engine=_engine(),
            envelope=envelope,
            dispatch_delay_seconds=current_app.config[DISPATCH_DELAY_KEY],
        )
    except PoisonEvent as error:  # what the consumer dead-letters
        raise _invalid_event(str(error)) from error
    except (ValueError, sa.exc.DataError) as error:
        # A value PostgreSQL cannot store (a NUL character): rolled back, nothing recorded.
        current_app.logger.warning("event %s refused by the database: %s", envelope.id, error)
        raise _invalid_event("the event holds a value that cannot be stored") from error
    return {"event_id": envelope.id, "type": envelope.type}


def _invalid_event(detail: str) -> Problem:
    return Problem(status=422, code="invalid-event", title="The event's data is invalid", detail=detail)


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """`test_config` may carry DATABASE_URL or ENGINE, and DISPATCH_DELAY_SECONDS; without
    DATABASE_URL or ENGINE, the settings come from the environment (as the worker's do)."""
    app = Flask(__name__)
    config = dict(test_config or {})
    engine = config.get("ENGINE")
    if engine is None and not config.get("DATABASE_URL"):
        settings = settings_from_env(os.environ)
        config["DATABASE_URL"] = settings.database_url
        config.setdefault(DISPATCH_DELAY_KEY, settings.dispatch_delay_seconds)
    config.setdefault(DISPATCH_DELAY_KEY, DEFAULTS.dispatch_delay_seconds)
    if engine is None:
        engine = make_engine(config["DATABASE_URL"])
    app.config.update(config)
    app.extensions["warehouse_engine"] = engine
    install_error_handlers(app)
    app.register_blueprint(health_blueprint(checks={"database": database_check(engine)}))
    app.register_blueprint(shipments)
    app.register_blueprint(events)
    return app
