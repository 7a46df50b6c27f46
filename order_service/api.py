"""The order API (Flask app factory). Thin: parse the request, call a use case, render its
outcome as HTTP (status codes, JSON bodies, problem+json)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, jsonify, request

from messaging.credentials import ADMIN
from messaging.database import make_engine
from messaging.guard import only_for
from messaging.http_input import json_body, query_int
from messaging.problems import (
    PROBLEM_CONTENT_TYPE,
    VALIDATION_PROBLEMS,
    Problem,
    ProblemTable,
    ProblemType,
    field_errors,
)
from messaging.settings import Role
from messaging.validation import InvalidInput
from messaging.web import create_api, extension
from order_service import handlers
from order_service.bootstrap import Dependencies, build_dependencies
from order_service.clients import DownstreamUnavailable
from order_service.config import Settings, settings_from_env
from order_service.domain import (
    IN_FLIGHT_STATUSES,
    CatalogItem,
    FailureReason,
    IdempotencyKeyReused,
    InvalidOrder,
    JournalEntry,
    Order,
    OrderAlreadyShipped,
    OrderNotCancellable,
    OrderNotFound,
    OrderStatus,
    ProductNotFound,
    ProductRemoved,
    validate_sku,
)
from order_service.gauges import in_flight_gauges
from order_service.handlers import Answer, OrderPage, Timeline

orders = Blueprint("orders", __name__)
products = Blueprint("catalog", __name__)  # the copy of the inventory's catalog, read here
CURSOR = re.compile("[0-9]{1,18}")  # an order's seq (a bigint), as next_cursor gives it


def _deps() -> Dependencies:
    return extension("deps")


@orders.post("/orders")
def place_order():
    key = request.headers.get("Idempotency-Key", "")
    if not 1 <= len(key) <= 200:
        raise Problem(
            status=400,
            code="missing-idempotency-key",
            title="An Idempotency-Key header (1-200 chars) is required",
        )
    answer = answer_place_order(deps=_deps(), idempotency_key=key, body=json_body())
    response = jsonify(answer.body)
    response.status_code = answer.status
    response.headers["Location"] = f"/orders/{answer.order_id}"
    if answer.status >= 400:
        response.content_type = PROBLEM_CONTENT_TYPE
        response.headers["Retry-After"] = "5"
    return response


@orders.post("/orders/<order_id>/cancel")
def cancel_order(order_id: str):
    return order_json(handlers.cancel_order(deps=_deps(), order_id=order_id))


@orders.get("/orders/<order_id>/events")
def order_timeline(order_id: str):
    return timeline_json(handlers.order_timeline(engine=_deps().engine, order_id=order_id))


@orders.get("/orders/<order_id>/journal")
def order_journal(order_id: str):
    """The journal's view of the order: every event about it, from every producer."""
    entries = handlers.order_journal(engine=_deps().engine, order_id=order_id)
    return {"order_id": order_id, "events": [journal_entry_json(entry) for entry in entries]}


@orders.get("/orders/<order_id>")
def get_order(order_id: str):
    return order_json(handlers.get_order(engine=_deps().engine, order_id=order_id))


@orders.get("/orders")
@only_for(ADMIN)  # every customer's orders and email addresses: the operator's view
def list_orders():
    status = request.args.get("status")
    if status is not None and status not in OrderStatus.__members__:
        raise Problem(
            status=400, code="invalid-query", title=f"status must be one of {', '.join(OrderStatus)}"
        )
    cursor = request.args.get("cursor")
    if cursor is not None and not CURSOR.fullmatch(cursor):  # not isdigit(), which takes "²"
        raise Problem(status=400, code="invalid-query", title="cursor must be a value from next_cursor")
    page = handlers.list_orders(
        engine=_deps().engine,
        customer_id=request.args.get("customer_id"),
        status=status,
        limit=query_int("limit", default=50, minimum=1, maximum=200),
        cursor=int(cursor) if cursor else None,
    )
    return page_json(page)


@products.get("/catalog")
def list_catalog():
    return jsonify([catalog_item_json(item) for item in handlers.list_catalog(engine=_deps().engine)])


@products.get("/catalog/<sku>")
def get_catalog_item(sku: str):
    return catalog_item_json(handlers.get_catalog_item(engine=_deps().engine, sku=validate_sku(sku=sku)))


def answer_place_order(*, deps: Dependencies, idempotency_key: str, body: dict[str, Any]) -> Answer:
    """POST /orders from the body on: place (or replay), answer, and remember the answer."""
    outcome = handlers.place_order(deps=deps, idempotency_key=idempotency_key, body=body)
    if isinstance(outcome, Answer):  # a replay of an answered request: that answer, verbatim
        return outcome
    answer = answer_for(outcome.order)
    handlers.remember_answer(
        engine=deps.engine, idempotency_key=idempotency_key, placed=outcome, answer=answer
    )
    return answer


# An order that failed because a dependency was down: POST /orders answers 503 and names it.
UNAVAILABLE_REASONS: dict[str | None, str] = {
    FailureReason.INVENTORY_UNAVAILABLE: "inventory",
    FailureReason.PAYMENT_UNAVAILABLE: "payment",
}


