"""The reservation expirer: `python -m inventory_service.expiry` (DATABASE_URL,
RESERVATION_SWEEP_SECONDS, CATALOG_SNAPSHOT_SECONDS, LIVENESS_FILE, METRICS_PORT).

Every RESERVATION_SWEEP_SECONDS it releases the RESERVED reservations whose hold ran out
(`handlers.expire_reservations`), then writes a snapshot of the catalog when the outbox holds
none from the last CATALOG_SNAPSHOT_SECONDS (`handlers.publish_snapshot`: so at its first
start, and daily), and touches LIVENESS_FILE after each pass that reached the database.
Database errors (down, restarting, migrations not applied yet) are logged and retried with a
growing backoff. It stops on SIGTERM or SIGINT, between two passes (messaging.runloop).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlalchemy.exc import SQLAlchemyError

from inventory_service import handlers
from inventory_service.config import settings_from_env
from messaging.backoff import backoff_seconds
from messaging.database import make_engine
from messaging.logs import configure_logging
from messaging.metrics import RESERVATIONS_EXPIRED, serve_metrics
from messaging.runloop import run_until_stopped, stop_on_signals
from messaging.settings import Role

log = logging.getLogger("inventory.expiry")
MAX_BACKOFF_SECONDS = 30.0
BATCH_SIZE = 100

Sweep = Callable[[], list[str]]
Snapshot = Callable[[], int]  # products snapshotted (0: none was due)


def expire_once(*, sweep: Sweep, interval_seconds: float, snapshot: Snapshot | None = None) -> float:
    """One pass; returns how long to rest before the next."""
    released = sweep()
    if released:
        RESERVATIONS_EXPIRED.inc(len(released))
        log.info("released %d expired reservation(s): %s", len(released), ", ".join(released))
    # Here rather than a process of its own: a check per pass is one index lookup (db.snapshot_due).
    if snapshot is not None and (products := snapshot()):
        log.info("catalog snapshot: %d product(s) in the outbox", products)
    # A full batch means more may be waiting: go again at once.
    return 0.0 if len(released) >= BATCH_SIZE else interval_seconds


def retry_in(failures: int, *, interval_seconds: float) -> float:
    """interval x 2^failures, capped, with jitter so that several expirers spread out."""
    return backoff_seconds(failures, first=interval_seconds, cap=MAX_BACKOFF_SECONDS, spread=0.5)


def run_expirer(
    *,
    sweep: Sweep,
    interval_seconds: float,
    liveness_file: str | None,
    stop: threading.Event,
    snapshot: Snapshot | None = None,
) -> None:
    run_until_stopped(
        lambda: expire_once(sweep=sweep, interval_seconds=interval_seconds, snapshot=snapshot),
        stop=stop,
        transient=(SQLAlchemyError,),
        backoff=lambda failures: retry_in(failures, interval_seconds=interval_seconds),
        liveness_file=liveness_file,
    )
    log.info("expirer stopped")


def main() -> None:
    configure_logging()
    settings = settings_from_env()
    engine = make_engine(settings.database_url, pool_size=settings.pool_size(Role.DAEMON))
    stop = threading.Event()
    stop_on_signals(stop)  # PID 1 in its container: without a handler SIGTERM is ignored
    serve_metrics(settings.metrics_port)
    log.info("expirer started: a pass every %.1fs", settings.reservation_sweep_seconds)
    try:
        run_expirer(
            sweep=lambda: handlers.expire_reservations(engine=engine, limit=BATCH_SIZE),
            snapshot=lambda: handlers.publish_snapshot(
                engine=engine, if_none_for_seconds=settings.catalog_snapshot_seconds
            ),
            interval_seconds=settings.reservation_sweep_seconds,
            liveness_file=settings.liveness_file,
            stop=stop,
        )
    finally:
        engine.dispose()


if __name__ == "__main__":
    main()
