"""`python -m order_service.catalog_follower` as order-catalog runs it: it copies the stream,
reconciles with a (fake) inventory every CATALOG_RECONCILE_SECONDS into its gauge, keeps
copying while the inventory is down; and the `reconcile` command's lines and exit status."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from collections.abc import Iterator
from threading import Thread

import pytest
from flask import Flask, jsonify, request
from werkzeug.serving import make_server

from messaging.liveness import is_fresh
from order_service.tests.integration.test_order_catalog_follower import copied, publish
from testsupport.containers import free_port
from testsupport.events import product_event
from testsupport.polling import wait_until
from testsupport.processes import ROOT, running
from testsupport.scrape import scraped_value

TOKEN = "test-order-service-token"


class FakeInventory:
    """GET /products answers `products` (500 while `down`) and remembers the credentials."""

    def __init__(self) -> None:
        self.products: list[dict] = []
        self.down = False
        self.credentials: list[str | None] = []
        app = Flask("fake-inventory")

        @app.get("/products")
        def products():
            self.credentials.append(request.headers.get("Authorization"))
            return ({}, 500) if self.down else (jsonify(self.products), 200)

        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        Thread(target=self.server.serve_forever, daemon=True).start()


def as_listed(event) -> dict:
    """The inventory's GET /products entry for the product an event describes."""
    data = event.data
    return {key: data[key] for key in ("sku", "name", "price_cents", "availability", "version")} | {
        "available": 5,
        "reserved": 0,
        "sold": 0,
    }


@pytest.fixture
def inventory() -> Iterator[FakeInventory]:
    fake = FakeInventory()
    yield fake
    fake.server.shutdown()


@pytest.fixture
def environment(engine, catalog_broker, inventory, tmp_path) -> dict[str, str]:
    env = {
        **os.environ,
        "DATABASE_URL": engine.url.render_as_string(hide_password=False),
        "BROKER_URL": catalog_broker.user_url("order"),  # its own user, as in compose
        "INVENTORY_URL": inventory.url,
        "ORDER_SERVICE_TOKEN": TOKEN,
        "INVENTORY_CALL_ATTEMPTS": "1",
        "LIVENESS_FILE": str(tmp_path / "alive"),
        "CATALOG_IDLE_SECONDS": "0.1",
        "CATALOG_RECONCILE_SECONDS": "0.2",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # one process: its own registry
    return env


def test_order_catalog_copies_reconciles_into_its_gauge_and_outlives_the_inventory(
    engine, catalog_broker, inventory, environment, tmp_path
):
    mug, cup = product_event("MUG", 1), product_event("CUP", 2, price_cents=990)
    inventory.products = [as_listed(mug), as_listed(cup)]
    publish(catalog_broker, mug, cup)
    port = free_port()
    command = [sys.executable, "-m", "order_service.catalog_follower"]
    with running(command, env={**environment, "METRICS_PORT": str(port)}, log_path=tmp_path / "catalog.log"):
        metrics = f"http://127.0.0.1:{port}/metrics"
        wait_until(
            lambda: scraped_value(metrics, "pipeline_catalog_differences") == 0,
            timeout=30,
            what="the copy reconciled",
        )
        assert scraped_value(metrics, "pipeline_catalog_lag_seconds_count") == 2
        assert is_fresh(environment["LIVENESS_FILE"], max_age_seconds=5)

        inventory.products.append(as_listed(product_event("NEW", 1)))  # its event is not out yet
        wait_until(lambda: scraped_value(metrics, "pipeline_catalog_differences") == 1, timeout=30)

        inventory.down = True
        wait_until(lambda: math.isnan(scraped_value(metrics, "pipeline_catalog_differences")), timeout=30)
        publish(catalog_broker, product_event("NEW", 1))
        wait_until(lambda: copied(engine, "NEW"), timeout=30, what="copied with the inventory down")

        inventory.down = False
        wait_until(lambda: scraped_value(metrics, "pipeline_catalog_differences") == 0, timeout=30)

    assert set(inventory.credentials) == {f"Bearer {TOKEN}"}


def reconcile_command(environment) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "order_service.catalog_follower", "reconcile"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_reconcile_prints_each_difference_and_exits_1_then_0_once_they_agree(engine, inventory, environment):
    mug = product_event("MUG", 1)
    inventory.products = [as_listed(mug), as_listed(product_event("CUP", 1))]

    found = reconcile_command(environment)

    assert found.returncode == 1, found.stderr
    assert found.stdout.splitlines() == [
        "CUP: missing in the copy (inventory version 1)",
        "MUG: missing in the copy (inventory version 1)",
    ]

    inventory.products = []
    agreed = reconcile_command(environment)

    assert (agreed.returncode, agreed.stdout) == (0, ""), agreed.stderr
