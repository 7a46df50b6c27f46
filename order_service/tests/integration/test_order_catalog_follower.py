"""The catalog copy fed from the `catalog` stream (order_service/catalog_follower.py): each
product's latest state, whatever the order or repetition of its events, and a rebuild while
the follower runs, replayed from the stream (a real RabbitMQ with the stream as broker-setup
declares it, a real database)."""

from __future__ import annotations

import dataclasses
import time

import pika
import sqlalchemy as sa
from prometheus_client import REGISTRY

from messaging.broker import ConfirmedPublisher, amqp_properties, connection_parameters
from messaging.envelope import new_event
from messaging.topology import CATALOG_STREAM, EVENTS_EXCHANGE
from order_service import catalog_follower as cli
from order_service.catalog import catalog, catalog_inbox, empty_copy, find_items, list_items
from order_service.catalog_follower import catalog_follower
from testsupport.events import product_event
from testsupport.polling import wait_until
from testsupport.processes import running_on_a_thread


def publish(broker, *envelopes):
    """To `events`, as the inventory's relay does (as the administrator here: this branch's
    broker has no inventory user)."""
    publisher = ConfirmedPublisher(url=broker.url)
    for envelope in envelopes:
        publisher.publish(envelope)
    publisher.close()


def following(engine, broker):
    follower = catalog_follower(engine=engine, broker_url=broker.user_url("order"), idle_seconds=0.1)
    return running_on_a_thread(follower)


def copied(engine, *skus):
    with engine.connect() as connection:
        return find_items(connection, skus=list(skus))


def whole_copy(engine):
    """Every row as the events made it (not when it was copied)."""
    with engine.connect() as connection:
        return [dataclasses.replace(item, copied_at=None) for item in list_items(connection, removed=True)]


def state(item):
    return (item.name, item.price_cents, item.availability, item.removed, item.version)


def sample(name, **labels):
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_the_copy_holds_each_products_latest_state_and_skips_what_it_cannot_hold(engine, catalog_broker):
    lags = sample("pipeline_catalog_lag_seconds_count")
    publish(
        catalog_broker,
        product_event("MUG", 1, type="product.created", price_cents=1200),
        product_event("MUG", 2, price_cents=1100, availability="low"),
        product_event("CUP", 1, type="product.created"),
        product_event("OLD", 1, type="product.created"),
        product_event("OLD", 2, type="product.removed", removed=True),
        new_event(type="product.changed", source="inventory_service", data={"sku": "BROKEN"}),
    )
    with pika.BlockingConnection(connection_parameters(catalog_broker.url)) as connection:
        connection.channel().basic_publish(EVENTS_EXCHANGE, "product.changed", b"not an event")
    publish(catalog_broker, product_event("LAST", 1, type="product.snapshot"))

    with following(engine, catalog_broker):
        wait_until(lambda: copied(engine, "LAST"), timeout=30, what="the last event copied")

    copy = copied(engine, "MUG", "CUP", "OLD", "BROKEN")
    assert {sku: state(item) for sku, item in copy.items()} == {
        "MUG": ("MUG v2", 1100, "low", False, 2),
        "CUP": ("CUP v1", 1200, "in_stock", False, 1),
        "OLD": ("OLD v2", 1200, "in_stock", True, 2),
    }
    with engine.connect() as connection:
        assert [item.sku for item in list_items(connection)] == ["CUP", "LAST", "MUG"]
    # Once per product a batch changed: 4 products, each once or twice (by how the batches fell).
    assert 4 <= sample("pipeline_catalog_lag_seconds_count") - lags <= 6


def test_a_lower_version_after_a_higher_one_and_a_repeated_event_id_change_nothing(engine, catalog_broker):
    duplicates = sample("pipeline_consumer_duplicates_total", consumer="catalog")
    cup = product_event("CUP", 1, price_cents=1000)
    publish(catalog_broker, product_event("MUG", 3, price_cents=1300), cup)
    with following(engine, catalog_broker):
        wait_until(lambda: len(copied(engine, "MUG", "CUP")) == 2, timeout=30, what="both copied")
        # Read after the higher version was committed: the upsert's version rule stops it.
        late = product_event("MUG", 2, price_cents=900)
        # The same event id again with another body (a higher version: only the inbox stops it).
        repeated = dataclasses.replace(product_event("CUP", 2, price_cents=1), id=cup.id)
        publish(catalog_broker, late, repeated, product_event("LAST", 1))
        wait_until(lambda: copied(engine, "LAST"), timeout=30, what="every event read")

    copy = copied(engine, "MUG", "CUP")
    assert state(copy["MUG"]) == ("MUG v3", 1300, "in_stock", False, 3)
    assert state(copy["CUP"]) == ("CUP v1", 1000, "in_stock", False, 1)
    assert sample("pipeline_consumer_duplicates_total", consumer="catalog") - duplicates == 1


