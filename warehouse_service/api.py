"""The warehouse API (Flask app factory): views of shipments, the order service's cancel call,
and POST /events, the HTTP binding of the events the worker consumes (ORDER_FLOW=sync)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Flask, current_app, jsonify, request

from messaging.envelope import PoisonEvent
from messaging.web import (
    Problem,
    ProblemTable,
    ProblemType,
    create_api,
    envelope_body,
    extension,
    query_int,
)
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
    PoisonEvent: ProblemType(
        422, "invalid-event", "The event's data is invalid"
    ),  # what the consumer dead-letters
}


def create_app(settings: Settings | None = None, *, engine: sa.Engine | None = None) -> Flask:
    """`settings`: from the environment when None (gunicorn calls `create_app()`); `engine`:
    a test's own (no connection is made until the first query either way)."""
    return create_api(
        __name__,
        settings=settings or settings_from_env(),
        engine=engine,
        problems=PROBLEMS,
        blueprints=[shipments, events],
    )


def _engine() -> sa.Engine:
    return extension("engine")


@shipments.get("/shipments")
def list_shipments():
    order_id = request.args.get("order_id")
    if order_id is not None:
        _check_order_id(order_id, title="The query is invalid")
    limit = query_int("limit", default=100, minimum=1, maximum=500)
    found = handlers.list_shipments(engine=_engine(), order_id=order_id, limit=limit)
    return jsonify([shipment_json(shipment) for shipment in found])


@shipments.get("/shipments/<shipment_id>")
def get_shipment(shipment_id: str):
    return shipment_json(handlers.get_shipment(engine=_engine(), shipment_id=shipment_id))


@shipments.post("/shipments/<order_id>/cancel")
def cancel_shipment(order_id: str):
    """For the order service, before it cancels an order: 200 and the shipment (CANCELLED, also
    when none existed yet: a late order.confirmed then ships nothing), or 409 once dispatched."""
    _check_order_id(order_id, title="The request is invalid")
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
            status=409,
            code="shipment-dispatched",
            title="The shipment already left",
            shipment=shipment_json(shipment),
        )
    return shipment_json(shipment)


def _check_order_id(order_id: str, *, title: str) -> None:
    if not 1 <= len(order_id) <= MAX_ORDER_ID_LENGTH:
        raise Problem(
            status=422,
            code="validation-error",
            title=title,
            errors=[{"field": "order_id", "message": f"must be 1 to {MAX_ORDER_ID_LENGTH} characters"}],
        )


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
def receive_event():
    """The same handler as the worker's consumer step, inbox included: a repeated event id
    does nothing and still answers 200, as a redelivered message is acked."""
    envelope = envelope_body()
    try:
        handlers.handle_events(
            engine=_engine(),
            envelopes=[envelope],
            dispatch_delay_seconds=extension("settings").dispatch_delay_seconds,
        )
    except (ValueError, sa.exc.DataError) as error:
        # A value PostgreSQL cannot store (a NUL character): rolled back, nothing recorded.
        current_app.logger.warning("event %s refused by the database: %s", envelope.id, error)
        raise PoisonEvent("the event holds a value that cannot be stored") from error
    return {"event_id": envelope.id, "type": envelope.type}
