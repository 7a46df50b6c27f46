"""`python -m inventory_service.expiry` as it runs in its container: survives a database that
is not ready, releases expired holds, keeps its liveness file fresh, stops on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from inventory_service.api import create_app
from inventory_service.config import Settings
from inventory_service.tests.integration.stock import put_product, reserve, stock
from messaging.database import make_engine, upgrade_to_head
from messaging.liveness import is_fresh
from messaging.migrate import service_dir
from testsupport.callers import TEST_CALLERS
from testsupport.polling import wait_until

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def expirer(database_url, tmp_path) -> Iterator[tuple[str, subprocess.Popen, Path]]:
    url = database_url()  # no migrations yet: the expirer may start before the API applied them
    log_path = tmp_path / "expirer.log"
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "RESERVATION_SWEEP_SECONDS": "0.2",
        "LIVENESS_FILE": str(tmp_path / "alive"),
    }
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "inventory_service.expiry"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            yield url, process, tmp_path
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
            print(log_path.read_text()[-20000:])  # shown by pytest when the test fails


def test_the_expirer_waits_for_the_schema_releases_expired_holds_and_stops_on_sigterm(expirer):
    url, process, folder = expirer
    log = folder / "expirer.log"
    wait_until(lambda: "pass failed" in log.read_text(), timeout=30, what="a failed pass")
    assert process.poll() is None, "a database error must not end the expirer"
    assert not (folder / "alive").exists()  # no pass succeeded yet

    upgrade_to_head(service_dir=service_dir("inventory_service"), database_url=url)
    engine = make_engine(url, pool_size=4)
    short = create_app(
        Settings(database_url=url, reservation_hold_seconds=0.5, callers=TEST_CALLERS), engine=engine
    ).test_client()
    long = create_app(
        Settings(database_url=url, reservation_hold_seconds=600, callers=TEST_CALLERS), engine=engine
    ).test_client()
    put_product(short, sku="SKU-X", available=5)
    reserve(short, order_id="short-hold", items=[{"sku": "SKU-X", "quantity": 2}])
    reserve(long, order_id="long-hold", items=[{"sku": "SKU-X", "quantity": 1}])

    def released() -> bool:
        body = short.get("/reservations/short-hold").get_json()
        return (body["status"], body["release_reason"]) == ("RELEASED", "expired")

    wait_until(released, timeout=30, what="the short hold to expire")
    assert short.get("/reservations/long-hold").get_json()["status"] == "RESERVED"
    assert stock(short, sku="SKU-X") == {"available": 4, "reserved": 1, "sold": 0}
    assert is_fresh(str(folder / "alive"), max_age_seconds=30)
    assert "released 1 expired reservation(s): short-hold" in log.read_text()

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == 0
    assert "expirer stopped" in log.read_text()
    engine.dispose()