def test_a_rebuild_while_the_follower_runs_builds_the_same_copy_from_the_stream(
    engine, catalog_broker, monkeypatch, capsys
):
    events = [product_event(f"SKU-{n}", 1, type="product.created") for n in range(30)]
    events += [product_event(f"SKU-{n}", 2, price_cents=100 + n) for n in range(0, 30, 2)]
    events += [product_event(f"SKU-{n}", 3, removed=True, type="product.removed") for n in range(0, 30, 5)]
    publish(catalog_broker, *events)
    monkeypatch.setenv("DATABASE_URL", engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("ORDER_SERVICE_TOKEN", "test-order-service-token")

    with following(engine, catalog_broker):
        wait_until(lambda: len(inbox(engine)) == len(events), timeout=30, what="every event read")
        before = whole_copy(engine)
        rebuilt_at = database_now(engine)

        assert cli.rebuild(cli.settings_from_env()) == 0  # main() less its logging set-up

        # The follower is idle: it notices the position it wrote is gone, and reads it all again.
        wait_until(lambda: whole_copy(engine) == before, timeout=30, what="the copy rebuilt")

    assert "catalog copy emptied (30 products)" in capsys.readouterr().out
    with engine.connect() as connection:
        oldest = connection.execute(sa.select(sa.func.min(catalog.c.copied_at))).scalar()
    assert oldest > rebuilt_at  # every row copied again, none left over
    assert len(inbox(engine)) == len(events) and len(before) == 30


def inbox(engine):
    with engine.connect() as connection:
        return connection.execute(sa.select(catalog_inbox.table.c.message_id)).all()


def database_now(engine):
    with engine.connect() as connection:
        return connection.execute(sa.select(sa.func.clock_timestamp())).scalar()


PRODUCTS = 10_000


def test_ten_thousand_products_copied_rebuilt_once_idle_and_again_mid_replay(engine, catalog_broker, capsys):
    """How long a replay of ten thousand products takes (printed: pytest -s shows it). The
    events go to the stream straight (the default exchange), not through `events`: the journal
    stream, which every journal test of the session replays, does not get ten thousand more."""
    with pika.BlockingConnection(connection_parameters(catalog_broker.url)) as connection:
        channel = connection.channel()
        channel.confirm_delivery()
        for n in range(PRODUCTS):
            envelope = product_event(f"SKU-{n:05d}", 1, type="product.snapshot")
            channel.basic_publish("", CATALOG_STREAM, envelope.to_json(), amqp_properties(envelope))

    with following(engine, catalog_broker):
        started = time.monotonic()
        wait_until(lambda: products(engine) == PRODUCTS, timeout=120, interval=0.05, what="all copied")
        first_fill = time.monotonic() - started

        started = time.monotonic()
        with engine.begin() as connection:
            empty_copy(connection)
        wait_until(lambda: products(engine) == PRODUCTS, timeout=120, interval=0.05, what="all again")
        rebuild = time.monotonic() - started

        with engine.begin() as connection:
            empty_copy(connection)
        wait_until(lambda: products(engine) >= 1_000, timeout=60, interval=0.05, what="a tenth copied")
        with engine.begin() as connection:  # mid-replay: the follower's next batch finds no position
            empty_copy(connection)
        assert products(engine) < PRODUCTS
        wait_until(lambda: products(engine) == PRODUCTS, timeout=120, interval=0.05, what="all once more")

    assert len(inbox(engine)) == PRODUCTS
    with capsys.disabled():
        print(f"\ncatalog copy: {PRODUCTS} products copied in {first_fill:.1f} s; "
              f"emptied, then replayed from the stream in {rebuild:.1f} s")  # fmt: skip


def products(engine) -> int:
    with engine.connect() as connection:
        return connection.execute(sa.select(sa.func.count()).select_from(catalog)).scalar()
