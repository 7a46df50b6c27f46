"""The relay publishes every outbox row with confirms, survives a broker restart, and never
marks an event sent that no consumer's queue received (the journal stream, bound to every
key, would take it: the relay asks the topology, messaging.broker.RouteCheck)."""

from __future__ import annotations

import threading

import pika
import pytest
import sqlalchemy as sa

from messaging.broker import connection_parameters
from messaging.database import make_engine
from messaging.envelope import new_event
from messaging.outbox import Outbox, outbox_table
from messaging.relay import OutboxRelay
from messaging.topology import declare_with_pika
from testsupport.polling import wait_until

outbox = Outbox(outbox_table(sa.MetaData()))


@pytest.fixture
def engine(database_url):
    engine = make_engine(database_url(migrate="order_service"), pool_size=4)  # any service with an outbox
    yield engine
    engine.dispose()


@pytest.fixture
def relay(engine, rabbitmq_server):
    # The order service's own user, as in compose: its outbox holds order.* events only.
    relay = OutboxRelay(
        engine=engine, outbox=outbox, broker_url=rabbitmq_server.user_url("order"), idle_seconds=0.2
    )
    stop = threading.Event()
    thread = threading.Thread(target=relay.run_forever, args=(stop,), daemon=True)
    thread.start()
    yield relay
    stop.set()
    thread.join(timeout=10)


def add_events(engine, count, *, type="order.confirmed"):
    with engine.begin() as connection:
        events = [new_event(type=type, source="test", data={"order_id": f"o{i}"}) for i in range(count)]
        for event in events:
            outbox.add(connection, event)
    return {event.id for event in events}


def unsent(engine):
    with engine.connect() as connection:
        return connection.execute(
            sa.select(sa.func.count()).select_from(outbox.table).where(outbox.table.c.sent_at.is_(None))
        ).scalar()


def drain(broker_url, queue):
    """Every message id now in `queue` (acked, so the queue is left empty)."""
    connection = pika.BlockingConnection(connection_parameters(broker_url))
    channel = connection.channel()
    ids = []
    while (message := channel.basic_get(queue, auto_ack=True))[0] is not None:
        ids.append(message[1].message_id)
    connection.close()
    return ids


def purge(broker_url):
    connection = pika.BlockingConnection(connection_parameters(broker_url))
    channel = connection.channel()
    declare_with_pika(channel)
    channel.queue_purge("warehouse.orders")
    connection.close()


def test_every_row_is_published_once_confirmed_even_across_a_broker_restart(engine, rabbitmq_server, relay):
    purge(rabbitmq_server.url)
    before = add_events(engine, 50)
    wait_until(lambda: unsent(engine) == 0, timeout=30, what="first batch sent")

    rabbitmq_server.restart()
    after = add_events(engine, 50)
    wait_until(lambda: unsent(engine) == 0, timeout=60, what="relay to reconnect and send")

    received = drain(rabbitmq_server.url, "warehouse.orders")
    assert (before | after) <= set(received)  # at-least-once: nothing confirmed was lost
    assert set(received) <= before | after


def test_an_unroutable_event_stays_in_the_outbox(engine, rabbitmq_server, relay):
    routable = add_events(engine, 1)
    add_events(engine, 1, type="order.nobody-listens")  # the order user may publish it; no queue binds it

    def unsent_row():
        with engine.connect() as connection:
            return connection.execute(sa.select(outbox.table).where(outbox.table.c.sent_at.is_(None))).one()

    # The two may go in one pass or two: wait until the routable one is sent and the other tried.
    wait_until(
        lambda: unsent(engine) == 1 and unsent_row().attempts >= 1,
        timeout=30,
        what="the routable event sent and the unroutable one tried",
    )
    row = unsent_row()
    assert row.event_type == "order.nobody-listens"
    assert row.last_error == "no queue of the topology takes order.nobody-listens" and row.attempts >= 1
    assert routable


def test_an_event_whose_queue_is_missing_stays_unsent_and_the_relay_not_alive_until_it_is_back(
    engine, rabbitmq_server, tmp_path
):
    admin = pika.BlockingConnection(connection_parameters(rabbitmq_server.url))
    admin.channel().queue_delete("warehouse.orders")  # order.confirmed also goes to notification.events
    alive = tmp_path / "alive"
    relay = OutboxRelay(
        engine=engine,
        outbox=outbox,
        broker_url=rabbitmq_server.user_url("order"),
        idle_seconds=0.1,
        liveness_file=str(alive),
    )
    relay.routes.every_seconds = 0.0  # ask the broker on every event, not every 30 s
    stop = threading.Event()
    thread = threading.Thread(target=relay.run_forever, args=(stop,), daemon=True)
    try:
        thread.start()
        (event_id,) = add_events(engine, 1)

        def row():
            with engine.connect() as connection:
                return connection.execute(
                    sa.select(outbox.table).where(outbox.table.c.event_id == event_id)
                ).one()

        wait_until(lambda: "warehouse.orders" in (row().last_error or ""), timeout=30, what="a pass")
        alive.unlink(missing_ok=True)  # a pass before the event was added may have touched it
        tried = row().attempts
        wait_until(lambda: row().attempts >= tried + 2, timeout=30, what="two more passes")
        assert row().sent_at is None and not alive.exists()

        declare_with_pika(admin.channel())  # broker-setup run again
        wait_until(lambda: unsent(engine) == 0, timeout=30, what="the event sent once the queue is back")
        wait_until(alive.exists, timeout=10, what="the relay alive again")
        assert event_id in drain(rabbitmq_server.url, "warehouse.orders")
    finally:
        stop.set()
        thread.join(timeout=10)
        admin.close()


def test_a_relay_is_alive_only_while_it_reaches_the_broker(engine, rabbitmq_server, tmp_path):
    """Its liveness file is its broker check (messaging.liveness): a pass that cannot publish
    does not touch it, so the healthcheck fails while the broker is unreachable."""

    def run(broker_url: str, alive, *, until) -> None:
        relay = OutboxRelay(
            engine=engine, outbox=outbox, broker_url=broker_url, idle_seconds=0.1, liveness_file=str(alive)
        )
        failures = []
        reset = relay.reset
        relay.reset = lambda: failures.append(1) or reset()  # after every failed pass, and at the end
        stop = threading.Event()
        thread = threading.Thread(target=relay.run_forever, args=(stop,), daemon=True)
        thread.start()
        try:
            wait_until(lambda: until(failures), timeout=30, what="the relay's passes")
        finally:
            stop.set()
            thread.join(timeout=10)

    unreachable = tmp_path / "unreachable"
    run("amqp://test:test@127.0.0.1:1/%2F", unreachable, until=lambda failures: len(failures) >= 3)
    assert not unreachable.exists()

    reachable = tmp_path / "reachable"
    run(rabbitmq_server.url, reachable, until=lambda _: reachable.exists())
