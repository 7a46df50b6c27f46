"""A snapshot of the catalog on demand: `python -m inventory_service.snapshot` (DATABASE_URL;
`make catalog-snapshot` runs it in the inventory-expirer container).

Puts a product.snapshot of every product, removed ones too, at its current version, in the
outbox, which inventory-relay publishes to the `catalog` stream: for a copy that must be
rebuilt now rather than after the expirer's next daily one. Safe to run at any time, as often
as wanted: a consumer that holds a version already changes nothing.
"""

from __future__ import annotations

import logging

from inventory_service import handlers
from inventory_service.config import settings_from_env
from messaging.database import make_engine
from messaging.logs import configure_logging
from messaging.settings import Role

log = logging.getLogger("inventory.snapshot")


def main() -> None:
    configure_logging()
    settings = settings_from_env()
    engine = make_engine(settings.database_url, pool_size=settings.pool_size(Role.DAEMON))
    try:
        products = handlers.publish_snapshot(engine=engine)
    finally:
        engine.dispose()
    log.info("catalog snapshot: %d product(s) in the outbox", products)


if __name__ == "__main__":
    main()
