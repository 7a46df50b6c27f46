"""Small request helpers shared by the inventory integration tests."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.serving import make_server

from contracts import validate_event
from inventory_service import db
from messaging.credentials import ADMIN, ORDER_SERVICE
from testsupport.callers import acting_as, bearer


def reserve(client: FlaskClient, *, order_id: str, items: list[dict[str, Any]]):
    return client.post(
        "/reservations",
        json={"order_id": order_id, "items": items},
        headers={"Idempotency-Key": f"reserve:{order_id}", **bearer(ORDER_SERVICE)},
    )


def put_product(client: FlaskClient, *, sku: str, available: int, price_cents: int = 500):
    response = client.put(
        f"/products/{sku}",
        json={"name": sku.title(), "price_cents": price_cents, "available": available},
        headers=bearer(ADMIN),
    )
    assert response.status_code in (200, 201), response.get_json()
    return response.get_json()


def remove_product(client: FlaskClient, *, sku: str):
    return client.delete(f"/products/{sku}", headers=bearer(ADMIN))


def catalog_events(engine: sa.Engine, *, sku: str | None = None) -> list[dict[str, Any]]:
    """The product events in the outbox (of `sku`'s product only, if given), in the order they
    were written, each checked against its contract as a consumer would read it."""
    table = db.outbox.table
    query = sa.select(table.c.envelope).order_by(table.c.id)
    if sku is not None:
        query = query.where(table.c.envelope["subject"].astext == sku)
    with engine.connect() as connection:
        events = list(connection.execute(query).scalars())
    for event in events:
        validate_event(event)
    return events


def stock(client: FlaskClient, *, sku: str) -> dict[str, int]:
    body = client.get(f"/products/{sku}").get_json()
    return {key: body[key] for key in ("available", "reserved", "sold")}


def total_units(counts: dict[str, int]) -> int:
    return counts["available"] + counts["reserved"] + counts["sold"]


def restock(client: FlaskClient, *, order_id: str, key: str | None = None):
    return client.post(
        f"/reservations/{order_id}/restock",
        headers={"Idempotency-Key": key or f"restock:{order_id}", **bearer(ORDER_SERVICE)},
    )


def units_held_by_status(engine: sa.Engine, *, sku: str) -> dict[str, int]:
    """Per reservation status, the units of `sku` those reservations name (read around the API)."""
    query = (
        sa.select(db.reservations.c.status, sa.func.sum(db.reservation_lines.c.quantity))
        .join(db.reservation_lines, db.reservation_lines.c.order_id == db.reservations.c.order_id)
        .where(db.reservation_lines.c.sku == sku)
        .group_by(db.reservations.c.status)
    )
    with engine.connect() as connection:
        return {status: int(units) for status, units in connection.execute(query)}


def assert_books_balance(client: FlaskClient, engine: sa.Engine, *, sku: str, total: int) -> None:
    """Conservation (available + reserved + sold never changes) and the ledger: `reserved`
    is what RESERVED reservations hold, `sold` what COMMITTED ones hold."""
    counts = stock(client, sku=sku)
    held = units_held_by_status(engine, sku=sku)
    assert total_units(counts) == total, counts
    assert counts["reserved"] == held.get("RESERVED", 0), (counts, held)
    assert counts["sold"] == held.get("COMMITTED", 0), (counts, held)


def run_at_once(app: Flask, *, calls: list[Callable[[FlaskClient], Any]]) -> list[Any]:
    """Each call gets its own test client (the order service's); a barrier releases them together
    to maximise overlap."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[FlaskClient], Any]) -> Any:
        client = acting_as(app.test_client(), ORDER_SERVICE)
        barrier.wait(timeout=30)
        return call(client)

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def status_and_code(response) -> tuple[int, str | None]:
    return response.status_code, response.get_json().get("code")


@contextmanager
def served(app: Flask) -> Iterator[str]:
    """The app behind a real threaded HTTP server: concurrent callers on their own sockets."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
