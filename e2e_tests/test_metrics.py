"""Prometheus against the running stack: every process it scrapes is up, and an order placed
and confirmed shows in pipeline_orders_total (the order API's /metrics, then Prometheus)."""

from __future__ import annotations

import requests

from e2e_tests.stack import URLS, new_sku, order_body, post_order
from testsupport.polling import wait_until
from testsupport.scrape import scraped_value

PROMETHEUS = URLS.prometheus
JOBS = {"prometheus", "api", "worker", "relay", "expirer", "catalog", "rabbitmq", "rabbitmq-queues"}
SCRAPES = 60  # seconds: the targets come up with the stack, then one 15 s scrape interval or two


def targets() -> list[dict]:
    response = requests.get(f"{PROMETHEUS}/api/v1/targets", params={"state": "active"}, timeout=10)
    response.raise_for_status()
    return response.json()["data"]["activeTargets"]


def down() -> list[str]:
    return [
        f"{t['labels']['instance']}: {t['health']} {t['lastError']}" for t in targets() if t["health"] != "up"
    ]


def confirmed_in_prometheus() -> float:
    response = requests.get(
        f"{PROMETHEUS}/api/v1/query",
        params={"query": 'sum(pipeline_orders_total{status="CONFIRMED"})'},
        timeout=10,
    )
    response.raise_for_status()
    result = response.json()["data"]["result"]
    return float(result[0]["value"][1]) if result else 0.0


def test_prometheus_scrapes_every_process_of_the_stack():
    wait_until(
        lambda: requests.get(f"{PROMETHEUS}/-/ready", timeout=5).ok, timeout=SCRAPES, what="prometheus"
    )
    assert {t["labels"]["job"] for t in targets()} == JOBS
    # itself, the APIs and order-web, the workers, the relays, the expirer, order-catalog, RabbitMQ twice
    assert len(targets()) == 1 + 6 + 3 + 4 + 1 + 1 + 2
    wait_until(lambda: not down(), timeout=SCRAPES, what="every target up")


def test_a_confirmed_order_shows_in_pipeline_orders_total():
    metrics = f"{URLS.order}/metrics"
    before_api = scraped_value(metrics, "pipeline_orders_total", status="CONFIRMED") or 0.0
    before = confirmed_in_prometheus()

    response = post_order(order_body(sku=new_sku(available=5)))

    assert response.status_code == 201, response.text
    assert response.json()["status"] == "CONFIRMED"
    assert (scraped_value(metrics, "pipeline_orders_total", status="CONFIRMED") or 0.0) >= before_api + 1
    wait_until(
        lambda: confirmed_in_prometheus() >= before + 1, timeout=SCRAPES, what="prometheus to scrape it"
    )
