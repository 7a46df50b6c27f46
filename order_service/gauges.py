"""The order service's scrape-time gauges (GET /metrics of the order API): the orders still in
flight, and those no sweeper resumed in time (the OrderStuck alert). Read by the API, not by
the worker: the worker runs the sweeper, and a dead sweeper must not silence its own alarm."""

from __future__ import annotations

import sqlalchemy as sa

from messaging.metrics import ScrapeTimeGauges
from order_service import db

GAUGES = {
    "pipeline_orders_in_flight": ("Orders whose saga has not ended (PENDING, RESERVED, PAYMENT_PENDING)", ()),
    "pipeline_orders_overdue": (
        "In-flight orders due for the sweeper more than SWEEPER_STALE_AFTER_SECONDS ago: stuck",
        (),
    ),
    "pipeline_orders_in_flight_oldest_seconds": (
        "Seconds since the least recently moved in-flight order last changed status (0: none)",
        (),
    ),
}


def in_flight_gauges(*, engine: sa.Engine, horizon_seconds: float) -> ScrapeTimeGauges:
    """`horizon_seconds`: the sweeper's (SWEEPER_STALE_AFTER_SECONDS)."""

    def read() -> dict[str, dict[tuple[str, ...], float]]:
        with engine.connect() as connection:
            found = db.in_flight(connection, horizon_seconds=horizon_seconds)
        return {
            "pipeline_orders_in_flight": {(): found.count},
            "pipeline_orders_overdue": {(): found.overdue},
            "pipeline_orders_in_flight_oldest_seconds": {(): found.oldest_seconds},
        }

    return ScrapeTimeGauges(gauges=GAUGES, read=read)
