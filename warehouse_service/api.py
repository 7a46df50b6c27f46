"""The warehouse API (Flask app factory): views of shipments, the order service's cancel call,
POST /events, the HTTP binding of the events the worker consumes (ORDER_FLOW=sync), and the
operator's dead letters (messaging.dead_letter_api)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Flask, jsonify, request

from messaging.credentials import ADMIN, ORDER_SERVICE
from messaging.dead_letter_api import DEAD_LETTER_PROBLEMS, dead_letters_blueprint
from messaging.guard import only_for, require_caller
from messaging.http_input import bounded_text, envelope_body, list_limit, query_text, unstorable_as_poison
from messaging.permissions import BROKER_USERS
from messaging.problems import EVENT_PROBLEMS, Problem, ProblemTable, ProblemType
from messaging.web import create_api, current_engine, extension
from warehouse_service import handlers
from warehouse_service.config import Settings, settings_from_env
from warehouse_service.domain import CancelOutcome, Shipment, ShipmentNotFound

MAX_ORDER_ID_LENGTH = 100
shipments = Blueprint("shipments", __name__)
events = Blueprint("events", __name__)

PROBLEMS: ProblemTable = {
    ShipmentNotFound: ProblemType(
        404,
        "shipment-not-found",
        "No such shipment",
        extra=lambda error: {"shipment_id": str(error)},
        detail=False,
    ),
    **EVENT_PROBLEMS,
    **DEAD_LETTER_PROBLEMS,
}


def create_app(settings: Settings | None = None, *, engine: sa.Engine | None = None) -> Flask:
    """`settings`: from the environment when None (gunicorn calls `create_app()`); `engine`:
    a test's own (no connection is made until the first query either way)."""
    settings = settings or settings_from_env(api=True)
    return create_api(
        __name__,
        settings=settings,
        engine=engine,
        problems=PROBLEMS,
        blueprints=[shipments, events, dead_letters_blueprint(BROKER_USERS["warehouse"].dead_letter_queues)],
        callers=settings.callers,
        openapi=Path(__file__).with_name("openapi.json"),
    )


@shipments.get("/shipments")
def list_shipments():
    order_id = query_text("order_id", maximum=MAX_ORDER_ID_LENGTH)
    if order_id is None:  # every customer's address: the operator's view, not a client's
        require_caller(ADMIN)
    found = handlers.list_shipments(engine=current_engine(), order_id=order_id, limit=list_limit())
    return jsonify([shipment_json(shipment) for shipment in found])


@shipments.get("/shipments/<shipment_id>")
def get_shipment(shipment_id: str):
    return shipment_json(handlers.get_shipment(engine=current_engine(), shipment_id=shipment_id))


@shipments.post("/shipments/<order_id>/cancel")
@only_for(ORDER_SERVICE)
def cancel_shipment(order_id: str):
    """For the order service, before it cancels an order: 200 and the shipment (CANCELLED, also
    when none existed yet: a late order.confirmed then ships nothing), or 409 once dispatched."""
    bounded_text("order_id", order_id, maximum=MAX_ORDER_ID_LENGTH)
    expected = f"cancel:{order_id}"
    if request.headers.get("Idempotency-Key") != expected:
        raise Problem(
            status=400,
            code="invalid-idempotency-key",
            title="The Idempotency-Key header is wrong",
            detail=f"Idempotency-Key must be {expected!r}",
        )
    outcome, shipment = handlers.cancel_shipment_now(engine=current_engine(), order_id=order_id)
    if outcome is CancelOutcome.TOO_LATE:
        raise Problem(
            status=409,
            code="shipment-dispatched",
            title="The shipment already left",
            shipment=shipment_json(shipment),
        )
    return shipment_json(shipment)


def shipment_json(shipment: Shipment) -> dict[str, Any]:
    """A shipment as GET /shipments shows it (and the cancel call answers)."""
    return {
        "id": shipment.shipment_id,
        "order_id": shipment.order_id,
        "status": shipment.status.value,
        "email": shipment.email,
        "items": [line.to_dict() for line in shipment.lines],
        "created_at": shipment.created_at.isoformat(),
        "dispatched_at": _iso(shipment.dispatched_at),
        "cancelled_at": _iso(shipment.cancelled_at),
    }


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


@events.post("/events")
@only_for(ORDER_SERVICE)  # ORDER_FLOW=sync: the order service hands its events over
def receive_event():
    """The same handler as the worker's consumer step, inbox included: a repeated event id
    does nothing and still answers 200, as a redelivered message is acked."""
    envelope = envelope_body()
    with unstorable_as_poison(envelope):
        handlers.handle_events(
            engine=current_engine(),
            envelopes=[envelope],
            dispatch_delay_seconds=extension("settings").dispatch_delay_seconds,
        )
    return {"event_id": envelope.id, "type": envelope.type}
