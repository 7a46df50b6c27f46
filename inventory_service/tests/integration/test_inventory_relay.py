"""inventory-relay as compose runs it (python -m messaging.relay on the inventory's database, as
the inventory's broker user): the catalog's events reach the `catalog` stream, where the order
service's user reads them, and leave nothing unsent."""

from __future__ import annotations

import json

import pika
import sqlalchemy as sa

from inventory_service import db, handlers
from inventory_service.tests.integration.stock import catalog_events, put_product, remove_product
from messaging.broker import connection_parameters
from messaging.relay import OutboxRelay
from messaging.topology import CATALOG_STREAM


def catalog_stream(broker_url: str) -> dict[str, dict]:
    """Every event in the catalog stream, from its first offset, by message id."""
    connection = pika.BlockingConnection(connection_parameters(broker_url))
    channel = connection.channel()
    channel.basic_qos(prefetch_count=1000)
    messages = {}
    for method, properties, body in channel.consume(
        CATALOG_STREAM, arguments={"x-stream-offset": "first"}, inactivity_timeout=1.0
    ):
        if method is None:
            break
        messages[properties.message_id] = json.loads(body)
        channel.basic_ack(method.delivery_tag)
    connection.close()
    return messages


def test_the_catalog_reaches_its_stream_through_the_inventorys_own_relay(
    inventory_client, inventory_engine, rabbitmq_server
):
    rabbitmq_server.set_up()  # the topology with the catalog stream, and the users
    put_product(inventory_client, sku="SKU-RELAYED", available=3)
    remove_product(inventory_client, sku="SKU-RELAYED")
    handlers.publish_snapshot(engine=inventory_engine)
    written = {event["id"]: event for event in catalog_events(inventory_engine)}

    relay = OutboxRelay(
        engine=inventory_engine, outbox=db.outbox, broker_url=rabbitmq_server.user_url("inventory")
    )
    try:
        assert relay.relay_batch() == len(written) == 2 + 6  # created, removed; 6 snapshots
    finally:
        relay.reset()

    stream = catalog_stream(rabbitmq_server.user_url("order"))  # the reader the stream is for
    assert {event_id: stream.get(event_id) for event_id in written} == written
    with inventory_engine.connect() as connection:
        unsent = connection.execute(
            sa.select(sa.func.count()).where(db.outbox.table.c.sent_at.is_(None))
        ).scalar_one()
    assert unsent == 0