def answer_for(order: Order) -> Answer:
    """201 with a final order, 202 with one still in flight (never a guess), 503 problem+json
    (the failed order inside) when a dependency was down."""
    if order.status in IN_FLIGHT_STATUSES:
        return Answer(order_id=order.id, status=202, body=order_json(order))
    dependency = UNAVAILABLE_REASONS.get(order.failure_reason)
    if order.status == OrderStatus.FAILED and dependency:
        problem = Problem(
            status=503,
            code=f"{dependency}-unavailable",
            title=f"The {dependency} service is unavailable; the order failed and nothing was charged",
            dependency=dependency,
            order=order_json(order),
        )
        return Answer(order_id=order.id, status=503, body=problem.to_dict())
    return Answer(order_id=order.id, status=201, body=order_json(order))


def catalog_item_json(item: CatalogItem) -> dict[str, Any]:
    """The inventory's product as its events carry it (a word for the stock, not a count)."""
    return {
        "sku": item.sku,
        "name": item.name,
        "price_cents": item.price_cents,
        "availability": item.availability,
        "version": item.version,
        "updated_at": item.changed_at.isoformat(),  # when the inventory changed it, not the copy
    }


def journal_entry_json(entry: JournalEntry) -> dict[str, Any]:
    return {
        "event_id": entry.event_id,
        "type": entry.event_type,
        "producer": entry.producer,
        "time": entry.occurred_at.isoformat(),
        "trace_id": entry.trace_id,
        "offset": entry.stream_offset,
    }


def order_json(order: Order) -> dict[str, Any]:
    return {
        "id": order.id,
        "status": order.status,
        "customer_id": order.customer_id,
        "email": order.email,
        "items": list(order.items),
        "total_cents": order.total_cents,
        "currency": order.currency,
        "failure_reason": order.failure_reason,
        "created_at": order.created_at.isoformat(),
        "updated_at": order.updated_at.isoformat(),
    }


def timeline_json(timeline: Timeline) -> dict[str, Any]:
    order = timeline.order
    return {
        "order_id": order.id,
        "status": order.status,
        "attempts": order.attempts,
        "stock_settled": order.stock_settled,
        "payment_settled": order.payment_settled,
        "next_attempt_at": order.next_attempt_at.isoformat(),
        "transitions": [
            {
                "at": t.at.isoformat(),
                "from": t.from_status,
                "to": t.to_status,
                "cause": t.cause,
                "attempt": t.attempt,
            }
            for t in timeline.transitions
        ],
    }


def page_json(page: OrderPage) -> dict[str, Any]:
    return {"items": [order_json(order) for order in page.orders], "next_cursor": page.next_cursor}


PROBLEMS: ProblemTable = {
    InvalidOrder: ProblemType(
        422, "validation-error", "The order is invalid", extra=field_errors, detail=False
    ),
    InvalidInput: VALIDATION_PROBLEMS[InvalidInput],  # a SKU in the path
    OrderNotFound: ProblemType(404, "order-not-found", "No such order"),
    ProductNotFound: ProblemType(404, "product-not-found", "No such product on sale"),
    ProductRemoved: ProblemType(
        422, "product-removed", "A product of the order is no longer sold; nothing was ordered",
        extra=lambda error: {"sku": error.sku},
    ),
    OrderAlreadyShipped: ProblemType(
        409, "order-already-shipped", "The order was dispatched: it cannot be cancelled", detail=False
    ),
    OrderNotCancellable: ProblemType(
        409, "order-not-cancellable", "an order in {error.status} cannot be cancelled",
        extra=lambda error: {"order_status": error.status}, detail=False,
    ),
    IdempotencyKeyReused: ProblemType(
        422, "idempotency-key-reused", "This Idempotency-Key was used with a different request body",
        detail=False,
    ),
    # Not a domain error: a dependency that did not answer. Nothing changed; come back later.
    DownstreamUnavailable: ProblemType(
        503, "{error.service}-unavailable",
        "The {error.service} service is unavailable; nothing was changed, retry later",
        extra=lambda error: {"dependency": error.service}, detail=False,
        headers=lambda error: {"Retry-After": str(int(error.retry_after))},
    ),
}  # fmt: skip


def create_app(settings: Settings | None = None, *, deps: Dependencies | None = None) -> Flask:
    """`settings`: from the environment when None (gunicorn calls `create_app()`); `deps`: a
    test's own wiring (fakes for inventory and payment, its own engine)."""
    settings = settings or settings_from_env(api=True)
    if deps is None:
        engine = make_engine(settings.database_url, pool_size=settings.pool_size(Role.API))
        deps = build_dependencies(settings, engine=engine)
    return create_api(
        __name__,
        settings=settings,
        engine=deps.engine,
        problems=PROBLEMS,
        blueprints=[orders, products],
        extensions={"deps": deps},
        callers=settings.callers,
        openapi=Path(__file__).with_name("openapi.json"),
        collectors=[in_flight_gauges(engine=deps.engine, horizon_seconds=settings.stale_after_seconds)],
    )
