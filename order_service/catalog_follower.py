"""order-catalog: keeps the order service's catalog copy (order_service/catalog.py) from the
`catalog` stream, the inventory's product events (messaging.topology), and the operator's two
commands on it.

    python -m order_service.catalog_follower            follow the stream (compose's order-catalog)
    python -m order_service.catalog_follower rebuild    empty the copy: the follower replays the stream
    python -m order_service.catalog_follower reconcile  print how the copy differs from the inventory

The follower is messaging.stream_follower's: one subscription from the stored offset (the
stream's start the first time, and after a rebuild), each batch applied with the position in
one transaction. It notices a rebuild by itself (the position it wrote is gone) and reads the
stream again, no restart. Every CATALOG_RECONCILE_SECONDS a thread compares the copy with the
inventory (order_service/catalog_reconcile.py) for pipeline_catalog_differences.

DATABASE_URL: the order database; BROKER_URL: the order service's user, which may read the
stream (docs/security.md); INVENTORY_URL and ORDER_SERVICE_TOKEN as for the order API.
docs/catalog.md has the whole story.
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from messaging.database import make_engine
from messaging.envelope import MalformedEvent, envelope_from_json
from messaging.logs import configure_logging
from messaging.metrics import serve_metrics
from messaging.runloop import stop_on_signals
from messaging.settings import Env, Role
from messaging.stream_follower import Delivery, StreamFollower
from messaging.topology import CATALOG_STREAM
from order_service import config
from order_service.bootstrap import inventory_client
from order_service.catalog import apply_product_events, empty_copy
from order_service.catalog_reconcile import reconcile, reconcile_every
from order_service.db import journal_position

log = logging.getLogger("catalog")


def record_products(connection: sa.Connection, deliveries: list[Delivery]) -> None:
    """A batch of the stream into the copy, in the follower's transaction."""
    envelopes = []
    for delivery in deliveries:
        try:
            envelopes.append(envelope_from_json(delivery.body))
        except MalformedEvent:
            log.warning("catalog offset %d skipped: not an event envelope", delivery.offset)
    apply_product_events(connection, envelopes)


def catalog_follower(*, engine: sa.Engine, broker_url: str, **options: Any) -> StreamFollower:
    """`options`: StreamFollower's batch_size, idle_seconds, liveness_file."""
    return StreamFollower(
        stream=CATALOG_STREAM,
        position=journal_position,
        record=record_products,
        engine=engine,
        broker_url=broker_url,
        **options,
    )


@dataclass(frozen=True, kw_only=True)
class CatalogSettings(config.Settings):
    """The order service's settings (the inventory's URL, client settings and the token the
    reconcile presents), and the follower's own."""

    # 500 per transaction: a replay of 10,000 products is 20 commits (docs/catalog.md: its time).
    batch_size: int = 500
    idle_seconds: float = 1.0  # the longest a pass waits for a delivery
    reconcile_seconds: float = 60.0  # 0: no periodic reconcile


def settings_from_env(environ: Mapping[str, str] | None = None) -> CatalogSettings:
    env = Env(environ)
    return CatalogSettings(
        **vars(config.settings_from_env(environ)),
        batch_size=env.integer("CATALOG_BATCH_SIZE", 500, minimum=1, maximum=10_000),
        idle_seconds=env.seconds("CATALOG_IDLE_SECONDS", 1.0, minimum=0.01, maximum=60),
        reconcile_seconds=env.seconds("CATALOG_RECONCILE_SECONDS", 60.0),
    )


def follow(settings: CatalogSettings) -> None:
    # One connection for the follower, one for the reconcile's thread.
    engine = make_engine(settings.database_url, pool_size=settings.pool_size(Role.DAEMON) + 1)
    follower = catalog_follower(
        engine=engine,
        broker_url=settings.required_broker_url(),
        batch_size=settings.batch_size,
        idle_seconds=settings.idle_seconds,
        liveness_file=settings.liveness_file,
    )
    serve_metrics(settings.metrics_port)
    stop = threading.Event()
    stop_on_signals(stop)  # PID 1 in its container: without a handler SIGTERM is ignored
    if settings.reconcile_seconds:
        inventory = inventory_client(settings)
        threading.Thread(
            target=reconcile_every,
            args=(settings.reconcile_seconds,),
            kwargs={"stop": stop, "differences": lambda: reconcile(engine=engine, inventory=inventory)},
            name="reconcile",
            daemon=True,
        ).start()
    follower.run_forever(stop)
    log.info("catalog follower stopped")


def rebuild(settings: CatalogSettings) -> int:
    engine = make_engine(settings.database_url, pool_size=settings.pool_size(Role.DAEMON))
    with engine.begin() as connection:
        products = empty_copy(connection)
    print(f"catalog copy emptied ({products} products); order-catalog replays the stream from its start")
    return 0


def reconcile_once(settings: CatalogSettings) -> int:
    engine = make_engine(settings.database_url, pool_size=settings.pool_size(Role.DAEMON))
    differences = reconcile(engine=engine, inventory=inventory_client(settings))
    for line in differences:
        print(line)
    print(f"{len(differences)} difference(s) between the catalog copy and the inventory", file=sys.stderr)
    return 1 if differences else 0


COMMANDS = {"follow": follow, "rebuild": rebuild, "reconcile": reconcile_once}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m order_service.catalog_follower")
    parser.add_argument("command", nargs="?", default="follow", choices=sorted(COMMANDS))
    command = parser.parse_args(argv).command
    configure_logging()
    return COMMANDS[command](settings_from_env()) or 0


if __name__ == "__main__":
    sys.exit(main())
