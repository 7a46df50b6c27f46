"""The order service's metrics against a real PostgreSQL, with fake inventory and payment:
pipeline_orders_total by status, the saga's step timings, the in-flight gauges of GET /metrics."""

from __future__ import annotations

import sqlalchemy as sa
from prometheus_client import REGISTRY

from messaging.envelope import new_event
from order_service import db, handlers
from order_service.api import answer_place_order, create_app
from order_service.config import Settings
from order_service.tests.integration.fakes import FakeInventory, FakePayment
from order_service.tests.integration.support import make_deps, order_body
from testsupport.callers import TEST_CALLERS


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_outcomes_are_counted_once_each_and_the_steps_timed(engine):
    statuses = ("CONFIRMED", "REJECTED", "FAILED", "SHIPPED")
    steps = ("reserve", "charge", "commit")
    before = [sample("pipeline_orders_total", status=s) for s in statuses]
    timed = [sample("pipeline_saga_step_duration_seconds_count", step=s) for s in steps]

    confirmed = answer_place_order(deps=make_deps(engine), idempotency_key="a", body=order_body())
    answer_place_order(deps=make_deps(engine), idempotency_key="a", body=order_body())  # a replay
    answer_place_order(
        deps=make_deps(engine, inventory=FakeInventory(refuse="out-of-stock")),
        idempotency_key="b",
        body=order_body(),
    )
    answer_place_order(
        deps=make_deps(engine, payment=FakePayment(decline=True)), idempotency_key="c", body=order_body()
    )
    shipped = new_event(type="shipment.dispatched", source="test", data={"order_id": confirmed.order_id})
    handlers.record_shipments_dispatched(engine=engine, envelopes=[shipped, shipped])  # a duplicate

    after = [sample("pipeline_orders_total", status=s) for s in statuses]
    assert [a - b for a, b in zip(after, before, strict=True)] == [1, 1, 1, 1]
    timed_after = [sample("pipeline_saga_step_duration_seconds_count", step=s) for s in steps]
    # reserve: three orders; charge: the confirmed and the declined one; commit: the confirmed one
    assert [a - b for a, b in zip(timed_after, timed, strict=True)] == [3, 2, 1]


def test_get_metrics_reports_orders_in_flight_and_overdue_for_the_sweeper(engine):
    deps = make_deps(engine, payment=FakePayment(down=True, maybe_applied=True))
    settings = Settings(
        database_url="unused", service_token="t", callers=TEST_CALLERS, stale_after_seconds=10
    )
    client = create_app(settings, deps=deps).test_client()
    answer_place_order(deps=deps, idempotency_key="k", body=order_body())  # stays PAYMENT_PENDING

    def gauge(name: str) -> float:
        for line in client.get("/metrics").text.splitlines():
            if line.startswith(f"{name} "):
                return float(line.split()[1])
        raise AssertionError(f"{name} not in /metrics")

    assert gauge("pipeline_orders_in_flight") == 1
    assert gauge("pipeline_orders_overdue") == 0
    with engine.begin() as connection:  # due a minute ago, and no sweeper took it
        connection.execute(
            db.orders.update().values(next_attempt_at=sa.func.now() - sa.text("interval '60 s'"))
        )
    assert gauge("pipeline_orders_overdue") == 1
    assert gauge("pipeline_orders_in_flight_oldest_seconds") >= 0
