"""Reservation holds expire: released once, never when committed or released, books balanced."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from inventory_service import handlers
from inventory_service.api import create_app
from inventory_service.config import Settings
from inventory_service.tests.integration.stock import (
    assert_books_balance,
    put_product,
    reserve,
    run_at_once,
    status_and_code,
    stock,
)
from testsupport.callers import TEST_CALLERS

SKU = "SKU-HOLD"
LATER = datetime.now(UTC) + timedelta(hours=1)  # every default (600 s) hold has run out by then


def one_unit(client, order_id: str):
    return reserve(client, order_id=order_id, items=[{"sku": SKU, "quantity": 1}])


def status_of(client, order_id: str) -> tuple[str, str | None]:
    body = client.get(f"/reservations/{order_id}").get_json()
    return body["status"], body["release_reason"]


@pytest.fixture
def stocked(inventory_client) -> int:
    put_product(inventory_client, sku=SKU, available=100)
    return 100


def test_a_reservation_holds_for_the_configured_time(database_url):
    app = create_app(
        Settings(
            database_url=database_url(migrate="inventory_service"),
            reservation_hold_seconds=90,
            callers=TEST_CALLERS,
        )
    )
    before = datetime.now(UTC)

    response = reserve(app.test_client(), order_id="order-1", items=[{"sku": "SKU-TEAPOT", "quantity": 1}])

    expires_at = datetime.fromisoformat(response.get_json()["expires_at"])
    assert before + timedelta(seconds=85) < expires_at < datetime.now(UTC) + timedelta(seconds=95)
    assert response.get_json()["release_reason"] is None
    app.extensions["engine"].dispose()


def test_an_expired_hold_is_released_once_and_its_units_come_back(
    inventory_client, inventory_engine, stocked
):
    for n in range(3):
        one_unit(inventory_client, f"order-{n}")

    assert handlers.expire_reservations(engine=inventory_engine) == []  # holds still running
    released = handlers.expire_reservations(engine=inventory_engine, now=LATER)
    again = handlers.expire_reservations(engine=inventory_engine, now=LATER)

    assert sorted(released) == ["order-0", "order-1", "order-2"]
    assert again == []
    assert {status_of(inventory_client, f"order-{n}") for n in range(3)} == {("RELEASED", "expired")}
    assert stock(inventory_client, sku=SKU) == {"available": 100, "reserved": 0, "sold": 0}
    assert_books_balance(inventory_client, inventory_engine, sku=SKU, total=stocked)


def test_a_committed_or_released_reservation_is_never_expired(inventory_client, inventory_engine, stocked):
    for order_id in ("held", "committed", "released"):
        one_unit(inventory_client, order_id)
    inventory_client.post("/reservations/committed/commit")
    inventory_client.post("/reservations/released/release")
    inventory_client.post("/reservations/tombstone/release")  # never reserved

    assert handlers.expire_reservations(engine=inventory_engine, now=LATER) == ["held"]

    assert status_of(inventory_client, "committed") == ("COMMITTED", None)
    assert status_of(inventory_client, "released") == ("RELEASED", "order")
    assert status_of(inventory_client, "tombstone") == ("RELEASED", "order")
    assert stock(inventory_client, sku=SKU) == {"available": 99, "reserved": 0, "sold": 1}
    assert_books_balance(inventory_client, inventory_engine, sku=SKU, total=stocked)


def test_after_expiry_commit_and_reserve_are_refused_and_release_is_a_no_op(
    inventory_client, inventory_engine, stocked
):
    one_unit(inventory_client, "late")
    handlers.expire_reservations(engine=inventory_engine, now=LATER)

    commit = inventory_client.post("/reservations/late/commit")
    replay = one_unit(inventory_client, "late")
    release = inventory_client.post("/reservations/late/release")

    # The order service learns from this 409 that the stock is gone: it must refund.
    assert status_and_code(commit) == (409, "reservation-released")
    assert status_and_code(replay) == (409, "reservation-released")
    assert release.status_code == 200
    assert (release.get_json()["status"], release.get_json()["release_reason"]) == ("RELEASED", "expired")
    assert stock(inventory_client, sku=SKU) == {"available": 100, "reserved": 0, "sold": 0}


def test_the_limit_bounds_one_pass(inventory_client, inventory_engine, stocked):
    for n in range(5):
        one_unit(inventory_client, f"order-{n}")

    assert len(handlers.expire_reservations(engine=inventory_engine, now=LATER, limit=2)) == 2
    assert stock(inventory_client, sku=SKU)["reserved"] == 3


def test_two_concurrent_expirers_release_each_reservation_exactly_once(
    inventory_client, inventory_engine, stocked
):
    orders = [f"order-{n:02d}" for n in range(60)]
    for order_id in orders:
        reserve(
            inventory_client,
            order_id=order_id,
            items=[{"sku": SKU, "quantity": 1}, {"sku": "SKU-TEA-TOWEL", "quantity": 1}],
        )
    start = threading.Barrier(2)
    released: list[list[str]] = []
    errors: list[BaseException] = []

    def expirer() -> None:
        mine: list[str] = []
        try:
            start.wait(timeout=10)
            # Small batches, so that the two transactions overlap many times.
            while batch := handlers.expire_reservations(engine=inventory_engine, now=LATER, limit=3):
                mine.extend(batch)
        except BaseException as error:  # noqa: BLE001 - surfaced by the assertion below
            errors.append(error)
        released.append(mine)

    threads = [threading.Thread(target=expirer) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    everything = released[0] + released[1]
    assert sorted(everything) == orders  # all of them, none twice
    assert stock(inventory_client, sku=SKU) == {"available": 100, "reserved": 0, "sold": 0}
    assert stock(inventory_client, sku="SKU-TEA-TOWEL") == {"available": 200, "reserved": 0, "sold": 0}
    assert_books_balance(inventory_client, inventory_engine, sku="SKU-TEA-TOWEL", total=200)


def test_commits_racing_the_expirer_either_commit_or_expire_never_both(
    inventory_app, inventory_client, inventory_engine, stocked
):
    orders = [f"race-{n:02d}" for n in range(30)]
    for order_id in orders:
        one_unit(inventory_client, order_id)

    def commit(order_id: str):
        return lambda client: (order_id, status_and_code(client.post(f"/reservations/{order_id}/commit")))

    def expire(_client):
        return ("expirer", handlers.expire_reservations(engine=inventory_engine, now=LATER, limit=5))

    results = run_at_once(inventory_app, calls=[commit(o) for o in orders] + [expire] * 4)

    expired = {order_id for who, batch in results if who == "expirer" for order_id in batch}
    answers = {who: answer for who, answer in results if who != "expirer"}
    expired |= set(handlers.expire_reservations(engine=inventory_engine, now=LATER))  # none left behind
    for order_id in orders:
        if order_id in expired:
            assert answers[order_id] == (409, "reservation-released")
            assert status_of(inventory_client, order_id) == ("RELEASED", "expired")
        else:
            assert answers[order_id] == (200, None)
            assert status_of(inventory_client, order_id) == ("COMMITTED", None)
    outcome = Counter(status_of(inventory_client, order_id)[0] for order_id in orders)
    assert stock(inventory_client, sku=SKU) == {
        "available": 100 - outcome["COMMITTED"],
        "reserved": 0,
        "sold": outcome["COMMITTED"],
    }
    assert_books_balance(inventory_client, inventory_engine, sku=SKU, total=stocked)
