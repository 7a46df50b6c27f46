"""One order, one exported trace: the stack's processes recreated with
OTEL_EXPORTER_OTLP_ENDPOINT pointing at a test OTLP/HTTP receiver on the host (reached at the
compose network's gateway), then an order; its trace holds spans from order, inventory and
payment, the three relays and the three consumers, each parented to a span of the same trace
(the root to the client's). The processes are recreated without the exporter afterwards."""

from __future__ import annotations

import uuid

import requests

from e2e_tests.chaos.faults import recreate_with_env
from e2e_tests.stack import ORDER_PROCESSES, URLS, containers, new_sku, order, order_body, sent_kinds
from testsupport.otlp import OtlpReceiver, ReceivedSpan
from testsupport.polling import wait_until

EVENTUAL = 60
EXPORTING = ORDER_PROCESSES
CLIENT_SPAN = "1" * 16
SERVER, CLIENT, PRODUCER, CONSUMER = 2, 3, 4, 5  # the proto's span kinds


def network_gateway() -> str:
    """The host as the stack's containers reach it (the engine here maps no host-gateway)."""
    (network,) = containers("order-api")[0].attrs["NetworkSettings"]["Networks"].values()
    return network["Gateway"]


def exporting_to(endpoint: str) -> None:
    for service in EXPORTING:
        recreate_with_env(service, {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint})


def count(spans: list[ReceivedSpan], service: str, kind: int) -> int:
    return sum(span.service == service and span.kind == kind for span in spans)


def kinds_by_service(spans: list[ReceivedSpan]) -> dict[str, set[int]]:
    found: dict[str, set[int]] = {}
    for span in spans:
        found.setdefault(span.service, set()).add(span.kind)
    return found


def test_one_order_is_one_exported_trace_from_every_process_correctly_parented():
    receiver = OtlpReceiver(host="0.0.0.0")
    with receiver.running():
        try:
            exporting_to(f"http://{network_gateway()}:{receiver.port}")
            trace_id = uuid.uuid4().hex
            response = requests.post(
                f"{URLS.order}/orders",
                json=order_body(sku=new_sku(available=5)),
                headers={
                    "Idempotency-Key": str(uuid.uuid4()),
                    "traceparent": f"00-{trace_id}-{CLIENT_SPAN}-01",
                },
                timeout=30,
            )
            assert response.status_code == 201, response.text
            order_id = response.json()["id"]
            wait_until(lambda: order(order_id)["status"] == "SHIPPED", timeout=EVENTUAL, what="SHIPPED")
            wait_until(lambda: sent_kinds(order_id) == ["order_confirmed", "order_shipped"], timeout=EVENTUAL)
            # The exporters send in batches, every 5 s at most. The last spans are the two
            # emails' notification.sent, published, then consumed by the order worker (after
            # its shipment.dispatched): every parent must be in before the check of orphans.
            wait_until(
                lambda: (
                    set(EXPORTING) <= set(kinds_by_service(spans := receiver.trace(trace_id)))
                    and count(spans, "notification-relay", PRODUCER) >= 2
                    and count(spans, "order-worker", CONSUMER) >= 3
                ),
                timeout=EVENTUAL,
                what="spans of every process exported",
            )
        finally:
            exporting_to("")

    spans = receiver.trace(trace_id)
    kinds = kinds_by_service(spans)
    assert SERVER in kinds["order-api"] and CLIENT in kinds["order-api"]
    assert SERVER in kinds["inventory-api"] and SERVER in kinds["payment-api"]
    assert all(PRODUCER in kinds[relay] for relay in ("order-relay", "warehouse-relay", "notification-relay"))
    assert all(
        CONSUMER in kinds[consumer]
        for consumer in ("warehouse-worker", "order-worker", "notification-worker")
    )
    by_id = {span.span_id: span for span in spans}
    orphans = [
        span for span in spans if span.parent_span_id not in by_id and span.parent_span_id != CLIENT_SPAN
    ]
    assert orphans == [], orphans
    # Who is whose parent, along the order's path.
    assert all(
        by_id[s.parent_span_id].service == "order-api"
        for s in spans
        if s.service in ("inventory-api", "payment-api") and s.kind == SERVER
    )
    consumed = [s for s in spans if s.kind == CONSUMER and s.parent_span_id in by_id]
    assert {by_id[s.parent_span_id].kind for s in consumed} == {PRODUCER}
    assert {by_id[s.parent_span_id].service for s in consumed} == {
        "order-relay",
        "warehouse-relay",
        "notification-relay",
    }
